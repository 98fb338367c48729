#include "db_ingest.h"

#include "db_internal.h"
#include "srv_cred.h"
#include "srv_log.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const db_stmt statements[] = {
    {"ing_cred_api",
     "SELECT c.enterprise_id, e.code FROM ingest_credentials c JOIN enterprises e ON e.id = "
     "c.enterprise_id WHERE c.kind = 'api_key' AND c.key_hash = $1::bytea AND c.revoked_at IS "
     "NULL"},
    {"ing_cred_hebei",
     "SELECT c.enterprise_id, e.code, encode(c.des_key, 'hex'), encode(c.sealed_keys, 'hex') "
     "FROM ingest_credentials c JOIN enterprises e ON e.id = c.enterprise_id WHERE e.code = $1 "
     "AND c.kind = 'hebei_des' AND c.revoked_at IS NULL"},
    {"ing_cred_mem",
     "SELECT c.enterprise_id, e.code, c.appsecret_hash = $2::bytea, encode(c.sm4_key, 'hex'), "
     "encode(c.sm4_iv, 'hex'), encode(c.sealed_keys, 'hex') FROM ingest_credentials c JOIN "
     "enterprises e ON e.id = c.enterprise_id WHERE c.appid = $1 AND c.kind = 'mem_sm4' AND "
     "c.revoked_at IS NULL"},
    {"ing_points",
     "SELECT code, id, enterprise_id, range_min, range_max, enabled FROM points WHERE code = "
     "ANY($1::text[]) ORDER BY code COLLATE \"C\""},
    {"ing_idem_claim",
     "INSERT INTO ingest_batches (enterprise_id, idem_key, request_hash) VALUES ($1, $2, "
     "$3::bytea) ON CONFLICT (enterprise_id, idem_key) DO UPDATE SET request_hash = "
     "EXCLUDED.request_hash, status = NULL, response = NULL, created_at = now(), expires_at = "
     "now() + interval '72 hours' WHERE ingest_batches.expires_at < now() RETURNING 1"},
    {"ing_idem_get",
     "SELECT request_hash = $3::bytea, status, response FROM ingest_batches WHERE enterprise_id "
     "= $1 AND idem_key = $2"},
    {"ing_idem_store",
     "UPDATE ingest_batches SET status = $3, response = $4 WHERE enterprise_id = $1 AND idem_key "
     "= $2"},
    {"ing_insert_readings",
     /* no RETURNING: the count comes from the command tag, and RETURNING
      * would also run the SELECT policy on every row */
     "INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) SELECT u.p, "
     "timestamptz 'epoch' + u.t * interval '1 microsecond', u.v, u.q, $5 FROM "
     "unnest($1::bigint[], $2::bigint[], $3::float8[], $4::int2[]) AS u(p, t, v, q) ON CONFLICT "
     "DO NOTHING"},
    {"ing_latest",
     "INSERT INTO point_latest (point_id, enterprise_id, collected_at, value, quality) SELECT "
     "DISTINCT ON (u.p) u.p, $5, timestamptz 'epoch' + u.t * interval '1 microsecond', u.v, u.q "
     "FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::int2[]) AS u(p, t, v, q) ORDER "
     "BY u.p, u.t DESC ON CONFLICT (point_id) DO UPDATE SET collected_at = "
     "EXCLUDED.collected_at, value = EXCLUDED.value, quality = EXCLUDED.quality, received_at = "
     "now() WHERE point_latest.collected_at < EXCLUDED.collected_at"},
    {"ing_insert_events",
     "WITH ins AS (INSERT INTO gateway_events (enterprise_id, point_id, occurred_at, level, "
     "value, threshold, content, source) SELECT $1, u.p, timestamptz 'epoch' + u.t * interval "
     "'1 microsecond', u.l, u.v, u.th, coalesce(u.c, ''), $8 FROM unnest($2::bigint[], "
     "$3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::text[]) AS u(p, t, l, v, th, c) "
     "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins"},
    {"ing_gateways_seen",
     /* $1 enterprise ids, $2 gateway codes (NULL: none named), pairwise.  A
      * named code updates that gateway if it is the enterprise's; no code
      * updates the enterprise's gateway when it has exactly one.  Rows are
      * locked in id order and only when at least a second behind, so
      * writers neither deadlock on nor queue for a busy gateway's row. */
     "WITH s AS (SELECT DISTINCT u.e, u.c FROM unnest($1::bigint[], $2::text[]) AS u(e, c)), "
     "hit AS (SELECT g.id FROM gateways g JOIN s ON g.enterprise_id = s.e WHERE g.code = s.c OR "
     "(s.c IS NULL AND NOT EXISTS (SELECT 1 FROM gateways o WHERE o.enterprise_id = s.e AND o.id "
     "<> g.id))), lk AS (SELECT g.id FROM gateways g WHERE g.id IN (SELECT id FROM hit) AND "
     "(g.last_seen_at IS NULL OR g.last_seen_at < now() - interval '1 second') ORDER BY g.id FOR "
     "UPDATE OF g) UPDATE gateways g SET last_seen_at = GREATEST(g.last_seen_at, now()) FROM lk "
     "WHERE g.id = lk.id"},
    {"ing_insert_video",
     "INSERT INTO video_alarms (enterprise_id, camera_code, occurred_at, alarm_type, content, "
     "image, source) VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 "
     "microsecond', $4, coalesce($5, ''), $6::bytea, $7) ON CONFLICT DO NOTHING RETURNING 1"},
};

void db_ingest_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* ---- array literals ---------------------------------------------------- */

/* Why text array literals rather than binary arrays: one literal per column
 * keeps a batch of 50000 items to one statement with six parameters. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_free_all(sbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(b[i].p);
}

static int sb_any_oom(const sbuf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i].oom)
            return 1;
    return 0;
}

/* ---- credentials ------------------------------------------------------- */

static int hex_to_bin(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

static void cred_identity(const PGresult *r, db_ingest_cred *out)
{
    out->enterprise_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(out->enterprise_code, sizeof out->enterprise_code, "%s", PQgetvalue(r, 0, 1));
}

/* Runs a credential look-up: *found when it gave one row and keys (NULL for
 * none) read the dialect's own columns of it into *out (0 / -1); then the
 * identity is filled in too.  *out is zeroed first. */
static db_status cred_lookup(db_conn *c, const char *stmt, int nparams, const char *const *p,
                             int (*keys)(const PGresult *r, db_ingest_cred *out),
                             db_ingest_cred *out, int *found)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, nparams, p, &st);
    if (!r)
        return st;
    memset(out, 0, sizeof *out);
    *found = PQntuples(r) == 1 && (keys == NULL || keys(r, out) == 0);
    if (*found)
        cred_identity(r, out);
    PQclear(r);
    return DB_OK;
}

db_status db_ingest_cred_api(db_conn *c, const unsigned char key_hash[32], db_ingest_cred *out,
                             int *found)
{
    char hex[70];
    const char *p[1] = {db_bytea_hex(hex, key_hash, 32)};
    return cred_lookup(c, "ing_cred_api", 1, p, NULL, out, found);
}

/* The keys of a credential sealed with the master key (migration 0033;
 * server/core/srv_cred.h) into out (n bytes); -1 when they do not open. */
static int unseal_keys(srv_cred_kind kind, const char *hex, unsigned char *out, size_t n)
{
    unsigned char box[SRV_CRED_SEALED_MAX];
    size_t len = 0;
    if (sodium_hex2bin(box, sizeof box, hex, strlen(hex), NULL, &len, NULL) != 0)
        return -1;
    if (srv_cred_unseal(kind, box, len, out, n) != 0) {
        LOG_ERROR("stored gateway key does not open", "kind=%s hint=%s", srv_cred_kind_name(kind),
                  "another master_key_file than the one that sealed it?");
        return -1;
    }
    return 0;
}

static int hebei_keys(const PGresult *r, db_ingest_cred *out)
{
    if (!PQgetisnull(r, 0, 3))
        return unseal_keys(SRV_CRED_HEBEI_DES, PQgetvalue(r, 0, 3), out->key, 8);
    /* not sealed yet (serve seals such rows at start) */
    return hex_to_bin(PQgetvalue(r, 0, 2), out->key, 8);
}

db_status db_ingest_cred_hebei(db_conn *c, const char *qybm, db_ingest_cred *out, int *found)
{
    const char *p[1] = {qybm};
    return cred_lookup(c, "ing_cred_hebei", 1, p, hebei_keys, out, found);
}

static int mem_keys(const PGresult *r, db_ingest_cred *out)
{
    if (!PQgetisnull(r, 0, 5)) {
        unsigned char keys[32];
        if (unseal_keys(SRV_CRED_MEM_SM4, PQgetvalue(r, 0, 5), keys, sizeof keys) != 0)
            return -1;
        memcpy(out->key, keys, 16);
        memcpy(out->iv, keys + 16, 16);
        sodium_memzero(keys, sizeof keys);
    } else if (hex_to_bin(PQgetvalue(r, 0, 3), out->key, 16) != 0 ||
               hex_to_bin(PQgetvalue(r, 0, 4), out->iv, 16) != 0) {
        return -1;
    }
    out->secret_ok = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    return 0;
}

db_status db_ingest_cred_mem(db_conn *c, const char *appid, const unsigned char secret_hash[32],
                             db_ingest_cred *out, int *found)
{
    char hex[70];
    const char *p[2] = {appid, db_bytea_hex(hex, secret_hash, 32)};
    return cred_lookup(c, "ing_cred_mem", 2, p, mem_keys, out, found);
}

/* ---- points and partitions --------------------------------------------- */

struct db_ingest_points {
    PGresult *res; /* backs the codes */
    db_ingest_point *rows;
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_point(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const db_ingest_point *)elem)->code);
}

db_status db_ingest_points_resolve(db_conn *c, const char *const *codes, size_t n,
                                   db_ingest_points **out)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return DB_HARD;
    memcpy(sorted, codes, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        if (!distinct || strcmp(sorted[i], sorted[distinct - 1]) != 0)
            sorted[distinct++] = sorted[i];
    char *arr = db_text_array(sorted, distinct);
    free(sorted);
    if (!arr)
        return DB_HARD;
    db_status st;
    const char *p[1] = {arr};
    PGresult *r = db_exec(c, "ing_points", 1, p, &st);
    free(arr);
    if (!r)
        return st;
    int rows = PQntuples(r);
    db_ingest_points *pts = calloc(1, sizeof *pts);
    db_ingest_point *info = calloc(rows ? (size_t)rows : 1, sizeof *info);
    if (!pts || !info) {
        free(pts);
        free(info);
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < rows; i++) {
        info[i].code = PQgetvalue(r, i, 0);
        info[i].id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        info[i].enterprise_id = strtoll(PQgetvalue(r, i, 2), NULL, 10);
        info[i].has_min = !PQgetisnull(r, i, 3);
        info[i].range_min = info[i].has_min ? strtod(PQgetvalue(r, i, 3), NULL) : 0;
        info[i].has_max = !PQgetisnull(r, i, 4);
        info[i].range_max = info[i].has_max ? strtod(PQgetvalue(r, i, 4), NULL) : 0;
        info[i].enabled = PQgetvalue(r, i, 5)[0] == 't';
    }
    pts->res = r;
    pts->rows = info;
    pts->n = (size_t)rows;
    *out = pts;
    return DB_OK;
}

const db_ingest_point *db_ingest_points_find(const db_ingest_points *p, const char *code)
{
    /* the statement orders by code COLLATE "C": strcmp order */
    return bsearch(code, p->rows, p->n, sizeof *p->rows, cmp_point);
}

void db_ingest_points_free(db_ingest_points *p)
{
    if (!p)
        return;
    PQclear(p->res);
    free(p->rows);
    free(p);
}

db_status db_ingest_ensure_partition(db_conn *c, int64_t day)
{
    return db_readings_partition(c, day * 86400, NULL);
}

/* ---- Idempotency-Key rows ---------------------------------------------- */

db_status db_ingest_idem_claim(db_conn *c, int64_t enterprise_id, const char *key,
                               const unsigned char body_hash[32], int *claimed)
{
    char eid[24], hash[70];
    const char *p[3] = {db_i64(eid, enterprise_id), key, db_bytea_hex(hash, body_hash, 32)};
    db_status st;
    PGresult *r = db_exec(c, "ing_idem_claim", 3, p, &st);
    if (!r)
        return st;
    *claimed = PQntuples(r) == 1;
    PQclear(r);
    return DB_OK;
}

db_status db_ingest_idem_get(db_conn *c, int64_t enterprise_id, const char *key,
                             const unsigned char body_hash[32], db_ingest_idem *out, int *found)
{
    char eid[24], hash[70];
    const char *p[3] = {db_i64(eid, enterprise_id), key, db_bytea_hex(hash, body_hash, 32)};
    db_status st;
    PGresult *r = db_exec(c, "ing_idem_get", 3, p, &st);
    if (!r)
        return st;
    memset(out, 0, sizeof *out);
    *found = PQntuples(r) == 1;
    if (*found) {
        out->same_body = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        out->has_answer = !PQgetisnull(r, 0, 1);
        if (out->has_answer) {
            out->status = atoi(PQgetvalue(r, 0, 1));
            out->response = strdup(PQgetvalue(r, 0, 2));
        }
    }
    PQclear(r);
    return DB_OK;
}

db_status db_ingest_idem_store(db_conn *c, int64_t enterprise_id, const char *key, int status,
                               const char *response)
{
    char eid[24], st_text[24];
    const char *p[4] = {db_i64(eid, enterprise_id), key, db_i64(st_text, status), response};
    db_status st;
    PQclear(db_exec(c, "ing_idem_store", 4, p, &st));
    return st;
}

/* ---- items ------------------------------------------------------------- */

db_status db_ingest_store_readings(db_conn *c, int64_t enterprise_id, const db_ingest_reading *rows,
                                   size_t n, long *inserted)
{
    sbuf a[4] = {{0}};
    for (int k = 0; k < 4; k++)
        sb_str(&a[k], "{");
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        sb_fmt(&a[0], "%s%lld", sep, (long long)rows[i].point_id);
        sb_fmt(&a[1], "%s%lld", sep, (long long)rows[i].ts_us);
        sb_fmt(&a[2], "%s%.17g", sep, rows[i].value);
        sb_fmt(&a[3], "%s%d", sep, rows[i].quality);
    }
    for (int k = 0; k < 4; k++)
        sb_str(&a[k], "}");
    db_status st = DB_HARD;
    if (sb_any_oom(a, 4))
        goto out;
    char eid[24];
    const char *p[5] = {a[0].p, a[1].p, a[2].p, a[3].p, db_i64(eid, enterprise_id)};
    PGresult *r = db_exec(c, "ing_insert_readings", 5, p, &st);
    if (!r)
        goto out;
    long count = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    PQclear(db_exec(c, "ing_latest", 5, p, &st));
    if (st == DB_OK)
        *inserted = count;
out:
    sb_free_all(a, 4);
    return st;
}

db_status db_ingest_insert_events(db_conn *c, int64_t enterprise_id, const char *source,
                                  const db_ingest_event *rows, size_t n, long *inserted)
{
    /* levels and contents (NULL for none) are text: quoted by db_text_array */
    sbuf a[4] = {{0}};
    char *levels = NULL, *contents = NULL;
    const char **text = malloc((n ? n : 1) * sizeof *text);
    for (int k = 0; k < 4; k++)
        sb_str(&a[k], "{");
    for (size_t i = 0; i < n; i++) {
        const db_ingest_event *ev = &rows[i];
        const char *sep = i ? "," : "";
        sb_fmt(&a[0], "%s%lld", sep, (long long)ev->point_id);
        sb_fmt(&a[1], "%s%lld", sep, (long long)ev->ts_us);
        if (ev->has_value)
            sb_fmt(&a[2], "%s%.17g", sep, ev->value);
        else
            sb_fmt(&a[2], "%sNULL", sep);
        if (ev->has_threshold)
            sb_fmt(&a[3], "%s%.17g", sep, ev->threshold);
        else
            sb_fmt(&a[3], "%sNULL", sep);
    }
    for (int k = 0; k < 4; k++)
        sb_str(&a[k], "}");
    if (text) {
        for (size_t i = 0; i < n; i++)
            text[i] = rows[i].level;
        levels = db_text_array(text, n);
        for (size_t i = 0; i < n; i++)
            text[i] = rows[i].content;
        contents = db_text_array(text, n);
    }
    db_status st = DB_HARD;
    if (sb_any_oom(a, 4) || !levels || !contents)
        goto out;
    char eid[24];
    const char *p[8] = {
        db_i64(eid, enterprise_id), a[0].p, a[1].p, levels, a[2].p, a[3].p, contents, source};
    PGresult *r = db_exec(c, "ing_insert_events", 8, p, &st);
    if (!r)
        goto out;
    *inserted = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
out:
    sb_free_all(a, 4);
    free(text);
    free(levels);
    free(contents);
    return st;
}

db_status db_ingest_insert_video(db_conn *c, int64_t enterprise_id, const char *source,
                                 const char *camera, int64_t ts_us, const char *alarm_type,
                                 const char *content, const unsigned char *img, size_t img_len,
                                 int *inserted)
{
    char eid[24], ts[24];
    const char *p[7] = {db_i64(eid, enterprise_id), camera, db_i64(ts, ts_us), alarm_type, content,
                        (const char *)img,          source};
    int lengths[7] = {0, 0, 0, 0, 0, (int)img_len, 0};
    int formats[7] = {0, 0, 0, 0, 0, 1, 0};
    db_status st;
    PGresult *r = db_exec_bin(c, "ing_insert_video", 7, p, lengths, formats, &st);
    if (!r)
        return st;
    *inserted = PQntuples(r);
    PQclear(r);
    return DB_OK;
}

db_status db_ingest_gateways_seen(db_conn *c, const int64_t *enterprise_ids,
                                  const char *const *codes, size_t n)
{
    if (n == 0)
        return DB_OK;
    sbuf e = {0};
    sb_str(&e, "{");
    for (size_t i = 0; i < n; i++)
        sb_fmt(&e, "%s%lld", i ? "," : "", (long long)enterprise_ids[i]);
    sb_str(&e, "}");
    char *arr = db_text_array(codes, n);
    db_status st = DB_HARD;
    if (!e.oom && arr) {
        const char *p[2] = {e.p, arr};
        PQclear(db_exec(c, "ing_gateways_seen", 2, p, &st));
    }
    free(arr);
    free(e.p);
    return st;
}
