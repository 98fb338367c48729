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

/* point_latest's copies of its point's settings (migration 0151: the statistics count the points
 * online from point_latest alone), read from points with every newest reading; joined LEFT, so
 * that a point not found leaves them NULL for point_latest_fill rather than its row out.  Set
 * again on update as well: a settings change that raced a point's first reading is mended by
 * its next one. */
#define LATEST_SETTINGS     "3 * pt.expected_interval_s, pt.param_class = 'mandatory'"
#define LATEST_POINT        "LEFT JOIN points pt ON pt.id = m.p"
#define LATEST_SETTINGS_SET "online_s = EXCLUDED.online_s, mandatory = EXCLUDED.mandatory"

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
    /* the packing horizon rides along (a one-row table): the writer refuses readings of
     * packed days without a statement of its own */
    /* The lists of ids or codes ($1, each once) are joined as sets, never `= ANY($1)`: a
     * prepared statement's generic plan cannot hash a parameter's array, so a sequential
     * scan compared every row with every element (ScalarArrayOpExpr, ~10 % of PostgreSQL's
     * CPU in ingest_bench.sh before). */
    {"ing_points",
     "SELECT p.code, p.id, p.enterprise_id, p.range_min, p.range_max, p.enabled, "
     "k.plausible_min, k.plausible_max, (extract(epoch FROM s.packed_before::timestamp) * "
     "1000000)::bigint FROM unnest($1::text[]) AS u(code) JOIN points p ON p.code = u.code "
     "JOIN indicator_kinds k ON k.code = p.kind CROSS JOIN readings_pack_state s ORDER BY "
     "p.code COLLATE \"C\""},
    {"ing_idem_claim",
     /* the group's keys, each (enterprise, key) once, in the order given (the writers' lock
      * order): rows are inserted, or an expired claim taken over, in that order */
     "INSERT INTO ingest_batches (enterprise_id, idem_key, request_hash) SELECT u.e, u.k, u.h "
     "FROM unnest($1::bigint[], $2::text[], $3::bytea[]) WITH ORDINALITY AS u(e, k, h, i) ORDER "
     "BY u.i ON CONFLICT (enterprise_id, idem_key) DO UPDATE SET request_hash = "
     "EXCLUDED.request_hash, status = NULL, response = NULL, created_at = now(), expires_at = "
     "now() + interval '72 hours' WHERE ingest_batches.expires_at < now() RETURNING "
     "enterprise_id, idem_key"},
    {"ing_idem_get",
     "SELECT request_hash = $3::bytea, status, response FROM ingest_batches WHERE enterprise_id "
     "= $1 AND idem_key = $2"},
    {"ing_insert_readings",
     /* no RETURNING: the count comes from the command tag, and RETURNING
      * would also run the SELECT policy on every row */
     "INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) SELECT u.p, "
     "u.t, u.v, u.q, $5 FROM "
     "unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::int2[]) AS u(p, t, v, q) ON "
     "CONFLICT "
     "DO NOTHING"},
    {"ing_insert_fresh",
     /* the conflict-free path (db_ingest_store_readings): no ON CONFLICT, so
      * a stored (point, instant) is a unique violation, never skipped.  The
      * rows of one or more jobs (several enterprises): $1..$5 the rows, $6..$10
      * each of their points once with its newest row */
     "WITH lt AS (INSERT INTO point_latest (point_id, enterprise_id, collected_at, value, "
     "quality, online_s, mandatory) SELECT m.p, m.e, m.t, m.v, m.q, " LATEST_SETTINGS " FROM "
     "unnest($6::bigint[], $7::timestamptz[], $8::float8[], $9::int2[], $10::bigint[]) AS m(p, "
     "t, v, q, e) " LATEST_POINT " ON CONFLICT (point_id) DO UPDATE SET collected_at = "
     "EXCLUDED.collected_at, value = EXCLUDED.value, quality = EXCLUDED.quality, received_at = "
     "now(), " LATEST_SETTINGS_SET " WHERE point_latest.collected_at < EXCLUDED.collected_at) "
     "INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) SELECT u.p, "
     "u.t, u.v, u.q, u.e FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::int2[], "
     "$5::bigint[]) AS u(p, t, v, q, e)"},
    {"ing_points_latest",
     /* read after the point locks (alm_state_load): a statement of its own, so its snapshot
      * is taken once the point locks are held */
     "SELECT l.point_id, (extract(epoch FROM l.collected_at) * 1000000)::bigint FROM "
     "unnest($1::bigint[]) AS u(id) JOIN point_latest l ON l.point_id = u.id"},
    {"ing_conflicts",
     /* after ing_insert_readings left some rows out: the rows whose instant
      * holds another value or quality (a repeat of the stored one is a
      * plain duplicate).  They are kept in reading_conflicts, once per
      * distinct value; the answer lists them by their position in $1.
      * Only readings partitions can hold the instant: readings of packed
      * days are refused before (day_packed, migration 0137). */
     "WITH u AS (SELECT u.p, u.t, u.v, u.q, "
     "u.x, u.i FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], $4::int2[], $5::int[]) "
     "WITH "
     "ORDINALITY AS u(p, t, v, q, x, i)), c AS MATERIALIZED (SELECT u.i, u.p, u.t, u.v, u.q, u.x, "
     "r.value AS sv, r.quality AS sq FROM u JOIN readings r ON r.point_id = u.p AND "
     "r.collected_at = u.t WHERE r.value <> u.v OR r.quality <> u.q), ins AS (INSERT INTO "
     "reading_conflicts (point_id, enterprise_id, collected_at, value, quality, stored_value, "
     "stored_quality, source, batch_sha256, item_index, request_id, idem_key) SELECT p, $6, t, v, "
     "q, sv, sq, $7, $8::bytea, x, $9, $10 FROM c ON CONFLICT DO NOTHING) SELECT i - 1, sv, sq "
     "FROM c ORDER BY i"},
    {"ing_latest",
     "INSERT INTO point_latest (point_id, enterprise_id, collected_at, value, quality, online_s, "
     "mandatory) SELECT m.p, $5, m.t, m.v, m.q, " LATEST_SETTINGS " FROM (SELECT DISTINCT ON "
     "(u.p) u.p, u.t, u.v, u.q FROM unnest($1::bigint[], $2::timestamptz[], $3::float8[], "
     "$4::int2[]) AS u(p, t, v, q) ORDER BY u.p, u.t DESC) m " LATEST_POINT " ON CONFLICT "
     "(point_id) DO UPDATE SET collected_at = EXCLUDED.collected_at, value = EXCLUDED.value, "
     "quality = EXCLUDED.quality, received_at = now(), " LATEST_SETTINGS_SET " WHERE "
     "point_latest.collected_at < EXCLUDED.collected_at"},
    {"ing_insert_events",
     "WITH ins AS (INSERT INTO gateway_events (enterprise_id, point_id, occurred_at, level, "
     "value, threshold, content, source) SELECT $1, u.p, timestamptz 'epoch' + u.t * interval "
     "'1 microsecond', u.l, u.v, u.th, coalesce(u.c, ''), $8 FROM unnest($2::bigint[], "
     "$3::bigint[], $4::text[], $5::float8[], $6::float8[], $7::text[]) AS u(p, t, l, v, th, c) "
     "ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM ins"},
    {"ing_finish",
     /* the group's last statement.  $3..$6 the answers an Idempotency-Key replays (its
      * rows this transaction claimed), one per key.  $1 enterprise ids, $2 gateway codes
      * (NULL: none named), pairwise.  A named code updates that gateway if it is the
      * enterprise's; no code updates the enterprise's gateway when it has exactly one.
      * Gateway rows are locked in id order and only when at least a second behind, so
      * writers neither deadlock on nor queue for a busy gateway's row. */
     "WITH ans AS (UPDATE ingest_batches b SET status = a.s, response = a.r FROM "
     "unnest($3::bigint[], $4::text[], $5::smallint[], $6::text[]) AS a(e, k, s, r) WHERE "
     "b.enterprise_id = a.e AND b.idem_key = a.k), "
     "s AS (SELECT DISTINCT u.e, u.c FROM unnest($1::bigint[], $2::text[]) AS u(e, c)), "
     "hit AS (SELECT g.id FROM gateways g JOIN s ON g.enterprise_id = s.e WHERE g.code = s.c OR "
     "(s.c IS NULL AND NOT EXISTS (SELECT 1 FROM gateways o WHERE o.enterprise_id = s.e AND o.id "
     "<> g.id))), lk AS (SELECT g.id FROM gateways g WHERE g.id IN (SELECT id FROM hit) AND "
     "(g.last_seen_at IS NULL OR g.last_seen_at < now() - interval '1 second') ORDER BY g.id FOR "
     "UPDATE OF g) UPDATE gateways g SET last_seen_at = GREATEST(g.last_seen_at, now()) FROM lk "
     "WHERE g.id = lk.id"},
    /* the group's first statements (server/README.md, "Writers never deadlock"):
     * the lock every readings insert takes shared (migration 0012's trigger)
     * before anything else, then the points' rule-state rows in id order
     * (alm_state_load, db_alarms.c) */
    {"ing_hold_rollup_mark", "SELECT pg_advisory_xact_lock_shared(7310312016119212)"},
    {"ing_insert_video",
     "INSERT INTO video_alarms (enterprise_id, camera_code, occurred_at, alarm_type, content, "
     "image, source) VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 "
     "microsecond', $4, coalesce($5, ''), $6::bytea, $7) ON CONFLICT DO NOTHING RETURNING 1"},
    /* $1 enterprise ids, $2 camera codes, pairwise: the position (1-based) and enabled flag
     * of every pair that is a registered camera of that enterprise */
    {"ing_cameras",
     "SELECT u.i, c.enabled FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS u(e, code, "
     "i) JOIN cameras c ON c.enterprise_id = u.e AND c.code = u.code"},
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
    int64_t packed_before_us; /* INT64_MIN: nothing packed, or no point found */
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
    /* each code once: a group names few points many times, so the codes are
     * told apart by a hash set first and only the distinct ones sorted */
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    const char **set = calloc(cap, sizeof *set);
    if (!sorted || !set) {
        free(sorted);
        free(set);
        return DB_HARD;
    }
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (const unsigned char *q = (const unsigned char *)codes[i]; *q; q++)
            h = (h ^ *q) * 1099511628211ULL;
        size_t k = (size_t)h & (cap - 1);
        while (set[k] && strcmp(set[k], codes[i]) != 0)
            k = (k + 1) & (cap - 1);
        if (!set[k])
            set[k] = sorted[distinct++] = codes[i];
    }
    free(set);
    qsort(sorted, distinct, sizeof *sorted, cmp_str);
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
        info[i].plausible_min = strtod(PQgetvalue(r, i, 6), NULL);
        info[i].plausible_max = strtod(PQgetvalue(r, i, 7), NULL);
    }
    pts->res = r;
    pts->rows = info;
    pts->n = (size_t)rows;
    pts->packed_before_us =
        rows > 0 && !PQgetisnull(r, 0, 8) ? strtoll(PQgetvalue(r, 0, 8), NULL, 10) : INT64_MIN;
    *out = pts;
    return DB_OK;
}

const db_ingest_point *db_ingest_points_find(const db_ingest_points *p, const char *code)
{
    /* the statement orders by code COLLATE "C": strcmp order */
    return bsearch(code, p->rows, p->n, sizeof *p->rows, cmp_point);
}

int64_t db_ingest_points_packed_before_us(const db_ingest_points *p)
{
    return p->packed_before_us;
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

typedef struct {
    db_ingest_claim *keys;
    size_t n;
} claim_out;

static db_status claim_done(void *arg, const PGresult *r, const db_diag *diag)
{
    (void)diag;
    claim_out o = *(claim_out *)arg;
    free(arg);
    for (int k = 0; r && k < PQntuples(r); k++) {
        int64_t e = strtoll(PQgetvalue(r, k, 0), NULL, 10);
        const char *key = PQgetvalue(r, k, 1);
        for (size_t i = 0; i < o.n; i++)
            if (o.keys[i].enterprise_id == e && strcmp(o.keys[i].key, key) == 0)
                o.keys[i].claimed = 1;
    }
    return DB_OK;
}

db_status db_ingest_idem_claim(db_conn *c, db_ingest_claim *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        keys[i].claimed = 0;
    if (n == 0)
        return DB_OK;
    int64_t *ents = malloc(n * sizeof *ents);
    const char **text = malloc(n * sizeof *text);
    char(*hex)[70] = malloc(n * sizeof *hex);
    claim_out *o = malloc(sizeof *o);
    char *a_ents = NULL, *a_keys = NULL, *a_hash = NULL;
    db_status st = DB_HARD;
    if (!ents || !text || !hex || !o)
        goto out;
    for (size_t i = 0; i < n; i++) {
        ents[i] = keys[i].enterprise_id;
        text[i] = keys[i].key;
    }
    a_ents = db_i64_array(ents, n);
    a_keys = db_text_array(text, n);
    for (size_t i = 0; i < n; i++)
        text[i] = db_bytea_hex(hex[i], keys[i].body_hash, 32);
    a_hash = db_text_array(text, n);
    if (a_ents && a_keys && a_hash) {
        *o = (claim_out){keys, n};
        const char *p[3] = {a_ents, a_keys, a_hash};
        st = db_queue(c, "ing_idem_claim", 3, p, claim_done, o);
        o = NULL; /* the handler's */
    }
out:
    free(ents);
    free(text);
    free(hex);
    free(o);
    free(a_ents);
    free(a_keys);
    free(a_hash);
    return st;
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

/* ---- items ------------------------------------------------------------- */

/* The readings' arrays go in PostgreSQL's binary array format (array_send):
 * neither printf here nor array_in and the element types' text input there
 * run per value (array_in was 4 % of PostgreSQL's time in the ingest bench,
 * printf among the server's hottest symbols), and a float8 keeps every bit
 * without a round trip through decimal. */
enum { OID_INT2 = 21, OID_INT8 = 20, OID_FLOAT8 = 701, OID_TIMESTAMPTZ = 1184 };

static void bin_u32(sbuf *b, uint32_t v)
{
    const char x[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    sb_add(b, x, 4);
}

static void bin_u64(sbuf *b, uint64_t v)
{
    bin_u32(b, (uint32_t)(v >> 32));
    bin_u32(b, (uint32_t)v);
}

/* one dimension, no NULLs, n elements of type oid, each of elem bytes */
static void bin_array(sbuf *b, uint32_t oid, size_t n, size_t elem)
{
    sb_reserve(b, 20 + n * (4 + elem));
    bin_u32(b, 1);
    bin_u32(b, 0);
    bin_u32(b, oid);
    bin_u32(b, (uint32_t)n);
    bin_u32(b, 1);
}

static void bin_i64(sbuf *b, int64_t v)
{
    bin_u32(b, 8);
    bin_u64(b, (uint64_t)v);
}

/* an instant (µs since 1970) as timestamptz: µs since 2000-01-01 UTC, so
 * PostgreSQL does no arithmetic per row either */
static void bin_ts(sbuf *b, int64_t unix_us)
{
    bin_i64(b, unix_us - INT64_C(946684800000000));
}

static void bin_f64(sbuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    bin_u32(b, 8);
    bin_u64(b, u);
}

static void bin_i16(sbuf *b, int v)
{
    const char x[2] = {(char)((unsigned)v >> 8), (char)v};
    bin_u32(b, 2);
    sb_add(b, x, 2);
}

/* Statement parameters: some binary arrays (sbuf, length in len), the rest
 * text. */
typedef struct {
    const char *p[12];
    int len[12], fmt[12];
    int n;
} params;

static void param_bin(params *q, const sbuf *b)
{
    q->p[q->n] = b->p;
    q->len[q->n] = (int)b->len;
    q->fmt[q->n++] = 1;
}

static void param_text(params *q, const char *v)
{
    q->p[q->n] = v;
    q->len[q->n] = 0;
    q->fmt[q->n++] = 0;
}

/* The four arrays (point bigint, µs bigint, value float8, quality int2) of
 * the rows not marked as conflicts, in a[0..3]. */
static void readings_arrays(sbuf a[4], const db_ingest_reading *rows, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += !rows[i].conflict;
    bin_array(&a[0], OID_INT8, m, 8);
    bin_array(&a[1], OID_TIMESTAMPTZ, m, 8);
    bin_array(&a[2], OID_FLOAT8, m, 8);
    bin_array(&a[3], OID_INT2, m, 2);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].conflict)
            continue;
        bin_i64(&a[0], rows[i].point_id);
        bin_ts(&a[1], rows[i].ts_us);
        bin_f64(&a[2], rows[i].value);
        bin_i16(&a[3], rows[i].quality);
    }
}

/* The statement's parameters $1..$5: the rows' arrays, the enterprise. */
static params readings_params(const sbuf a[4], const char *enterprise_id)
{
    params q = {.n = 0};
    for (int k = 0; k < 4; k++)
        param_bin(&q, &a[k]);
    param_text(&q, enterprise_id);
    return q;
}

/* Marks the rows whose instant already holds another value and keeps them in
 * reading_conflicts; rp: readings_params of the rows. */
static db_status find_conflicts(db_conn *c, int64_t enterprise_id, const db_ingest_batch_ref *ref,
                                const params *rp, db_ingest_reading *rows, size_t n,
                                long *conflicts)
{
    sbuf idx = {0};
    sb_str(&idx, "{");
    for (size_t i = 0; i < n; i++)
        sb_fmt(&idx, "%s%d", i ? "," : "", rows[i].item_index);
    sb_str(&idx, "}");
    db_status st = DB_HARD;
    if (idx.oom) {
        free(idx.p);
        return st;
    }
    char eid[24], hash[70], req[24];
    params q = *rp;
    q.n = 4;
    param_text(&q, idx.p);
    param_text(&q, db_i64(eid, enterprise_id));
    param_text(&q, ref->source);
    param_text(&q, db_bytea_hex(hash, ref->body_sha256, 32));
    param_text(&q, ref->request_id ? db_i64(req, (int64_t)ref->request_id) : NULL);
    param_text(&q, ref->idem_key);
    PGresult *r = db_exec_bin(c, "ing_conflicts", q.n, q.p, q.len, q.fmt, &st);
    free(idx.p);
    if (!r)
        return st;
    *conflicts = 0;
    for (int k = 0; k < PQntuples(r); k++) {
        long i = strtol(PQgetvalue(r, k, 0), NULL, 10);
        if (i < 0 || (size_t)i >= n)
            continue;
        rows[i].conflict = 1;
        rows[i].stored_value = strtod(PQgetvalue(r, k, 1), NULL);
        rows[i].stored_quality = atoi(PQgetvalue(r, k, 2));
        ++*conflicts;
    }
    PQclear(r);
    return DB_OK;
}

typedef struct {
    int64_t p, t;
    size_t i;
} point_instant;

static int cmp_point_instant(const void *a, const void *b)
{
    const point_instant *x = a, *y = b;
    if (x->p != y->p)
        return (x->p > y->p) - (x->p < y->p);
    return (x->t > y->t) - (x->t < y->t);
}

/* Whether two of the rows share a point and instant (only the ON CONFLICT path knows which
 * of them is the reading and which a conflict); -1 out of memory.  When k is not NULL the
 * rows' keys are left in it, sorted. */
static int twice(const db_ingest_reading *rows, size_t n, point_instant *k)
{
    point_instant *own = k ? NULL : malloc((n ? n : 1) * sizeof *own);
    point_instant *v = k ? k : own;
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = (point_instant){rows[i].point_id, rows[i].ts_us, i};
    qsort(v, n, sizeof *v, cmp_point_instant);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        rc = v[i].p == v[i - 1].p && v[i].t == v[i - 1].t;
    free(own);
    return rc;
}

/* The conflict-free rows of a group's consecutive jobs, held back (db_hold) until the
 * transaction sends its next statement: one insert for them all.  Per statement,
 * executor start-up (the row-level-security policies of readings and point_latest) and
 * the readings' statement triggers cost the same for one job's 500 rows as for more. */
typedef struct {
    db_ingest_reading *rows;
    int64_t *ents; /* per row */
    size_t n, cap;
    int **fresh; /* the jobs' *fresh: -1 when the insert is refused */
    size_t nj, capj;
} fresh_batch;

static void fresh_drop(void *arg)
{
    fresh_batch *b = arg;
    free(b->rows);
    free(b->ents);
    free(b->fresh);
    free(b);
}

static db_status fresh_done(void *arg, const PGresult *r, const db_diag *diag)
{
    fresh_batch *b = arg;
    db_status st = DB_OK;
    if (!r) {
        for (size_t j = 0; j < b->nj && strcmp(diag->sqlstate, "23505") == 0; j++)
            *b->fresh[j] = -1;
    } else {
        long stored = strtol(PQcmdTuples((PGresult *)r), NULL, 10);
        if (stored != (long)b->n) {
            /* without ON CONFLICT a row goes in or the statement fails */
            LOG_ERROR("conflict-free readings insert stored another count", "given=%zu stored=%ld",
                      b->n, stored);
            st = DB_HARD;
        }
    }
    fresh_drop(b);
    return st;
}

/* Queues the batch's insert (the handler owns the batch from here). */
static db_status fresh_send(db_conn *c, void *arg)
{
    fresh_batch *b = arg;
    size_t n = b->n;
    point_instant *k = malloc((n ? n : 1) * sizeof *k);
    sbuf a[10] = {{0}};
    int dup = k ? twice(b->rows, n, k) : -1;
    size_t points = n > 0;
    for (size_t i = 1; k && i < n; i++)
        points += k[i].p != k[i - 1].p;
    bin_array(&a[0], OID_INT8, n, 8);
    bin_array(&a[1], OID_TIMESTAMPTZ, n, 8);
    bin_array(&a[2], OID_FLOAT8, n, 8);
    bin_array(&a[3], OID_INT2, n, 2);
    bin_array(&a[4], OID_INT8, n, 8);
    for (size_t i = 0; i < n; i++) {
        bin_i64(&a[0], b->rows[i].point_id);
        bin_ts(&a[1], b->rows[i].ts_us);
        bin_f64(&a[2], b->rows[i].value);
        bin_i16(&a[3], b->rows[i].quality);
        bin_i64(&a[4], b->ents[i]);
    }
    bin_array(&a[5], OID_INT8, points, 8);
    bin_array(&a[6], OID_TIMESTAMPTZ, points, 8);
    bin_array(&a[7], OID_FLOAT8, points, 8);
    bin_array(&a[8], OID_INT2, points, 2);
    bin_array(&a[9], OID_INT8, points, 8);
    for (size_t i = 0; k && dup == 0 && i < n;) {
        size_t e = i;
        while (e + 1 < n && k[e + 1].p == k[i].p)
            e++;
        size_t newest = k[e].i;
        bin_i64(&a[5], k[i].p);
        bin_ts(&a[6], b->rows[newest].ts_us);
        bin_f64(&a[7], b->rows[newest].value);
        bin_i16(&a[8], b->rows[newest].quality);
        bin_i64(&a[9], b->ents[newest]);
        i = e + 1;
    }
    free(k);
    db_status st = DB_HARD;
    if (dup != 0 || sb_any_oom(a, 10)) {
        if (dup > 0) /* the caller adds a job only when its rows are newer than the others' */
            LOG_ERROR("conflict-free readings name an instant twice", "rows=%zu", n);
        fresh_drop(b);
    } else {
        params q = {.n = 0};
        for (int j = 0; j < 10; j++)
            param_bin(&q, &a[j]);
        st = db_queue_bin(c, "ing_insert_fresh", q.n, q.p, q.len, q.fmt, fresh_done, b, 1);
    }
    sb_free_all(a, 10);
    return st;
}

/* Adds a job's rows to the held batch (a new one if none is held). */
static db_status fresh_add(db_conn *c, int64_t enterprise_id, const db_ingest_reading *rows,
                           size_t n, int *fresh)
{
    fresh_batch *b = db_held(c, fresh_send);
    int created = !b;
    if (created && !(b = calloc(1, sizeof *b)))
        return DB_HARD;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n)
            cap *= 2;
        db_ingest_reading *nr = realloc(b->rows, cap * sizeof *nr);
        if (nr)
            b->rows = nr;
        int64_t *ne = realloc(b->ents, cap * sizeof *ne);
        if (ne)
            b->ents = ne;
        if (!nr || !ne)
            goto oom;
        b->cap = cap;
    }
    if (b->nj == b->capj) {
        size_t capj = b->capj ? 2 * b->capj : 8;
        int **nf = realloc(b->fresh, capj * sizeof *nf);
        if (!nf)
            goto oom;
        b->fresh = nf;
        b->capj = capj;
    }
    memcpy(b->rows + b->n, rows, n * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        b->ents[b->n + i] = enterprise_id;
    b->n += n;
    b->fresh[b->nj++] = fresh;
    *fresh = 1;
    /* without a pipelined transaction the batch is sent at once */
    return created ? db_hold(c, fresh_send, fresh_drop, b) : DB_OK;
oom:
    if (created)
        fresh_drop(b);
    return DB_HARD; /* a held batch is dropped with the transaction */
}

db_status db_ingest_store_readings(db_conn *c, int64_t enterprise_id,
                                   const db_ingest_batch_ref *ref, db_ingest_reading *rows,
                                   size_t n, int *fresh, long *inserted, long *conflicts)
{
    int try_fresh = *fresh;
    *fresh = 0;
    for (size_t i = 0; i < n; i++)
        rows[i].conflict = 0;
    sbuf a[4] = {{0}};
    readings_arrays(a, rows, n);
    db_status st = DB_HARD;
    long count = 0, n_conflicts = 0;
    if (sb_any_oom(a, 4))
        goto out;
    char eid[24];
    params q = readings_params(a, db_i64(eid, enterprise_id));
    int dup = try_fresh && n > 0 ? twice(rows, n, NULL) : 1;
    if (dup < 0)
        goto out;
    if (dup == 0) {
        st = fresh_add(c, enterprise_id, rows, n, fresh);
        count = (long)n;
        goto done;
    }
    PGresult *r = db_exec_bin(c, "ing_insert_readings", q.n, q.p, q.len, q.fmt, &st);
    if (!r)
        goto out;
    count = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    /* every row stored (the usual case): nothing can conflict */
    if (count < (long)n) {
        st = find_conflicts(c, enterprise_id, ref, &q, rows, n, &n_conflicts);
        if (st != DB_OK)
            goto out;
        if (n_conflicts > 0) {
            /* point_latest must not take a value readings does not hold */
            sb_free_all(a, 4);
            memset(a, 0, sizeof a);
            readings_arrays(a, rows, n);
            if (sb_any_oom(a, 4)) {
                st = DB_HARD;
                goto out;
            }
            q = readings_params(a, eid);
        }
    }
    if (n_conflicts < (long)n)
        st = db_queue_bin(c, "ing_latest", q.n, q.p, q.len, q.fmt, NULL, NULL, 0);
done:
    if (st == DB_OK) {
        *inserted = count;
        *conflicts = n_conflicts;
    }
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

db_status db_ingest_hold_rollup_mark(db_conn *c)
{
    return db_queue(c, "ing_hold_rollup_mark", 0, NULL, NULL, NULL);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const int64_t *ids;
    size_t n;
    int64_t *latest_us;
} latest_out;

static db_status latest_done(void *arg, const PGresult *r, const db_diag *diag)
{
    (void)diag;
    latest_out *o = arg;
    for (int k = 0; r && k < PQntuples(r); k++) {
        int64_t id = strtoll(PQgetvalue(r, k, 0), NULL, 10);
        const int64_t *at = bsearch(&id, o->ids, o->n, sizeof *o->ids, cmp_id);
        if (at)
            o->latest_us[at - o->ids] = strtoll(PQgetvalue(r, k, 1), NULL, 10);
    }
    free(o);
    return DB_OK;
}

db_status db_ingest_points_latest(db_conn *c, const int64_t *point_ids, size_t n,
                                  int64_t *latest_us)
{
    for (size_t i = 0; i < n; i++)
        latest_us[i] = INT64_MIN;
    if (n == 0)
        return DB_OK;
    char *ids = db_i64_array(point_ids, n);
    latest_out *o = malloc(sizeof *o);
    if (!ids || !o) {
        free(ids);
        free(o);
        return DB_HARD;
    }
    *o = (latest_out){point_ids, n, latest_us};
    const char *p[1] = {ids};
    db_status st = db_queue(c, "ing_points_latest", 1, p, latest_done, o);
    free(ids);
    return st;
}

db_status db_ingest_finish(db_conn *c, const db_ingest_answer *answers, size_t n_answers,
                           const int64_t *enterprise_ids, const char *const *codes, size_t n)
{
    if (n == 0 && n_answers == 0)
        return DB_OK;
    int64_t *ans_ents = calloc(n_answers ? n_answers : 1, sizeof *ans_ents);
    int64_t *ans_status = calloc(n_answers ? n_answers : 1, sizeof *ans_status);
    const char **ans_text = calloc(n_answers ? n_answers : 1, sizeof *ans_text);
    char *ents = NULL, *arr = NULL, *a_ents = NULL, *a_keys = NULL, *a_status = NULL,
         *a_resp = NULL;
    db_status st = DB_HARD;
    if (!ans_ents || !ans_status || !ans_text)
        goto out;
    for (size_t i = 0; i < n_answers; i++) {
        ans_ents[i] = answers[i].enterprise_id;
        ans_status[i] = answers[i].status;
        ans_text[i] = answers[i].idem_key;
    }
    a_ents = db_i64_array(ans_ents, n_answers);
    a_status = db_i64_array(ans_status, n_answers);
    a_keys = db_text_array(ans_text, n_answers);
    for (size_t i = 0; i < n_answers; i++)
        ans_text[i] = answers[i].response;
    a_resp = db_text_array(ans_text, n_answers);
    ents = db_i64_array(enterprise_ids, n);
    arr = db_text_array(codes, n);
    if (ents && arr && a_ents && a_keys && a_status && a_resp) {
        const char *p[6] = {ents, arr, a_ents, a_keys, a_status, a_resp};
        st = db_queue(c, "ing_finish", 6, p, NULL, NULL);
    }
out:
    free(ans_ents);
    free(ans_status);
    free(ans_text);
    free(ents);
    free(arr);
    free(a_ents);
    free(a_keys);
    free(a_status);
    free(a_resp);
    return st;
}

db_status db_ingest_cameras_resolve(db_conn *c, const int64_t *enterprise_ids,
                                    const char *const *codes, size_t n, int *state)
{
    for (size_t i = 0; i < n; i++)
        state[i] = 0;
    if (n == 0)
        return DB_OK;
    char *ents = db_i64_array(enterprise_ids, n), *arr = db_text_array(codes, n);
    db_status st = DB_HARD;
    if (ents && arr) {
        const char *p[2] = {ents, arr};
        PGresult *r = db_exec(c, "ing_cameras", 2, p, &st);
        if (r) {
            for (int k = 0; k < PQntuples(r); k++) {
                long long i = strtoll(PQgetvalue(r, k, 0), NULL, 10);
                if (i >= 1 && (size_t)i <= n)
                    state[i - 1] = strcmp(PQgetvalue(r, k, 1), "t") == 0 ? 1 : 2;
            }
            PQclear(r);
        }
    }
    free(arr);
    free(ents);
    return st;
}
