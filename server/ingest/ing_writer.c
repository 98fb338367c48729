#include "ing_writer.h"

#include "alarm_rules.h"
#include "db.h"
#include "ing_crypto.h"
#include "ing_hebei.h"
#include "ing_mem.h"
#include "rds.h"
#include "srv_config.h"
#include "db_health.h"
#include "srv_log.h"

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WRITERS 8
/* a group stops growing at this many items: bounds statement size and the
 * time one transaction holds row locks */
#define GROUP_MAX_ITEMS 50000
#define GROUP_MAX_JOBS  256

/* ---- statements ------------------------------------------------------- */

static const db_stmt statements[] = {
    {"srv_cred_api",
     "SELECT c.enterprise_id, e.code FROM ingest_credentials c JOIN enterprises e ON e.id = "
     "c.enterprise_id WHERE c.kind = 'api_key' AND c.key_hash = $1::bytea AND c.revoked_at IS "
     "NULL"},
    {"srv_cred_hebei",
     "SELECT c.enterprise_id, e.code, encode(c.des_key, 'hex') FROM ingest_credentials c JOIN "
     "enterprises e ON e.id = c.enterprise_id WHERE e.code = $1 AND c.kind = 'hebei_des' AND "
     "c.revoked_at IS NULL"},
    {"srv_cred_mem",
     "SELECT c.enterprise_id, e.code, c.appsecret_hash = $2::bytea, encode(c.sm4_key, 'hex'), "
     "encode(c.sm4_iv, 'hex') FROM ingest_credentials c JOIN enterprises e ON e.id = "
     "c.enterprise_id WHERE c.appid = $1 AND c.kind = 'mem_sm4' AND c.revoked_at IS NULL"},
    {"ing_points",
     "SELECT code, id, enterprise_id, range_min, range_max, enabled FROM points WHERE code = "
     "ANY($1::text[]) ORDER BY code COLLATE \"C\""},
    {"ing_partition", "SELECT dw_ensure_readings_partition($1::date)"},
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
    {"ing_insert_video",
     "INSERT INTO video_alarms (enterprise_id, camera_code, occurred_at, alarm_type, content, "
     "image, source) VALUES ($1, $2, timestamptz 'epoch' + $3::bigint * interval '1 "
     "microsecond', $4, coalesce($5, ''), $6::bytea, $7) ON CONFLICT DO NOTHING RETURNING 1"},
};

/* ---- a small growable string ------------------------------------------ */

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

/* One element of a PostgreSQL array literal, always quoted. */
static void sb_array_text(sbuf *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_add(b, "\\", 1);
        sb_add(b, p, 1);
    }
    sb_add(b, "\"", 1);
}

static void sb_reset(sbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

/* ---- queue ------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ing_job *head, *tail;
    int queued;
    atomic_int pending; /* queued + being processed */
    int running;
    pthread_t threads[MAX_WRITERS];
    int n_threads;
    /* completion: filled by writers, drained by the loop */
    pthread_mutex_t done_mu;
    ing_job *done_head, *done_tail;
    struct event *done_ev;
    ing_done_fn done_fn;
    /* UTC days (days since epoch) whose partition is known to exist */
    pthread_mutex_t part_mu;
    int64_t *known_days;
    size_t n_known_days;
} Q = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .cv = PTHREAD_COND_INITIALIZER,
       .done_mu = PTHREAD_MUTEX_INITIALIZER,
       .part_mu = PTHREAD_MUTEX_INITIALIZER};

void ing_job_free(ing_job *job)
{
    if (!job)
        return;
    free(job->body);
    if (job->secret) {
        sodium_memzero(job->secret, strlen(job->secret));
        free(job->secret);
    }
    free(job->idem_key);
    free(job->reply);
    free(job);
}

int ing_writer_pending(void)
{
    return atomic_load(&Q.pending);
}

int ing_writer_submit(ing_job *job)
{
    pthread_mutex_lock(&Q.mu);
    if (!Q.running || Q.queued >= g_config.ingest_queue_max) {
        pthread_mutex_unlock(&Q.mu);
        return -1;
    }
    job->next = NULL;
    if (Q.tail)
        Q.tail->next = job;
    else
        Q.head = job;
    Q.tail = job;
    Q.queued++;
    atomic_fetch_add(&Q.pending, 1);
    pthread_cond_signal(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    return 0;
}

static void complete(ing_job *list)
{
    if (!list)
        return;
    ing_job *last = list;
    int n = 1;
    while (last->next) {
        last = last->next;
        n++;
    }
    pthread_mutex_lock(&Q.done_mu);
    if (Q.done_tail)
        Q.done_tail->next = list;
    else
        Q.done_head = list;
    Q.done_tail = last;
    pthread_mutex_unlock(&Q.done_mu);
    atomic_fetch_sub(&Q.pending, n);
    event_active(Q.done_ev, EV_READ, 0);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    pthread_mutex_lock(&Q.done_mu);
    ing_job *list = Q.done_head;
    Q.done_head = Q.done_tail = NULL;
    pthread_mutex_unlock(&Q.done_mu);
    if (list)
        Q.done_fn(list);
}

/* ---- replies ----------------------------------------------------------- */

static void set_reply_json(ing_job *job, int status, json_t *body)
{
    free(job->reply);
    job->reply = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    job->status = status;
}

/* Whole-request failure, in the dialect's shape. */
static void fail_job(ing_job *job, int status, const char *code, const char *hint,
                     const char *detail)
{
    if (job->dialect == ING_DIALECT_HEBEI) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s: %s", code, detail);
        free(job->reply);
        job->reply = ing_hebei_reply(status, msg);
        job->status = status == 503 || status == 429 ? status : 200;
        /* the Hebei protocol carries the verdict in the body's code; HTTP
         * status stays 200 except when the client should back off */
        if (status == 401 || status == 413)
            job->status = status;
    } else {
        set_reply_json(job, status,
                       json_pack("{s:s, s:s, s:s}", "code", code, "hint", hint, "detail", detail));
    }
    if (status == 503 || status == 429)
        job->retry_after_s = status == 429 ? 1 : 2;
}

static void fail_db(ing_job *job)
{
    fail_job(job, 503, "db_unavailable",
             "the database is unreachable; retry after the Retry-After seconds with the same "
             "Idempotency-Key",
             "the batch was not stored");
}

/* ---- per-job working state -------------------------------------------- */

typedef struct point_info {
    const char *code; /* borrowed from the result */
    int64_t id, enterprise_id;
    double range_min, range_max;
    int has_min, has_max, enabled;
} point_info;

typedef struct wjob {
    ing_job *job;
    ing_batch *batch;
    int64_t enterprise_id;
    char enterprise_code[40];
    unsigned char body_hash[32];
    int finished;             /* reply decided before the write phase */
    int64_t *point_ids;       /* per item; 0 when rejected */
    const char **server_code; /* per item: server-side reject code or NULL */
    size_t n_items;
    long accepted, duplicate, rejected;
} wjob;

static const char *source_name(ing_dialect d)
{
    return d == ING_DIALECT_HEBEI ? "hebei" : d == ING_DIALECT_MEM ? "mem" : "native";
}

static void to_hex_param(const unsigned char *in, size_t n, char *out /* 2n+3 */)
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * n + 1, in, n);
}

static int hex_to_bin(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t batch_items(const ing_batch *b)
{
    return b->kind == ING_KIND_READINGS ? b->n_readings
           : b->kind == ING_KIND_EVENTS ? b->n_events
                                        : b->n_videos;
}

/* Authenticate and decode one job.  0: ready for the write phase; 1: reply
 * decided (error); -1: database trouble (the whole group answers 503). */
static int authenticate_and_decode(db_conn *c, wjob *w, const ing_limits *lim)
{
    ing_job *job = w->job;
    ing_error err = {0};
    int64_t now = now_us();
    db_status st;
    crypto_hash_sha256(w->body_hash, (const unsigned char *)job->body, job->body_len);

    if (job->dialect == ING_DIALECT_NATIVE) {
        if (!job->secret || !*job->secret) {
            fail_job(job, 401, "unauthenticated", "send the enterprise's API key in X-Api-Key",
                     "no X-Api-Key header");
            return 1;
        }
        unsigned char h[32];
        char hex[70];
        crypto_hash_sha256(h, (const unsigned char *)job->secret, strlen(job->secret));
        to_hex_param(h, 32, hex);
        const char *p[1] = {hex};
        PGresult *r = db_exec(c, "srv_cred_api", 1, p, &st);
        if (!r)
            return -1;
        if (PQntuples(r) != 1) {
            PQclear(r);
            fail_job(job, 401, "unauthenticated", "send the enterprise's API key in X-Api-Key",
                     "unknown or revoked API key");
            return 1;
        }
        w->enterprise_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(w->enterprise_code, sizeof w->enterprise_code, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        if (ing_decode_native(job->kind, job->body, job->body_len, lim, now, &w->batch, &err) != 0)
            goto decode_failed;
    } else if (job->dialect == ING_DIALECT_HEBEI) {
        ing_hebei_outer o = {0};
        if (ing_hebei_parse_outer(job->body, job->body_len, lim, &o, &err) != 0)
            goto decode_failed;
        const char *p[1] = {o.qybm};
        PGresult *r = db_exec(c, "srv_cred_hebei", 1, p, &st);
        if (!r) {
            ing_hebei_outer_free(&o);
            return -1;
        }
        unsigned char key[8];
        if (PQntuples(r) != 1 || hex_to_bin(PQgetvalue(r, 0, 2), key, 8) != 0) {
            PQclear(r);
            ing_hebei_outer_free(&o);
            fail_job(job, 401, "unauthenticated", "the qybm has no active DES key here",
                     "unknown enterprise code or no key issued");
            return 1;
        }
        w->enterprise_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(w->enterprise_code, sizeof w->enterprise_code, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        unsigned char iv[8];
        memset(iv, 0, sizeof iv);
        memcpy(iv, g_config.ingest_hebei_iv,
               strlen(g_config.ingest_hebei_iv) < 8 ? strlen(g_config.ingest_hebei_iv) : 8);
        int rc = ing_hebei_decode(job->kind, &o, key, iv, lim, now, &w->batch, &err);
        sodium_memzero(key, sizeof key);
        ing_hebei_outer_free(&o);
        if (rc != 0)
            goto decode_failed;
    } else {
        ing_mem_outer o = {0};
        if (ing_mem_parse_outer(job->body, job->body_len, lim, &o, &err) != 0)
            goto decode_failed;
        unsigned char h[32];
        char hex[70];
        const char *secret = job->secret ? job->secret : "";
        crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
        to_hex_param(h, 32, hex);
        const char *p[2] = {o.appid, hex};
        PGresult *r = db_exec(c, "srv_cred_mem", 2, p, &st);
        if (!r) {
            ing_mem_outer_free(&o);
            return -1;
        }
        unsigned char key[16], iv[16];
        if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 2), "t") != 0 ||
            hex_to_bin(PQgetvalue(r, 0, 3), key, 16) != 0 ||
            hex_to_bin(PQgetvalue(r, 0, 4), iv, 16) != 0) {
            PQclear(r);
            ing_mem_outer_free(&o);
            fail_job(job, 401, "unauthenticated", "send the appid's appsecret header",
                     "unknown appid or wrong appsecret");
            return 1;
        }
        w->enterprise_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(w->enterprise_code, sizeof w->enterprise_code, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        int rc = ing_mem_decode(job->kind, &o, key, iv, "native", lim, now, &w->batch, &err);
        sodium_memzero(key, sizeof key);
        ing_mem_outer_free(&o);
        if (rc != 0)
            goto decode_failed;
    }
    w->n_items = batch_items(w->batch);
    w->point_ids = calloc(w->n_items ? w->n_items : 1, sizeof *w->point_ids);
    w->server_code = calloc(w->n_items ? w->n_items : 1, sizeof *w->server_code);
    if (!w->point_ids || !w->server_code) {
        fail_job(job, 503, "overloaded", "retry later", "out of memory");
        return 1;
    }
    return 0;

decode_failed:
    fail_job(job, err.http_status ? err.http_status : 400, err.code ? err.code : "bad_request",
             "fix the batch as the detail says; nothing of it was stored", err.detail);
    return 1;
}

static const char *item_point(const ing_batch *b, size_t i)
{
    return b->kind == ING_KIND_READINGS ? b->readings[i].point
           : b->kind == ING_KIND_EVENTS ? b->events[i].point
                                        : NULL;
}

static ing_reject item_reject(const ing_batch *b, size_t i)
{
    return b->kind == ING_KIND_READINGS ? b->readings[i].reject
           : b->kind == ING_KIND_EVENTS ? b->events[i].reject
                                        : b->videos[i].reject;
}

static void set_item_reject(ing_batch *b, size_t i, ing_reject r)
{
    if (b->kind == ING_KIND_READINGS)
        b->readings[i].reject = r;
    else if (b->kind == ING_KIND_EVENTS)
        b->events[i].reject = r;
    else
        b->videos[i].reject = r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_point_info(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const point_info *)elem)->code);
}

/* Resolves every point code of the group with one query and marks items
 * whose point is unknown, another enterprise's, disabled, or whose value is
 * outside the sensor's physical range.  Returns the result (caller clears,
 * it backs the borrowed codes) or NULL on database trouble. */
static PGresult *resolve_points(db_conn *c, wjob *ws, size_t n, sbuf *arr)
{
    size_t total = 0;
    for (size_t j = 0; j < n; j++)
        if (!ws[j].finished && ws[j].batch->kind != ING_KIND_VIDEOS)
            total += ws[j].n_items;
    const char **codes = malloc((total ? total : 1) * sizeof *codes);
    if (!codes)
        return NULL;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (ws[j].finished || ws[j].batch->kind == ING_KIND_VIDEOS)
            continue;
        for (size_t i = 0; i < ws[j].n_items; i++)
            if (item_reject(ws[j].batch, i) == ING_REJ_NONE && item_point(ws[j].batch, i))
                codes[k++] = item_point(ws[j].batch, i);
    }
    qsort(codes, k, sizeof *codes, cmp_str);
    sb_reset(arr);
    sb_str(arr, "{");
    size_t distinct = 0;
    for (size_t i = 0; i < k; i++) {
        if (i && strcmp(codes[i], codes[i - 1]) == 0)
            continue;
        if (distinct++)
            sb_str(arr, ",");
        sb_array_text(arr, codes[i]);
    }
    sb_str(arr, "}");
    free(codes);
    if (arr->oom)
        return NULL;
    db_status st;
    const char *p[1] = {arr->p};
    PGresult *r = db_exec(c, "ing_points", 1, p, &st);
    if (!r)
        return NULL;
    int rows = PQntuples(r);
    point_info *info = calloc(rows ? (size_t)rows : 1, sizeof *info);
    if (!info) {
        PQclear(r);
        return NULL;
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
    int64_t oldest_us =
        now_us() - (int64_t)g_config.readings_retention_days * 86400 * (int64_t)1000000;
    for (size_t j = 0; j < n; j++) {
        wjob *w = &ws[j];
        if (w->finished)
            continue;
        for (size_t i = 0; i < w->n_items; i++) {
            if (item_reject(w->batch, i) != ING_REJ_NONE)
                continue;
            if (w->batch->kind == ING_KIND_VIDEOS) {
                if (w->batch->videos[i].ts_us < oldest_us)
                    w->server_code[i] = "too_old";
                continue;
            }
            const point_info *pi =
                bsearch(item_point(w->batch, i), info, (size_t)rows, sizeof *info, cmp_point_info);
            if (!pi) {
                set_item_reject(w->batch, i, ING_REJ_UNKNOWN_POINT);
            } else if (pi->enterprise_id != w->enterprise_id) {
                /* whatever the body says, another enterprise's point is never written */
                set_item_reject(w->batch, i, ING_REJ_FOREIGN_POINT);
            } else if (!pi->enabled) {
                set_item_reject(w->batch, i, ING_REJ_POINT_DISABLED);
            } else if (w->batch->kind == ING_KIND_READINGS &&
                       ((pi->has_min && w->batch->readings[i].value < pi->range_min) ||
                        (pi->has_max && w->batch->readings[i].value > pi->range_max))) {
                set_item_reject(w->batch, i, ING_REJ_OUT_OF_RANGE);
            } else if ((w->batch->kind == ING_KIND_READINGS
                            ? w->batch->readings[i].ts_us
                            : w->batch->events[i].ts_us) < oldest_us) {
                w->server_code[i] = "too_old";
            } else {
                w->point_ids[i] = pi->id;
            }
        }
    }
    free(info);
    return r;
}

static int day_known(int64_t day)
{
    for (size_t i = 0; i < Q.n_known_days; i++)
        if (Q.known_days[i] == day)
            return 1;
    return 0;
}

/* Back-filled data may land on days whose partition does not exist yet:
 * create them (outside the group's transaction) before writing. */
static int ensure_partitions(db_conn *c, wjob *ws, size_t n)
{
    int64_t days[64];
    size_t nd = 0;
    pthread_mutex_lock(&Q.part_mu);
    for (size_t j = 0; j < n && nd < 64; j++) {
        wjob *w = &ws[j];
        if (w->finished || w->batch->kind != ING_KIND_READINGS)
            continue;
        for (size_t i = 0; i < w->n_items && nd < 64; i++) {
            if (!w->point_ids[i])
                continue;
            int64_t ts = w->batch->readings[i].ts_us;
            int64_t day = (ts >= 0 ? ts : ts - 86400000000LL + 1) / 86400000000LL;
            if (day_known(day))
                continue;
            int dup = 0;
            for (size_t d = 0; d < nd; d++)
                dup |= days[d] == day;
            if (!dup)
                days[nd++] = day;
        }
    }
    pthread_mutex_unlock(&Q.part_mu);
    for (size_t d = 0; d < nd; d++) {
        time_t t = (time_t)(days[d] * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        char date[16];
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        const char *p[1] = {date};
        db_status st;
        PGresult *r = db_exec(c, "ing_partition", 1, p, &st);
        if (!r)
            return -1;
        PQclear(r);
        pthread_mutex_lock(&Q.part_mu);
        int64_t *nk = realloc(Q.known_days, (Q.n_known_days + 1) * sizeof *nk);
        if (nk) {
            Q.known_days = nk;
            Q.known_days[Q.n_known_days++] = days[d];
        }
        pthread_mutex_unlock(&Q.part_mu);
    }
    return 0;
}

/* The answer to a processed batch (also what an Idempotency-Key replays). */
static void build_reply(wjob *w)
{
    ing_job *job = w->job;
    w->rejected = 0;
    json_t *errors = json_array();
    for (size_t i = 0; i < w->n_items; i++) {
        ing_reject rj = item_reject(w->batch, i);
        const char *code = rj != ING_REJ_NONE ? ing_reject_code(rj) : w->server_code[i];
        if (!code)
            continue;
        w->rejected++;
        const char *msg = rj != ING_REJ_NONE ? ing_reject_message(rj)
                                             : "older than the readings retention period";
        const char *ref = w->batch->kind == ING_KIND_VIDEOS ? w->batch->videos[i].camera
                                                            : item_point(w->batch, i);
        if (json_array_size(errors) < 1000)
            json_array_append_new(errors, json_pack("{s:I, s:s?, s:s, s:s}", "index", (json_int_t)i,
                                                    "ref", ref, "code", code, "message", msg));
    }
    if (job->dialect == ING_DIALECT_HEBEI) {
        json_decref(errors);
        free(job->reply);
        job->status = 200;
        if (w->rejected == 0) {
            job->reply = ing_hebei_reply(200, NULL);
        } else {
            char msg[512];
            int o = snprintf(msg, sizeof msg,
                             "%ld条被拒绝 (rejected %ld of %zu, accepted %ld):", w->rejected,
                             w->rejected, w->n_items, w->accepted);
            for (size_t i = 0; i < w->n_items && o < (int)sizeof msg - 80; i++) {
                ing_reject rj = item_reject(w->batch, i);
                const char *code = rj != ING_REJ_NONE ? ing_reject_code(rj) : w->server_code[i];
                if (code) {
                    const char *ref = w->batch->kind == ING_KIND_VIDEOS ? w->batch->videos[i].camera
                                                                        : item_point(w->batch, i);
                    o += snprintf(msg + o, sizeof msg - (size_t)o, " #%zu %.40s %s;", i,
                                  ref ? ref : "-", code);
                }
            }
            job->reply = ing_hebei_reply(422, msg);
        }
        return;
    }
    set_reply_json(job, 200,
                   json_pack("{s:I, s:I, s:I, s:o}", "accepted", (json_int_t)w->accepted,
                             "duplicate", (json_int_t)w->duplicate, "rejected",
                             (json_int_t)w->rejected, "errors", errors));
}

/* Writes the job's accepted items.  Runs inside the group transaction. */
static db_status write_items(db_conn *c, wjob *w, sbuf *a, sbuf *b, sbuf *d, sbuf *e, sbuf *f,
                             sbuf *g)
{
    db_status st = DB_OK;
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", (long long)w->enterprise_id);
    ing_batch *bt = w->batch;
    long valid = 0;
    for (size_t i = 0; i < w->n_items; i++)
        if (item_reject(bt, i) == ING_REJ_NONE && !w->server_code[i])
            valid++;
    w->accepted = w->duplicate = 0;
    if (valid == 0)
        return DB_OK;
    if (bt->kind == ING_KIND_READINGS || bt->kind == ING_KIND_EVENTS) {
        sb_reset(a), sb_reset(b), sb_reset(d), sb_reset(e), sb_reset(f), sb_reset(g);
        sb_str(a, "{"), sb_str(b, "{"), sb_str(d, "{"), sb_str(e, "{"), sb_str(f, "{"),
            sb_str(g, "{");
        int first = 1;
        for (size_t i = 0; i < w->n_items; i++) {
            if (!w->point_ids[i] || w->server_code[i])
                continue;
            const char *sep = first ? "" : ",";
            first = 0;
            if (bt->kind == ING_KIND_READINGS) {
                const ing_reading *r = &bt->readings[i];
                sb_fmt(a, "%s%lld", sep, (long long)w->point_ids[i]);
                sb_fmt(b, "%s%lld", sep, (long long)r->ts_us);
                sb_fmt(d, "%s%.17g", sep, r->value);
                sb_fmt(e, "%s%d", sep, r->quality);
            } else {
                const ing_event *ev = &bt->events[i];
                sb_fmt(a, "%s%lld", sep, (long long)w->point_ids[i]);
                sb_fmt(b, "%s%lld", sep, (long long)ev->ts_us);
                sb_str(d, sep);
                sb_array_text(d, ing_event_level_name(ev->level));
                if (ev->has_value)
                    sb_fmt(e, "%s%.17g", sep, ev->value);
                else
                    sb_fmt(e, "%sNULL", sep);
                if (ev->has_threshold)
                    sb_fmt(f, "%s%.17g", sep, ev->threshold);
                else
                    sb_fmt(f, "%sNULL", sep);
                sb_str(g, sep);
                if (ev->content)
                    sb_array_text(g, ev->content);
                else
                    sb_str(g, "NULL");
            }
        }
        sb_str(a, "}"), sb_str(b, "}"), sb_str(d, "}"), sb_str(e, "}"), sb_str(f, "}"),
            sb_str(g, "}");
        if (a->oom || b->oom || d->oom || e->oom || f->oom || g->oom)
            return DB_HARD;
        PGresult *r;
        if (bt->kind == ING_KIND_READINGS) {
            const char *p[5] = {a->p, b->p, d->p, e->p, eid};
            r = db_exec(c, "ing_insert_readings", 5, p, &st);
            if (!r)
                return st;
            w->accepted = strtol(PQcmdTuples(r), NULL, 10);
            PQclear(r);
            r = db_exec(c, "ing_latest", 5, p, &st);
            if (!r)
                return st;
            PQclear(r);
        } else {
            const char *src = source_name(w->job->dialect);
            const char *p[8] = {eid, a->p, b->p, d->p, e->p, f->p, g->p, src};
            r = db_exec(c, "ing_insert_events", 8, p, &st);
            if (!r)
                return st;
            w->accepted = strtol(PQgetvalue(r, 0, 0), NULL, 10);
            PQclear(r);
        }
    } else {
        for (size_t i = 0; i < w->n_items; i++) {
            const ing_video *v = &bt->videos[i];
            if (v->reject != ING_REJ_NONE || w->server_code[i])
                continue;
            char ts[24];
            snprintf(ts, sizeof ts, "%lld", (long long)v->ts_us);
            const char *p[7] = {eid,
                                v->camera,
                                ts,
                                v->alarm_type,
                                v->content,
                                (const char *)v->img,
                                source_name(w->job->dialect)};
            int lengths[7] = {0, 0, 0, 0, 0, (int)v->img_len, 0};
            int formats[7] = {0, 0, 0, 0, 0, 1, 0};
            PGresult *r = db_exec_bin(c, "ing_insert_video", 7, p, lengths, formats, &st);
            if (!r)
                return st;
            w->accepted += PQntuples(r);
            PQclear(r);
        }
    }
    /* alarms commit with the readings that raised them, or not at all */
    st = alarm_apply_batch(c, w->enterprise_id, bt, w->point_ids, w->server_code, now_us());
    if (st != DB_OK)
        return st;
    w->duplicate = valid - w->accepted;
    return DB_OK;
}

typedef struct {
    wjob *ws;
    size_t n;
    sbuf bufs[6];
} group_ctx;

static db_status write_group(db_conn *c, void *arg)
{
    group_ctx *g = arg;
    db_status st;
    alarm_pub_reset(); /* a retried attempt must not publish the failed one's alarms */
    for (size_t j = 0; j < g->n; j++) {
        wjob *w = &g->ws[j];
        if (w->finished)
            continue;
        w->job->idem_replayed = 0;
        char eid[24], hash[70];
        snprintf(eid, sizeof eid, "%lld", (long long)w->enterprise_id);
        to_hex_param(w->body_hash, 32, hash);
        if (w->job->idem_key) {
            const char *p[3] = {eid, w->job->idem_key, hash};
            PGresult *r = db_exec(c, "ing_idem_claim", 3, p, &st);
            if (!r)
                return st;
            int claimed = PQntuples(r) == 1;
            PQclear(r);
            if (!claimed) {
                r = db_exec(c, "ing_idem_get", 3, p, &st);
                if (!r)
                    return st;
                if (PQntuples(r) != 1) {
                    PQclear(r);
                    return DB_SOFT; /* raced with an expiry purge: run again */
                }
                free(w->job->reply);
                w->job->reply = NULL;
                if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
                    fail_job(w->job, 422, "idempotency_key_reused",
                             "use a new Idempotency-Key for a different batch",
                             "this key was used for a different body");
                } else if (PQgetisnull(r, 0, 1)) {
                    fail_job(w->job, 409, "idempotency_key_in_use",
                             "the first request with this key is still being processed; retry",
                             "concurrent request with the same key");
                } else {
                    w->job->status = atoi(PQgetvalue(r, 0, 1));
                    w->job->reply = strdup(PQgetvalue(r, 0, 2));
                    w->job->idem_replayed = 1;
                }
                PQclear(r);
                continue;
            }
        }
        st = write_items(c, w, &g->bufs[0], &g->bufs[1], &g->bufs[2], &g->bufs[3], &g->bufs[4],
                         &g->bufs[5]);
        if (st != DB_OK)
            return st;
        build_reply(w);
        if (w->job->idem_key) {
            char status[8];
            snprintf(status, sizeof status, "%d", w->job->status);
            const char *p[4] = {eid, w->job->idem_key, status, w->job->reply};
            PGresult *r = db_exec(c, "ing_idem_store", 4, p, &st);
            if (!r)
                return st;
            PQclear(r);
        }
    }
    return DB_OK;
}

/* Redis gets the news only after the commit; it is never the only copy. */
static void publish(wjob *w)
{
    if (w->accepted <= 0 || w->job->idem_replayed)
        return;
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"type\":\"ingest\",\"enterprise_id\":%lld,\"enterprise\":\"%s\","
             "\"kind\":\"%s\",\"accepted\":%ld}",
             (long long)w->enterprise_id, w->enterprise_code,
             w->batch->kind == ING_KIND_READINGS ? "readings"
             : w->batch->kind == ING_KIND_EVENTS ? "events"
                                                 : "videos",
             w->accepted);
    rds_publish("dw:events", NULL, 0, payload);
    if (w->batch->kind != ING_KIND_READINGS)
        return;
    /* newest value per point of this batch; Redis keeps it only if it is
     * newer than what it has (rds_latest), as point_latest does */
    char key[64];
    snprintf(key, sizeof key, RDS_LATEST_PREFIX "%lld", (long long)w->enterprise_id);
    for (size_t i = 0; i < w->n_items; i++) {
        if (!w->point_ids[i] || w->server_code[i])
            continue;
        const ing_reading *r = &w->batch->readings[i];
        int newest = 1;
        for (size_t k = i + 1; k < w->n_items && newest; k++)
            if (w->point_ids[k] == w->point_ids[i] && w->batch->readings[k].ts_us > r->ts_us)
                newest = 0;
        if (!newest)
            continue;
        /* %.17g: the API answers from this value as from PostgreSQL's, so it
         * must parse back to the same double */
        char val[96];
        snprintf(val, sizeof val, "{\"ts_us\":%lld,\"v\":%.17g,\"q\":%d}", (long long)r->ts_us,
                 r->value, r->quality);
        rds_latest(key, r->point, (long long)r->ts_us, val);
    }
}

static void process_group(db_conn *c, ing_job *jobs, const ing_limits *lim)
{
    size_t n = 0;
    for (ing_job *j = jobs; j; j = j->next)
        n++;
    wjob *ws = calloc(n, sizeof *ws);
    group_ctx g = {.ws = ws, .n = n};
    if (!ws) {
        for (ing_job *j = jobs; j; j = j->next)
            fail_job(j, 503, "overloaded", "retry later", "out of memory");
        complete(jobs);
        return;
    }
    size_t k = 0;
    for (ing_job *j = jobs; j; j = j->next)
        ws[k++].job = j;

    int db_ok = db_ensure(c) == 0;
    for (size_t j = 0; j < n && db_ok; j++) {
        int rc = authenticate_and_decode(c, &ws[j], lim);
        if (rc < 0)
            db_ok = 0;
        else if (rc > 0)
            ws[j].finished = 1;
    }
    PGresult *points = NULL;
    if (db_ok) {
        points = resolve_points(c, ws, n, &g.bufs[0]);
        db_ok = points != NULL;
    }
    if (db_ok)
        db_ok = ensure_partitions(c, ws, n) == 0;
    db_status st = DB_HARD;
    if (db_ok)
        st = db_run_tx(c, NULL, write_group, &g);
    if (st == DB_BAD && n > 1) {
        /* one job's data broke the group: retry each alone so the others
         * are not punished for it */
        for (size_t j = 0; j < n; j++) {
            if (ws[j].finished)
                continue;
            group_ctx one = {.ws = &ws[j], .n = 1};
            db_status s1 = db_run_tx(c, NULL, write_group, &one);
            for (int b = 0; b < 6; b++)
                free(one.bufs[b].p);
            if (s1 == DB_OK) {
                publish(&ws[j]);
                alarm_pub_flush();
            } else if (s1 == DB_BAD)
                fail_job(ws[j].job, 422, "unprocessable", "the batch breaks a database rule",
                         "see the server log for the request id");
            else
                fail_db(ws[j].job);
            ws[j].finished = 1;
        }
        st = DB_OK;
    }
    for (size_t j = 0; j < n; j++) {
        if (ws[j].finished)
            continue;
        if (st == DB_OK)
            publish(&ws[j]);
        else
            fail_db(ws[j].job);
    }
    if (st == DB_OK)
        alarm_pub_flush();
    if (st == DB_HARD || !db_ok)
        db_health_poke();
    PQclear(points);
    for (size_t j = 0; j < n; j++) {
        ing_batch_free(ws[j].batch);
        free(ws[j].point_ids);
        free(ws[j].server_code);
    }
    for (int b = 0; b < 6; b++)
        free(g.bufs[b].p);
    free(ws);
    complete(jobs);
}

static size_t approx_items(const ing_job *j)
{
    /* a reading is at least ~40 bytes of JSON: a cheap upper bound */
    return j->body_len / 40 + 1;
}

static void *writer_main(void *arg)
{
    (void)arg;
    ing_limits lim;
    ing_limits_default(&lim);
    lim.max_items = (size_t)g_config.ingest_max_items;
    char err[512];
    db_conn *c = db_connect_scoped(g_config.database_url, "system", err, sizeof err);
    if (!c)
        LOG_WARN("ingest writer starts without a database", "detail=%s",
                 srv_log_q((char[600]){0}, 600, err));
    for (;;) {
        pthread_mutex_lock(&Q.mu);
        while (Q.running && !Q.head)
            pthread_cond_wait(&Q.cv, &Q.mu);
        if (!Q.head) {
            pthread_mutex_unlock(&Q.mu);
            break;
        }
        /* take a group: everything waiting, within limits */
        ing_job *group = Q.head, *last = Q.head;
        size_t items = approx_items(last);
        int n = 1;
        while (last->next && n < GROUP_MAX_JOBS &&
               items + approx_items(last->next) <= GROUP_MAX_ITEMS) {
            last = last->next;
            items += approx_items(last);
            n++;
        }
        Q.head = last->next;
        if (!Q.head)
            Q.tail = NULL;
        last->next = NULL;
        Q.queued -= n;
        pthread_mutex_unlock(&Q.mu);

        if (!c) {
            c = db_connect_scoped(g_config.database_url, "system", err, sizeof err);
            if (!c) {
                for (ing_job *j = group; j; j = j->next)
                    fail_db(j);
                complete(group);
                continue;
            }
        }
        process_group(c, group, &lim);
    }
    db_close(c);
    return NULL;
}

int ing_writer_start(struct event_base *base, ing_done_fn done, int n_writers)
{
    if (ing_crypto_init() != 0)
        return -1;
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    alarm_register_statements();
    Q.done_fn = done;
    Q.done_ev = event_new(base, -1, 0, on_done, NULL);
    if (!Q.done_ev)
        return -1;
    Q.running = 1;
    if (n_writers < 1)
        n_writers = 1;
    if (n_writers > MAX_WRITERS)
        n_writers = MAX_WRITERS;
    for (int i = 0; i < n_writers; i++) {
        if (pthread_create(&Q.threads[i], NULL, writer_main, NULL) != 0)
            break;
        Q.n_threads++;
    }
    return Q.n_threads > 0 ? 0 : -1;
}

void ing_writer_stop(void)
{
    pthread_mutex_lock(&Q.mu);
    Q.running = 0;
    pthread_cond_broadcast(&Q.cv);
    pthread_mutex_unlock(&Q.mu);
    for (int i = 0; i < Q.n_threads; i++)
        pthread_join(Q.threads[i], NULL);
    Q.n_threads = 0;
    /* replies the loop never sent: the loop is gone, so just free */
    pthread_mutex_lock(&Q.done_mu);
    ing_job *list = Q.done_head;
    Q.done_head = Q.done_tail = NULL;
    pthread_mutex_unlock(&Q.done_mu);
    while (list) {
        ing_job *nx = list->next;
        ing_job_free(list);
        list = nx;
    }
    if (Q.done_ev)
        event_free(Q.done_ev);
    Q.done_ev = NULL;
    free(Q.known_days);
    Q.known_days = NULL;
    Q.n_known_days = 0;
}
