/* Monthly reports (db_reports.h). */
#include "db_reports.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGION_COLS "r.id, r.level, r.code, r.name"

/* The $3 riskiest enterprises in scope, from source: rows of e (enterprises) and er (grade, r) */
#define TOP_RISKS(source)                                                                          \
    "SELECT coalesce(json_agg(json_build_object('id', x.id, 'code', x.code, 'name', x.name, "      \
    "'street', x.street, 'grade', x.grade, 'r', x.r) ORDER BY x.rank_), '[]'::json)::text FROM "   \
    "(SELECT e.id, e.code, e.name, s.name AS street, er.grade, er.r, row_number() OVER (ORDER BY " \
    "CASE er.grade WHEN 'red' THEN 4 WHEN 'orange' THEN 3 WHEN 'yellow' THEN 2 ELSE 1 END DESC, "  \
    "er.r DESC, e.code) AS rank_ FROM " source " LEFT JOIN regions s ON s.id = e.street_id "       \
    "WHERE " SCOPE_ENT("e") " ORDER BY rank_ LIMIT $3::int) x"

static const db_stmt statements[] = {
    /* $1 month $2 limit */
    {"rep_due",
     "SELECT " REGION_COLS " FROM regions r WHERE NOT EXISTS (SELECT 1 FROM reports p WHERE "
     "p.region_id = r.id AND p.month = $1::date) ORDER BY CASE r.level WHEN 'city' THEN 0 WHEN "
     "'district' THEN 1 ELSE 2 END, r.code LIMIT $2::int"},
    /* $3 code or $4 id */
    {"rep_region",
     "SELECT " REGION_COLS
     " FROM regions r WHERE (r.code = $3 OR r.id = $4::bigint) AND " SCOPE_REGION("r")},
    /* $3 limit */
    {"rep_top_risks",
     TOP_RISKS("enterprise_risk er JOIN enterprises e ON e.id = er.enterprise_id")},
    /* the same at $4 (epoch s): each enterprise's last score before it.  Retention thins older
     * scores to the first of each day and every change of grade (dw_thin_risk_scores): the grade
     * is the one then, the value may be that of earlier the same day */
    {"rep_top_risks_at",
     TOP_RISKS("enterprises e CROSS JOIN LATERAL (SELECT x.grade, x.r FROM risk_scores x "
               "WHERE x.enterprise_id = e.id AND x.computed_at < to_timestamp($4::float8) "
               "ORDER BY x.computed_at DESC, x.id DESC LIMIT 1) er")},
    /* $1 region $2 month $3 account (NULL: schedule) $4 content $5 xlsx (binary).  On demand
     * replaces what is there; the schedule (which chose regions without a report) keeps a
     * report made since it looked and returns no row */
    {"rep_store",
     "INSERT INTO reports (region_id, month, trigger, generated_by, content, xlsx) VALUES "
     "($1::bigint, $2::date, CASE WHEN $3::bigint IS NULL THEN 'schedule' ELSE 'manual' END, "
     "$3::bigint, $4::jsonb, $5::bytea) ON CONFLICT (region_id, month) DO UPDATE SET trigger = "
     "EXCLUDED.trigger, generated_by = EXCLUDED.generated_by, generated_at = now(), content = "
     "EXCLUDED.content, xlsx = EXCLUDED.xlsx WHERE EXCLUDED.trigger = 'manual' RETURNING id"},
    /* $3 region code $4 limit $5 offset */
    {"rep_list",
     "WITH f AS (SELECT p.id, p.month, p.trigger, p.generated_at, p.generated_by, "
     "octet_length(p.xlsx) AS bytes, r.id AS rid, r.code, r.name, r.level FROM reports p JOIN "
     "regions r ON r.id = p.region_id WHERE " SCOPE_REGION(
         "r") " AND ($3::text IS NULL OR "
              "r.code = $3)) SELECT json_build_object('total', (SELECT count(*) FROM f), 'limit', "
              "$4::int, "
              "'offset', $5::int, 'items', coalesce((SELECT json_agg(json_build_object('id', f.id, "
              "'month', to_char(f.month, 'YYYY-MM'), 'region', json_build_object('id', f.rid, "
              "'code', "
              "f.code, 'name', f.name, 'level', f.level), 'trigger', f.trigger, 'generated_at', "
              "f.generated_at, 'generated_by', f.generated_by, 'xlsx_bytes', f.bytes, 'links', "
              "json_build_object('self', '/api/v1/reports/' || f.id, 'xlsx', '/api/v1/reports/' || "
              "f.id "
              "|| '/xlsx')) ORDER BY f.month DESC, f.level, f.code) FROM (SELECT * FROM f ORDER BY "
              "month "
              "DESC, level, code LIMIT $4::int OFFSET $5::int) f), '[]'::json))::text"},
    /* $3 id */
    {"rep_get",
     "SELECT json_build_object('id', p.id, 'month', to_char(p.month, 'YYYY-MM'), 'region', "
     "json_build_object('id', r.id, 'code', r.code, 'name', r.name, 'level', r.level), "
     "'trigger', p.trigger, 'generated_at', p.generated_at, 'generated_by', p.generated_by, "
     "'content', p.content, 'links', json_build_object('xlsx', '/api/v1/reports/' || p.id || "
     "'/xlsx'))::text FROM reports p JOIN regions r ON r.id = p.region_id WHERE p.id = $3::bigint "
     "AND " SCOPE_REGION("r")},
    {"rep_xlsx",
     "SELECT encode(p.xlsx, 'base64'), r.code || '-' || to_char(p.month, 'YYYY-MM') FROM reports "
     "p JOIN regions r ON r.id = p.region_id WHERE p.id = $3::bigint AND " SCOPE_REGION("r")},
};

void db_reports_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static void read_region(PGresult *res, int row, db_report_region *out)
{
    out->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
    snprintf(out->level, sizeof out->level, "%s", PQgetvalue(res, row, 1));
    snprintf(out->code, sizeof out->code, "%s", PQgetvalue(res, row, 2));
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(res, row, 3));
}

db_status db_reports_due(db_conn *c, const char *month, db_report_region *out, size_t max,
                         size_t *n)
{
    char lim[24];
    const char *p[2] = {month, db_i64(lim, (long long)max)};
    db_status st;
    PGresult *res = db_exec(c, "rep_due", 2, p, &st);
    if (!res)
        return st;
    *n = 0;
    for (int i = 0; i < PQntuples(res) && *n < max; i++)
        read_region(res, i, &out[(*n)++]);
    PQclear(res);
    return DB_OK;
}

db_status db_reports_region(db_conn *c, const db_scope *s, const char *code, int64_t id,
                            db_report_region *out, int *found)
{
    char rid[24];
    const char *p[4] = {s->kind, s->id, code, id ? db_i64(rid, id) : NULL};
    PGresult *res = NULL;
    db_status st =
        db_read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, "rep_region", 4, p, &res);
    if (st != DB_OK)
        return st;
    *found = PQntuples(res) == 1;
    if (*found)
        read_region(res, 0, out);
    PQclear(res);
    return DB_OK;
}

db_status db_reports_top_risks(db_conn *c, const db_scope *s, long limit, time_t at, json_t **out)
{
    char lim[24], t[24];
    const char *p[4] = {s->kind, s->id, db_i64(lim, limit), db_i64(t, (long long)at)};
    return at ? db_read_json(c, s, "rep_top_risks_at", 4, p, out)
              : db_read_json(c, s, "rep_top_risks", 3, p, out);
}

db_status db_reports_store(db_conn *c, int64_t region_id, const char *month, int64_t account_id,
                           const json_t *content, const unsigned char *xlsx, size_t xlsx_len,
                           int64_t *id)
{
    char *text = json_dumps(content, JSON_COMPACT);
    if (!text)
        return DB_HARD;
    char rid[24], aid[24];
    const char *p[5] = {db_i64(rid, region_id), month, account_id ? db_i64(aid, account_id) : NULL,
                        text, (const char *)xlsx};
    int lengths[5] = {0, 0, 0, 0, (int)xlsx_len};
    int formats[5] = {0, 0, 0, 0, 1};
    db_status st;
    PGresult *res = db_exec_bin(c, "rep_store", 5, p, lengths, formats, &st);
    free(text);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        if (account_id)
            return DB_HARD;
        *id = 0; /* the schedule's: a report was made meanwhile and stays */
        return DB_OK;
    }
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status db_reports_list(db_conn *c, const db_scope *s, const char *region_code, long limit,
                          long offset, json_t **out)
{
    char lim[24], off[24];
    const char *p[5] = {s->kind, s->id, region_code, db_i64(lim, limit), db_i64(off, offset)};
    return db_read_json(c, s, "rep_list", 5, p, out);
}

db_status db_reports_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char rid[24];
    const char *p[3] = {s->kind, s->id, db_i64(rid, id)};
    return db_read_json(c, s, "rep_get", 3, p, out);
}

db_status db_reports_xlsx(db_conn *c, const db_scope *s, int64_t id, unsigned char **data,
                          size_t *len, char filename[96], int *found)
{
    char rid[24];
    const char *p[3] = {s->kind, s->id, db_i64(rid, id)};
    PGresult *res = NULL;
    db_status st = db_read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, "rep_xlsx", 3, p, &res);
    if (st != DB_OK)
        return st;
    *found = 0;
    if (PQntuples(res) == 1) {
        const char *b64 = PQgetvalue(res, 0, 0);
        size_t l = (size_t)PQgetlength(res, 0, 0), n = 0;
        unsigned char *bytes = malloc(l / 4 * 3 + 3);
        if (bytes && sodium_base642bin(bytes, l / 4 * 3 + 3, b64, l, "\r\n", &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) == 0) {
            *data = bytes;
            *len = n;
            snprintf(filename, 96, "dustwatch-report-%s.xlsx", PQgetvalue(res, 0, 1));
            *found = 1;
        } else {
            free(bytes);
            st = DB_HARD;
        }
    }
    PQclear(res);
    return st;
}
