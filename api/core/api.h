/* The REST API: a libmicrohttpd daemon with an internal thread pool.
 *
 * Every request gets one api_req, created at the first access-handler call
 * and destroyed in the request-completed callback: that is the single cleanup
 * point for its body buffer, parsed JSON, path parameters, session and the
 * database connection it borrowed from the pool.  Handlers run on MHD pool
 * threads and may block on PostgreSQL (each holds at most one pooled
 * connection); they never block an event loop. */
#ifndef DW_API_H
#define DW_API_H

#include "api_errors.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct db_pool;
struct db_replica;
struct db_conn;

typedef struct api_req api_req;
typedef int (*api_handler)(api_req *r);

/* Role bits a route admits; API_PUBLIC needs no login. */
enum {
    API_PUBLIC = 0,
    API_CITY = 1 << 0,
    API_DISTRICT = 1 << 1,
    API_STREET = 1 << 2,
    API_ENTERPRISE = 1 << 3,
    API_ANY_USER = API_CITY | API_DISTRICT | API_STREET | API_ENTERPRISE,
    /* with role bits: only the administrators of those roles (city_admin,
     * district_admin, enterprise_manager); checked before any object lookup
     * so a refusal says nothing about the object */
    API_ADMIN_ONLY = 1 << 8,
    /* answers while the caller must change the password (an admin set it,
     * or it is older than password_max_age_days); every other route refuses
     * with 403 until it is changed */
    API_BEFORE_PW_CHANGE = 1 << 9,
    /* a GET whose answer may be up to db_read_max_lag_ms old (statistics,
     * reports, series): api_read_db serves it from database_read_url's replica
     * when one is configured and fresh; never a route whose answer someone
     * acts on at once, nor one that writes */
    API_READ_REPLICA = 1 << 10,
};

typedef struct api_route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/enterprises/{id}": {name} matches one segment */
    /* the OpenAPI operationId ("listRegions"): schema/openapi_build.py
     * documents the route under this key and fails on a route without one */
    const char *operation_id;
    api_handler handler;
    unsigned roles;  /* API_PUBLIC or a mask of the role bits and flags */
    size_t max_body; /* 0: no body accepted */
} api_route;

/* The table the daemon dispatches by (given to api_start; api/routes.c). */
const api_route *api_route_table(size_t *n);

/* A table (n routes, borrowed) as the JSON GET /api/v1/routes and
 * `dustwatch routes --json` answer: {"items": [{method, path, operation_id,
 * public, admin_only, before_password_change, read_replica, roles, max_body}]}.  New
 * reference. */
json_t *api_route_table_json(const api_route *table, size_t n);
/* The names of what a route's roles mask holds, in this order: the roles
 * ("city", "district", "street", "enterprise") and, with flags, the flags
 * ("admin_only", "before_pw_change", "read_replica").  Returns how many (at most 7). */
size_t api_route_role_names(unsigned roles, int flags, const char *names[7]);

/* Counts successful writes (any method but GET) through this process, so
 * caches of derived answers can tell that they may be out of date. */
unsigned long api_write_generation(void);
/* When the last of those made with r's session or API key ended (epoch s, wall clock; 0:
 * none, or r has no credential), for answers that may be a little old but must show the
 * caller's own writes (statistics snapshots).  Approximate upwards: credentials share slots. */
int64_t api_caller_last_write_s(const api_req *r);

/* Daemon lifecycle (api_server.c).  table (n routes) is borrowed for the
 * daemon's lifetime. */
int api_start(struct db_pool *pool, const api_route *table, size_t n);
/* The replica API_READ_REPLICA routes read from (borrowed until api_stop;
 * NULL: none).  Call before api_start. */
void api_set_read_replica(struct db_replica *rp);
void api_stop_accepting(void);
int api_in_flight(void);
void api_stop(void);

/* For handlers.  Strings returned are owned by the request. */
uint64_t api_req_id(const api_req *r);
const char *api_req_param(const api_req *r, const char *name);
/* The matched route's pattern ("/api/v1/enterprises/{id}"), "" before routing. */
const char *api_req_pattern(const api_req *r);
const char *api_req_query(api_req *r, const char *name);
const char *api_req_header(api_req *r, const char *name);
const char *api_req_peer(const api_req *r);
/* The body parsed strictly as one JSON object (borrowed); NULL after
 * replying 400 itself. */
json_t *api_req_json(api_req *r);
/* Its pure step (the fuzz harness calls it): body parsed strictly as one JSON
 * object (nesting at most 32, no duplicate keys), a new reference, or NULL
 * with the reason in why. */
json_t *api_json_parse_object(const char *body, size_t len, char *why, size_t whylen);
/* A pooled connection for the rest of the request, NULL after replying 503. */
struct db_conn *api_req_db(api_req *r);
/* The connection a read of this request goes to: the replica's on an
 * API_READ_REPLICA route while the replica is fresh, else api_req_db's.
 * Owned by the request; NULL (error answered) as for api_req_db. */
struct db_conn *api_req_read_db(api_req *r);
/* A second pooled connection for a read that runs two statements at once (the statistics),
 * when the request's reads go to api_req_db's connection (taken already) and one is free now:
 * NULL otherwise, without answering (the read then runs on one).  Owned by the request. */
struct db_conn *api_req_spare_db(api_req *r);
/* Gives it back to the pool before the request ends (other requests may be waiting). */
void api_req_release_spare_db(api_req *r);
/* After a read on the replica's connection failed (the server gone, a
 * recovery conflict): marks the replica down and arranges for the handler to
 * run again on the primary; 1 when so (the caller must not answer), 0 when
 * the request did not read the replica. */
int api_req_read_failed(api_req *r);

/* Cookie value by name (owned by the request), or NULL. */
const char *api_req_cookie(api_req *r, const char *name);
/* 1 once a reply was queued. */
int api_req_replied(const api_req *r);
/* The authenticated caller (routes other than API_PUBLIC always have one). */
const struct api_caller *api_req_caller(const api_req *r);
/* After a successful login, so the audit record names the account. */
void api_req_set_caller_account(api_req *r, int64_t account_id, const char *username);
/* Rejects any key of body not in allowed (replies 400 unknown_field). */
int api_json_strict(api_req *r, json_t *body, const char *const *allowed, size_t n);

/* Replies.  api_reply_json steals body.  Each returns 0 so handlers can
 * `return api_reply_...`. */
int api_reply_json(api_req *r, int status, json_t *body);
int api_reply_error(api_req *r, api_error e, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* api_reply_error with the fields of extra (stolen; may be NULL) after
 * code, hint and detail, for errors whose body lists more facts than detail
 * can (import_refused: the refused rows).  Keys of extra named code, hint or
 * detail are ignored. */
int api_reply_error_with(api_req *r, api_error e, json_t *extra, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* 200 with JSON already serialised (compact): text (malloc'd) of len bytes is taken over;
 * the same ETag and caching headers as api_reply_json. */
int api_reply_json_text(api_req *r, char *text, size_t len);
void api_reply_add_header(api_req *r, const char *name, const char *value);
/* Any body; copies it. */
int api_reply_raw(api_req *r, int status, const char *content_type, const char *body, size_t len);
/* The raw request body (owned by the request) and its length. */
const char *api_req_body(const api_req *r, size_t *len);

#endif
