/* Regions: the city -> district -> street/town/park tree, as far as the
 * caller's scope reaches, and its administration.  City and district
 * administrators create, rename, re-kind, move (the city only: to another
 * district) and disable the streets, towns and parks they manage (the
 * city's all, a district's own) and delete a disabled one that nothing
 * refers to.  Every change is audited in its transaction.
 *
 * Scope stays right while regions change: a caller's scope is a region id,
 * which no change here alters, and the scoped statements read an
 * enterprise's district from the enterprise row, so a moved street's
 * enterprises follow it in the same transaction (the district it left stops
 * seeing them at the commit).  The live-event hubs cache enterprise ->
 * (district, street): a move is broadcast after the commit, and the
 * enterprises_region_moved trigger bumps the epoch every hub checks, for
 * other processes when Redis is down. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_regions.h"
#include "srv_event.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_regions_list(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_regions_tree(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

/* ---- administration ------------------------------------------------------ */

enum { OP_CREATE, OP_UPDATE, OP_DELETE };

typedef struct {
    int op;
    int64_t id; /* the path's region (update, delete); the new one (create) */
    db_region_write w;
    json_t *change; /* the checked body (create, update) */
    json_t *before, *after;
    int found; /* the region is one the caller manages */
    int parent_refused;
    int64_t moved_from;     /* update: the district the street left (0: it did not move) */
    long moved;             /* enterprises that moved with it */
    int not_disabled;       /* delete refused: the region is in use (disable it first) */
    json_int_t enterprises; /* delete refused: this many enterprises are in it */
    db_diag diag;
} region_ctx;

static char *detail_of(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
    json_t *d = json_object();
    if (v1)
        json_object_set(d, k1, v1);
    if (k2 && v2)
        json_object_set(d, k2, v2);
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return s;
}

static db_status region_tx(api_req *r, db_conn *c, void *arg)
{
    region_ctx *x = arg;
    json_decref(x->before);
    json_decref(x->after);
    x->before = x->after = NULL;
    x->found = x->parent_refused = 0;
    x->moved_from = 0;
    x->moved = 0;
    x->not_disabled = 0;
    x->enterprises = 0;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st;
    if (x->op == OP_CREATE) {
        int64_t id = 0;
        st = db_regions_create_tx(c, &s, &x->w, &id, &x->diag);
        if (st != DB_OK)
            return st;
        if (!id) {
            x->parent_refused = 1;
            return DB_OK;
        }
        x->id = id;
    } else {
        st = db_regions_get_tx(c, &s, x->id, &x->before);
        if (st != DB_OK || !x->before)
            return st;
    }
    x->found = 1;
    if (x->op == OP_UPDATE) {
        int updated = 0;
        int64_t old_parent = 0;
        st = db_regions_update_tx(c, &s, x->id, &x->w, &updated, &old_parent, &x->diag);
        if (st != DB_OK)
            return st;
        if (!updated) { /* the new parent, or row-level security refused */
            x->parent_refused = x->w.parent_id > 0;
            x->found = x->parent_refused;
            return DB_OK;
        }
        if (x->w.parent_id > 0 && x->w.parent_id != old_parent) {
            x->moved_from = old_parent;
            st = db_regions_move_enterprises_tx(c, x->id, x->w.parent_id, &x->moved);
            if (st != DB_OK)
                return st;
        }
    } else if (x->op == OP_DELETE) {
        /* refused in plain words: not disabled yet, enterprises still in it */
        x->not_disabled = !json_is_true(json_object_get(x->before, "disabled"));
        x->enterprises = json_integer_value(json_object_get(x->before, "enterprises"));
        if (x->not_disabled || x->enterprises)
            return DB_OK;
        int deleted = 0;
        st = db_regions_delete_tx(c, &s, x->id, &deleted, &x->diag);
        if (st != DB_OK)
            return st;
        if (!deleted) { /* enabled again since the read */
            x->not_disabled = 1;
            return DB_OK;
        }
    }
    if (x->op != OP_DELETE) {
        st = db_regions_get_tx(c, &s, x->id, &x->after);
        if (st != DB_OK)
            return st;
    }
    static const char *const actions[] = {"region_create", "region_update", "region_delete"};
    char obj[48];
    snprintf(obj, sizeof obj, "region:%lld", (long long)x->id);
    char *detail = x->op == OP_CREATE   ? detail_of("created", x->after, NULL, NULL)
                   : x->op == OP_DELETE ? detail_of("deleted", x->before, NULL, NULL)
                                        : detail_of("before", x->before, "change", x->change);
    if (!detail)
        return DB_HARD;
    st = api_audit_tx(r, c, actions[x->op], obj, "ok", detail);
    free(detail);
    return st;
}

static int reply_refused(api_req *r, region_ctx *x, db_status st, const char *action,
                         const char *obj)
{
    if (st != DB_BAD)
        return api_reply_db(r, st);
    const db_diag *d = &x->diag;
    api_audit(r, action, obj, "failed", d->message);
    if (strcmp(d->constraint, "regions_code_key") == 0)
        return api_reply_error(r, API_E_CONFLICT, "a region with code %s exists",
                               x->w.code ? x->w.code : "?");
    if (strcmp(d->constraint, "regions_code_check") == 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "code must be 9 or 12 digits (an administrative-division code)");
    if (strcmp(d->sqlstate, "23503") == 0)
        return api_reply_error(r, API_E_IN_USE,
                               "accounts, reports or other records refer to this region");
    return api_reply_error(r, API_E_UNPROCESSABLE, "%s",
                           d->message[0] ? d->message : "the values break a rule of the table");
}

/* The body's fields into x->w: create needs code, name, kind, parent_id. */
static int parse_body(api_req *r, json_t *body, region_ctx *x)
{
    static const char *const create_fields[] = {"code", "name", "kind", "parent_id"};
    static const char *const update_fields[] = {"name", "kind", "parent_id", "disabled"};
    int create = x->op == OP_CREATE;
    if (api_json_strict(r, body, create ? create_fields : update_fields, 4) != 0)
        return -1;
    x->w.disabled = -1;
    const char *code = NULL, *name = NULL, *kind = NULL;
    if (create) {
        if (api_body_text(r, body, "code", 1, 12, &code))
            return -1;
        size_t n = strlen(code);
        if ((n != 9 && n != 12) || strspn(code, "0123456789") != n)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "code must be 9 or 12 digits (an administrative-division code)"),
                   -1;
        x->w.code = code;
    }
    if (create || json_object_get(body, "name")) {
        if (api_body_text(r, body, "name", 1, 100, &name))
            return -1;
        x->w.name = name;
    }
    if (create || json_object_get(body, "kind")) {
        if (api_body_text(r, body, "kind", 1, 8, &kind))
            return -1;
        if (strcmp(kind, "street") && strcmp(kind, "town") && strcmp(kind, "park"))
            return api_reply_error(r, API_E_BAD_REQUEST, "kind must be street, town or park"), -1;
        x->w.kind = kind;
    }
    json_t *p = json_object_get(body, "parent_id");
    if (create || p) {
        if (!json_is_integer(p) || json_integer_value(p) < 1)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "parent_id must be the id of a district (a positive integer)"),
                   -1;
        x->w.parent_id = (int64_t)json_integer_value(p);
    }
    json_t *d = json_object_get(body, "disabled");
    if (d) {
        if (!json_is_boolean(d))
            return api_reply_error(r, API_E_BAD_REQUEST, "disabled must be true or false"), -1;
        x->w.disabled = json_is_true(d);
    }
    if (!create && json_object_size(body) == 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change"), -1;
    x->change = body;
    return 0;
}

/* After a committed move of a street: every live-event hub drops its cached
 * enterprise regions before it routes anything published after this returns. */
static void broadcast_move(void)
{
    srv_event e = {
        .type = SRV_EVENT_MOVE_TYPE, .action = SRV_EVENT_MOVE_ACTION, .enterprise_id = 0};
    if (srv_event_publish_now(&e, NULL) != 0)
        LOG_WARN("region move not broadcast now; streams catch it within event_stream_check_s",
                 "enterprises=0");
}

static int region_write(api_req *r, int op)
{
    region_ctx x = {.op = op};
    static const char *const actions[] = {"region_create", "region_update", "region_delete"};
    char obj[48] = "region:new";
    if (op != OP_CREATE) {
        long long id = api_parse_id(api_req_param(r, "id"));
        if (id < 0)
            return api_reply_error(r, API_E_NOT_FOUND, "no such region");
        x.id = id;
        snprintf(obj, sizeof obj, "region:%lld", id);
    }
    json_t *body = NULL;
    if (op != OP_DELETE) {
        body = api_req_json(r);
        if (!body)
            return 0;
        if (parse_body(r, body, &x) != 0)
            return 0;
    }
    db_status st = api_tx(r, region_tx, &x);
    int rc;
    if (st != DB_OK) {
        rc = reply_refused(r, &x, st, actions[op], obj);
    } else if (!x.found && op != OP_CREATE) {
        api_audit(r, actions[op], obj, "denied", "not a region the caller manages");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such street, town or park in your scope");
    } else if (x.parent_refused) {
        api_audit(r, actions[op], obj, "denied", "parent not in scope");
        rc = api_reply_error(r, API_E_UNPROCESSABLE, "parent_id must name a district%s",
                             api_req_caller(r)->kind == API_SCOPE_DISTRICT ? " (your own)" : "");
    } else if (op == OP_DELETE && x.not_disabled) {
        api_audit(r, actions[op], obj, "denied", "not disabled");
        rc = api_reply_error(r, API_E_INVALID_TRANSITION,
                             "disable the region before deleting it (PATCH {\"disabled\": true})");
    } else if (op == OP_DELETE && x.enterprises) {
        api_audit(r, actions[op], obj, "denied", "enterprises in the region");
        rc = api_reply_error(r, API_E_IN_USE,
                             "%lld enterprises are in this region: move them to another region "
                             "first (a disabled region keeps them)",
                             (long long)x.enterprises);
    } else if (op == OP_DELETE) {
        rc = api_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)x.id, "deleted", 1));
    } else {
        if (x.moved_from)
            broadcast_move();
        rc = api_reply_json(r, op == OP_CREATE ? 201 : 200, json_incref(x.after));
    }
    json_decref(x.before);
    json_decref(x.after);
    return rc;
}

int api_region_create(api_req *r)
{
    return region_write(r, OP_CREATE);
}

int api_region_update(api_req *r)
{
    return region_write(r, OP_UPDATE);
}

int api_region_delete(api_req *r)
{
    return region_write(r, OP_DELETE);
}

void api_regions_init(void)
{
    db_regions_register();
}
