/* Notifications: outbox lease and delivery log, subscriptions, duty roster (db_notify.h). */
#include "db_notify.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_JSON(s)                                                                                \
    "json_build_object('id', " s ".id, 'name', " s ".name, 'scope_kind', " s ".scope_kind, "       \
    "'scope_id', " s ".scope_id, 'channel', " s ".channel, 'url', " s ".url, 'phone', " s          \
    ".phone, 'to_duty', " s ".to_duty, 'to_watch', " s ".to_watch, 'events', " s                   \
    ".events, 'levels', " s ".levels, "                                                            \
    "'enabled', " s ".enabled, 'created_by', " s ".created_by, 'created_at', " s ".created_at)"

/* subscriptions the scope ($1 kind, $2 id) owns, as RLS has it */
#define SUB_VISIBLE(s) "($1 = 'city' OR (" s ".scope_kind = $1 AND " s ".scope_id = $2::bigint))"

static const db_stmt statements[] = {
    {"ntf_lease",
     "UPDATE notification_outbox o SET next_attempt_at = now() + $2::float8 * interval '1 "
     "second', attempts = attempts + 1 FROM webhook_subscriptions s WHERE s.id = "
     "o.subscription_id AND o.id IN (SELECT id FROM notification_outbox WHERE delivered_at IS "
     "NULL AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE "
     "SKIP LOCKED) RETURNING o.id, o.enterprise_id, o.attempts, o.channel, o.target, "
     "encode(s.secret, 'hex'), o.payload::text, o.dedup_key"},
    /* $1 share of the period left: cleaning areas due (migration 0052) */
    {"ntf_cleaning_due", "SELECT dw_cleaning_due_notify($1::float8)"},
    {"ntf_filings", "SELECT dw_filing_notify_pass()"},
    /* $1 outbox $2 enterprise $3 attempt $4 sent $5 status $6 detail $7 ms $8 retry base */
    {"ntf_result",
     "WITH d AS (INSERT INTO notification_deliveries (outbox_id, enterprise_id, attempt, "
     "result, http_status, detail, duration_ms) VALUES ($1::bigint, $2::bigint, $3::int, CASE "
     "WHEN $4::boolean THEN 'sent' ELSE 'failed' END, nullif($5::int, 0), left($6, 300), "
     "$7::int)) UPDATE notification_outbox SET delivered_at = CASE WHEN $4::boolean THEN now() "
     "END, last_error = CASE WHEN $4::boolean THEN '' ELSE left($6, 300) END, next_attempt_at "
     "= CASE WHEN $4::boolean THEN next_attempt_at ELSE now() + least(3600, $8::float8 * "
     "power(2, least(greatest(attempts - 1, 0), 10))) * interval '1 second' END WHERE id = "
     "$1::bigint"},
    {"ntf_subs", "SELECT json_build_object('items', coalesce(json_agg(" SUB_JSON(
                     "s") " ORDER BY s.id), '[]'::json))::text FROM webhook_subscriptions s WHERE "
                          "" SUB_VISIBLE("s")},
    {"ntf_sub_create",
     "INSERT INTO webhook_subscriptions (scope_kind, scope_id, name, channel, url, phone, "
     "to_duty, events, levels, secret, created_by, to_watch) SELECT $1, $2::bigint, $3, $4, $5, "
     "$6, $7::boolean, $8::text[], $9::text[], decode($10, 'hex'), $11, $12::boolean WHERE "
     "CASE $1 WHEN "
     "'enterprise' THEN EXISTS (SELECT 1 FROM enterprises WHERE id = $2::bigint) ELSE EXISTS "
     "(SELECT 1 FROM regions WHERE id = $2::bigint AND level = $1) END RETURNING id"},
    /* $1 $2 scope $3 id $4 enabled $5 events $6 levels $7 name */
    {"ntf_sub_update",
     "UPDATE webhook_subscriptions s SET enabled = coalesce($4::boolean, enabled), events = "
     "coalesce($5::text[], events), levels = coalesce($6::text[], levels), name = "
     "coalesce($7, name) WHERE s.id = $3::bigint AND " SUB_VISIBLE("s") " RETURNING s.id"},
    {"ntf_sub_used",
     "SELECT EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.id = $3::bigint AND "
     "" SUB_VISIBLE("s") ")::int, EXISTS (SELECT 1 FROM notification_outbox WHERE "
                         "subscription_id = $3::bigint)::int"},
    {"ntf_sub_delete",
     "DELETE FROM webhook_subscriptions s WHERE s.id = $3::bigint AND " SUB_VISIBLE(
         "s") " RETURNING s.id"},
    /* $3 subscription (0 all) $4 limit */
    {"ntf_deliveries",
     "SELECT json_build_object('items', coalesce(json_agg(x ORDER BY x.id DESC), "
     "'[]'::json))::text FROM (SELECT o.id, o.subscription_id, o.dedup_key, o.event, "
     "o.channel, o.target, o.enterprise_id, o.account_id, o.read_at, CASE WHEN o.read_at IS NOT "
     "NULL THEN 'read' WHEN o.delivered_at IS NOT NULL THEN 'sent' "
     "WHEN o.attempts = 0 THEN 'pending' WHEN o.attempts >= 10 THEN 'failed' ELSE 'retrying' "
     "END AS status, o.attempts, o.created_at, o.delivered_at, o.last_error, "
     "o.next_attempt_at, coalesce((SELECT json_agg(json_build_object('attempt', d.attempt, "
     "'at', d.at, 'result', d.result, 'http_status', d.http_status, 'detail', d.detail, "
     "'duration_ms', d.duration_ms) ORDER BY d.id) FROM notification_deliveries d WHERE "
     "d.outbox_id = o.id), '[]'::json) AS deliveries FROM notification_outbox o JOIN "
     "webhook_subscriptions s ON s.id = o.subscription_id JOIN enterprises e ON e.id = "
     "o.enterprise_id WHERE " SUB_VISIBLE("s") " AND " SCOPE_ENT(
         "e") " AND ($3::bigint = 0 OR o.subscription_id = $3::bigint) ORDER BY o.id DESC "
              "LIMIT $4::int) x"},
    {"ntf_roster",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND "
     "" SCOPE_ENT("e") ") THEN json_build_object('enterprise_id', $3::bigint, 'items', "
                       "coalesce((SELECT json_agg(json_build_object('id', r.id, 'system_id', "
                       "r.system_id, 'name', r.name, 'phone', r.phone, 'duty', r.duty, "
                       "'active', r.active) ORDER BY r.id) FROM duty_roster r WHERE "
                       "r.enterprise_id = $3::bigint), '[]'::json)) END::text"},
    {"ntf_roster_add",
     "INSERT INTO duty_roster (enterprise_id, system_id, name, phone, duty) SELECT e.id, "
     "nullif($2::bigint, 0), $3, $4, $5 FROM enterprises e WHERE e.id = $1::bigint AND "
     "($2::bigint = 0 OR EXISTS (SELECT 1 FROM dust_systems ds WHERE ds.id = $2::bigint AND "
     "ds.enterprise_id = e.id)) RETURNING id"},
    /* migration 0118: the inbox of $1 account ($2 limit), opening $2 message, SMS reports */
    {"ntf_inbox", "SELECT dw_inbox($1::bigint, $2::int)::text"},
    {"ntf_inbox_read", "SELECT dw_inbox_read($1::bigint, $2::bigint)::int"},
    {"ntf_sms_report", "SELECT dw_sms_report($1, $2, $3)"},
    {"ntf_roster_delete",
     "DELETE FROM duty_roster r USING enterprises e WHERE r.id = $3::bigint AND e.id = "
     "r.enterprise_id AND " SCOPE_ENT("e") " RETURNING r.id"},
};

void db_notify_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

void db_notify_free(db_notify_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].channel);
    free(rows);
}

db_status db_notify_lease(db_conn *c, int limit, long lease_s, db_notify_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    char lim[24], lease[24];
    const char *p[2] = {db_i64(lim, limit), db_i64(lease, lease_s)};
    db_status st;
    PGresult *r = db_exec(c, "ntf_lease", 2, p, &st);
    if (!r)
        return st;
    int nr = PQntuples(r);
    db_notify_row *out = calloc(nr ? (size_t)nr : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < nr; i++) {
        /* channel, target, secret, payload, dedup key: columns 3..7, one block */
        size_t len[5], total = 0;
        for (int k = 0; k < 5; k++)
            total += (len[k] = (size_t)PQgetlength(r, i, k + 3)) + 1;
        char *block = malloc(total);
        if (!block) {
            db_notify_free(out, (size_t)i);
            PQclear(r);
            return DB_HARD;
        }
        char *dst[5];
        size_t off = 0;
        for (int k = 0; k < 5; k++) {
            dst[k] = block + off;
            memcpy(dst[k], PQgetvalue(r, i, k + 3), len[k] + 1);
            off += len[k] + 1;
        }
        out[i] = (db_notify_row){
            .id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
            .enterprise_id = strtoll(PQgetvalue(r, i, 1), NULL, 10),
            .attempts = strtol(PQgetvalue(r, i, 2), NULL, 10),
            .channel = dst[0],
            .target = dst[1],
            .secret_hex = dst[2],
            .payload = dst[3],
            .dedup_key = dst[4],
        };
    }
    PQclear(r);
    *rows = out;
    *n = (size_t)nr;
    return DB_OK;
}

db_status db_notify_result(db_conn *c, const db_notify_row *row, int sent, int http_status,
                           const char *detail, long duration_ms, long retry_base_s)
{
    char id[24], eid[24], att[24], hs[24], ms[24], base[24];
    const char *p[8] = {db_i64(id, row->id),        db_i64(eid, row->enterprise_id),
                        db_i64(att, row->attempts), sent ? "true" : "false",
                        db_i64(hs, http_status),    detail ? detail : "",
                        db_i64(ms, duration_ms),    db_i64(base, retry_base_s)};
    db_status st;
    PGresult *r = db_exec(c, "ntf_result", 8, p, &st);
    if (!r)
        return st;
    PQclear(r);
    return DB_OK;
}

db_status db_notify_cleaning_due(db_conn *c, double share, long *n)
{
    char sh[40];
    snprintf(sh, sizeof sh, "%.6f", share);
    const char *p[1] = {sh};
    db_status st;
    *n = 0;
    PGresult *r = db_exec(c, "ntf_cleaning_due", 1, p, &st);
    if (!r)
        return st;
    *n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return DB_OK;
}

db_status db_notify_filings(db_conn *c, long *n)
{
    db_status st;
    *n = 0;
    PGresult *r = db_exec(c, "ntf_filings", 0, NULL, &st);
    if (!r)
        return st;
    *n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return DB_OK;
}

db_status db_notify_subs_list(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "ntf_subs", 2, p, out);
}

static db_status returning_id(db_conn *c, const char *stmt, int np, const char *const *p,
                              int64_t *id)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, np, p, &st);
    if (!r)
        return st;
    *id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_notify_sub_create(db_conn *c, const db_notify_sub *sub, int64_t *id)
{
    *id = 0;
    char sid[24];
    char *ev = db_text_array(sub->events, sub->n_events);
    char *lv = db_text_array(sub->levels, sub->n_levels);
    db_status st = DB_HARD;
    if (ev && lv) {
        const char *p[12] = {sub->scope_kind,
                             db_i64(sid, sub->scope_id),
                             sub->name,
                             sub->channel,
                             sub->url,
                             sub->phone,
                             sub->to_duty ? "true" : "false",
                             ev,
                             lv,
                             sub->secret_hex,
                             sub->created_by,
                             sub->to_watch ? "true" : "false"};
        st = returning_id(c, "ntf_sub_create", 12, p, id);
    }
    free(ev);
    free(lv);
    return st;
}

db_status db_notify_sub_update(db_conn *c, const db_scope *s, int64_t id, int enabled,
                               const char *const *events, size_t n_events,
                               const char *const *levels, size_t n_levels, const char *name,
                               int *found)
{
    *found = 0;
    char b[24];
    char *ev = events ? db_text_array(events, n_events) : NULL;
    char *lv = levels ? db_text_array(levels, n_levels) : NULL;
    db_status st = DB_HARD;
    if ((!events || ev) && (!levels || lv)) {
        const char *p[7] = {s->kind, s->id, db_i64(b, id), db_tristate(enabled), ev, lv, name};
        int64_t got = 0;
        st = returning_id(c, "ntf_sub_update", 7, p, &got);
        *found = got != 0;
    }
    free(ev);
    free(lv);
    return st;
}

db_status db_notify_sub_delete(db_conn *c, const db_scope *s, int64_t id, int *found, int *in_use)
{
    char b[24];
    const char *p[3] = {s->kind, s->id, db_i64(b, id)};
    db_status st;
    PGresult *r = db_exec(c, "ntf_sub_used", 3, p, &st);
    if (!r)
        return st;
    *found = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    *in_use = strcmp(PQgetvalue(r, 0, 1), "1") == 0;
    PQclear(r);
    if (!*found || *in_use)
        return DB_OK;
    int64_t got = 0;
    st = returning_id(c, "ntf_sub_delete", 3, p, &got);
    *found = got != 0;
    return st;
}

db_status db_notify_deliveries(db_conn *c, const db_scope *s, int64_t subscription, long limit,
                               json_t **out)
{
    char a[24], b[24];
    const char *p[4] = {s->kind, s->id, db_i64(a, subscription), db_i64(b, limit)};
    return db_read_json(c, s, "ntf_deliveries", 4, p, out);
}

db_status db_notify_roster_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char a[24];
    const char *p[3] = {s->kind, s->id, db_i64(a, enterprise_id)};
    return db_read_json(c, s, "ntf_roster", 3, p, out);
}

db_status db_notify_roster_add(db_conn *c, int64_t enterprise_id, int64_t system_id,
                               const char *name, const char *phone, const char *duty, int64_t *id)
{
    char a[24], b[24];
    const char *p[5] = {db_i64(a, enterprise_id), db_i64(b, system_id), name, phone, duty};
    *id = 0;
    return returning_id(c, "ntf_roster_add", 5, p, id);
}

db_status db_notify_roster_delete(db_conn *c, const db_scope *s, int64_t id, int *found)
{
    char b[24];
    const char *p[3] = {s->kind, s->id, db_i64(b, id)};
    int64_t got = 0;
    db_status st = returning_id(c, "ntf_roster_delete", 3, p, &got);
    *found = got != 0;
    return st;
}

db_status db_notify_inbox(db_conn *c, int64_t account_id, long limit, json_t **out)
{
    *out = NULL;
    char a[24], b[24];
    const char *p[2] = {db_i64(a, account_id), db_i64(b, limit)};
    db_status st;
    PGresult *r = db_exec(c, "ntf_inbox", 2, p, &st);
    if (!r)
        return st;
    *out = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    return *out ? DB_OK : DB_HARD;
}

db_status db_notify_inbox_read(db_conn *c, int64_t account_id, int64_t id, int *found)
{
    *found = 0;
    char a[24], b[24];
    const char *p[2] = {db_i64(a, account_id), db_i64(b, id)};
    db_status st;
    PGresult *r = db_exec(c, "ntf_inbox_read", 2, p, &st);
    if (!r)
        return st;
    *found = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    PQclear(r);
    return DB_OK;
}

typedef struct {
    const char *ref, *status, *note;
    long n;
} report_ctx;

static db_status report_tx(db_conn *c, void *arg)
{
    report_ctx *x = arg;
    const char *p[3] = {x->ref, x->status, x->note};
    db_status st;
    PGresult *r = db_exec(c, "ntf_sms_report", 3, p, &st);
    if (!r)
        return st;
    x->n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return DB_OK;
}

db_status db_notify_sms_report(db_conn *c, const char *ref, const char *status, const char *note,
                               long *n)
{
    report_ctx x = {ref, status, note ? note : "", 0};
    db_status st = db_run_tx(c, NULL, report_tx, &x);
    *n = x.n;
    return st;
}
