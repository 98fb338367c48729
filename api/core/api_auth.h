/* Who is calling: sessions (cookie or bearer token) and enterprise REST API
 * keys resolved to a caller, the scope its transactions run under, and the
 * audit trail.  Login, logout and password changes are route handlers
 * (api/resources/sessions.c).
 *
 * A caller is bound to exactly one scope.  Every handler reaches the
 * database through api_tx() or a scoped read (api_db_scope), which set that
 * scope for row-level security; the statements also filter by scope
 * themselves (server/db), so either wall alone keeps tenants apart. */
#ifndef DW_API_AUTH_H
#define DW_API_AUTH_H

#include "api.h"
#include "db.h"

#include <stdint.h>

typedef enum {
    API_SCOPE_CITY,
    API_SCOPE_DISTRICT,
    API_SCOPE_STREET,
    API_SCOPE_ENTERPRISE,
} api_scope_kind;

typedef struct api_caller {
    int64_t account_id; /* 0 for API keys */
    int64_t session_id;
    int64_t api_key_id;
    char username[80];
    char role[32];
    api_scope_kind kind;
    int64_t scope_id; /* region id, or enterprise id for API_SCOPE_ENTERPRISE */
    unsigned role_bit;
    int is_admin; /* city_admin, district_admin, enterprise_manager */
    /* the account's password was set by someone else or is too old: until
     * it is changed only /auth/me, /auth/password and /auth/logout answer */
    int must_change_password;
    /* this request carried its session in the dw_session cookie (not an
     * Authorization or X-Api-Key header): its writes are checked for CSRF */
    int via_cookie;
} api_caller;

/* Resolves the caller from the request's credentials.  0 on success; -1
 * after replying 401 (or 503 when the database is down). */
int api_auth_resolve(api_req *r, api_caller *out);

const char *api_scope_kind_name(api_scope_kind k);

/* "district:12": the dw.scope value of a caller. */
void api_scope_string(const api_caller *c, char *buf, size_t len);

/* The app-level scope filter's parameters: kind and id as text, honouring
 * the test-only switch that disables the filter (RLS must then hold alone). */
void api_scope_params(const api_caller *c, char kind[16], char id[24]);

/* Runs fn in one transaction with the caller's scope set.  Returns the
 * status; on failure other than DB_OK the caller replies api_reply_db(). */
typedef db_status (*api_tx_fn)(api_req *r, db_conn *c, void *arg);
db_status api_tx(api_req *r, api_tx_fn fn, void *arg);
int api_reply_db(api_req *r, db_status st);

/* Appends to the audit log in its own transaction: for failures and
 * denials, which roll back the request's own work. */
void api_audit(api_req *r, const char *action, const char *object, const char *result,
               const char *detail);

/* Appends to the audit log inside the request's transaction (call it from
 * an api_tx callback, last, after the change it records): the change and its
 * record commit or roll back together, and a failed append (DB_HARD, also
 * without a master key) rolls the change back. */
db_status api_audit_tx(api_req *r, db_conn *c, const char *action, const char *object,
                       const char *result, const char *detail);
/* api_audit_tx for a workflow step of object "<kind>:<id>": action "<kind>_<act>", detail
 * {"from", "to", "why"} (why NULL: ""). */
db_status api_audit_move_tx(api_req *r, db_conn *c, const char *kind, const char *id,
                            const char *act, const char *from, const char *to, const char *why);

/* api_db.c: the caller's scope for the db layer's statements, about
 * enterprise_id (decimal; NULL for none, or api_focus_enterprise(r)). */
void api_db_scope(api_req *r, const char *enterprise_id, db_scope *out);

/* api_db.c: for a read, the caller's scope about the route's enterprise
 * (api_focus_enterprise, or for /api/v1/points/{id} routes the enterprise
 * api_focus_learn_point was told) into s, and the connection the read goes to
 * (api_req_read_db: the replica's on a read_replica route while it is fresh):
 * NULL (the 503 already answered) when none could be had. */
db_conn *api_read_db(api_req *r, db_scope *s);

/* api_db.c: the answer to a read: the database error, 404 "no such <what>"
 * when there was no answer (out NULL), or 200 with out; out is stolen on every path. */
int api_reply_read(api_req *r, db_status st, json_t *out, const char *what);

/* api_db.c: a read of the object the path's {id} names: 404 "no such <what>"
 * for a malformed id, else fn under the caller's scope (api_read_db),
 * answered as api_reply_read does. */
typedef db_status (*api_read_id_fn)(db_conn *c, const db_scope *s, int64_t id, json_t **out);
int api_read_by_id(api_req *r, const char *what, api_read_id_fn fn);

/* api_db.c: routes under /api/v1/enterprises/{id} name their enterprise for
 * row-level security's fast arm (migration 0013); NULL for other routes. */
const char *api_focus_enterprise(api_req *r);

/* api_db.c: point belongs to enterprise (as the database answered): later
 * reads about the point name it for that fast arm (api_read_db). */
void api_focus_learn_point(long long point, long long enterprise);

/* Parses a positive 63-bit id from a path parameter; -1 if malformed. */
long long api_parse_id(const char *s);

/* Registers the statements of caller resolution and the audit trail. */
void api_auth_init(void);
/* Drops every cached session and key resolution: after anything that revokes
 * one (logout, password change, key revocation, account changes). */
void api_auth_forget_all(void);
/* Counts api_auth_forget_all() calls: the live-event streams re-check their
 * credentials when it moves. */
unsigned long api_auth_generation(void);

#endif
