/* Supervision notices (db_notices.h): an enterprise account deleting its
 * gateway or revoking its ingest credential tells the district — a row
 * written in the change's transaction, the audit record beside it, and a live
 * event (type "notice") after the commit.  GET /api/v1/equipment-notices lists them for
 * the scope; POST /api/v1/equipment-notices/{id}/seen marks one seen. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_notices.h"
#include "srv_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

db_status api_equipment_notice_tx(api_req *r, db_conn *c, int64_t enterprise_id, const char *kind,
                                  const char *object, const char *detail, int64_t *notice_id)
{
    *notice_id = 0;
    const api_caller *who = api_req_caller(r);
    /* only what an enterprise does to itself: a district's own change is its own knowledge */
    if (!who || who->kind != API_SCOPE_ENTERPRISE)
        return DB_OK;
    return db_notices_create_tx(c, enterprise_id, kind, object, detail, who->account_id,
                                who->username, notice_id);
}

void api_equipment_notice_publish(int64_t notice_id, int64_t enterprise_id, const char *kind,
                                  const char *object)
{
    if (!notice_id)
        return;
    srv_event e = {
        .type = "notice", .action = kind, .id = notice_id, .enterprise_id = enterprise_id};
    json_t *f = json_pack("{s:s}", "object", object);
    srv_event_publish(&e, f);
    json_decref(f);
}

int api_equipment_notices_list(api_req *r)
{
    const char *open = api_req_query(r, "open");
    const char *lim = api_req_query(r, "limit");
    long limit = lim ? strtol(lim, NULL, 10) : 50;
    if ((open && strcmp(open, "true") != 0 && strcmp(open, "false") != 0) || limit < 1 ||
        limit > 500)
        return api_reply_error(r, API_E_BAD_REQUEST, "open must be true or false, limit 1..500");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st =
        c ? db_notices_list(c, &s, open && strcmp(open, "true") == 0, (int)limit, &out) : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

typedef struct {
    long long id;
    int found;
} seen_ctx;

static db_status seen_tx(api_req *r, db_conn *c, void *arg)
{
    seen_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_notices_seen_tx(c, &s, x->id, api_req_caller(r)->username, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "notice:%lld", x->id);
    return api_audit_tx(r, c, "notice_seen", obj, "ok", "");
}

int api_equipment_notice_seen(api_req *r)
{
    seen_ctx x = {.id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such notice");
    db_status st = api_tx(r, seen_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such notice");
    return api_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)x.id, "seen", 1));
}

void api_equipment_notices_init(void)
{
    db_notices_register();
}
