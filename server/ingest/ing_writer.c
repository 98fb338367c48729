#include "ing_writer.h"

#include "alarm_rules.h"
#include "db_alarms.h"
#include "db_health.h"
#include "db_ingest.h"
#include "db_ingest_guard.h"
#include "ing_crypto.h"
#include "ing_dialect.h"
#include "ing_group.h"
#include "rds.h"
#include "srv_event.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <event2/event.h>
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
/* No sensor reports more, whatever range a point claims; it keeps every sum of
 * stored readings (2^31 of them per rollup row) far from overflowing a double. */
#define READING_MAX_MAGNITUDE 1e12
/* a job this big (approx_items) is committed in a group of its own: small
 * batches of other gateways never wait for its transaction */
#define BIG_JOB_ITEMS 2000

/* ---- queue ------------------------------------------------------------- *
 *
 * Fair between clients: every job has a lane (ing_job.lane: its credential,
 * else its IP) and each lane its own FIFO.  A writer builds its group taking
 * one job per lane in turn (round robin over the lanes that have work), a big
 * job only alone; and no lane may hold more than n_writers - 1 writers at once
 * (all of them with one writer), so one client's 10,000-item batches leave a
 * writer free for everybody else's one-reading requests. */
#define LANE_BUCKETS 256
typedef struct lane {
    struct lane *hnext; /* bucket of lanes[] */
    struct lane *rnext; /* the ring: lanes with queued jobs, in turn order */
    uint64_t key;
    ing_job *head, *tail;
    int queued;
    int busy; /* writers whose current group holds a job of this lane */
    int in_ring;
} lane;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lane *lanes[LANE_BUCKETS];
    lane *ring_head, *ring_tail;
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

static lane **lane_slot(uint64_t key)
{
    lane **pp = &Q.lanes[key % LANE_BUCKETS];
    while (*pp && (*pp)->key != key)
        pp = &(*pp)->hnext;
    return pp;
}

static void ring_push(lane *l)
{
    l->rnext = NULL;
    if (Q.ring_tail)
        Q.ring_tail->rnext = l;
    else
        Q.ring_head = l;
    Q.ring_tail = l;
    l->in_ring = 1;
}

static void ring_push_front(lane *l)
{
    l->rnext = Q.ring_head;
    Q.ring_head = l;
    if (!Q.ring_tail)
        Q.ring_tail = l;
    l->in_ring = 1;
}

static lane *ring_pop(void)
{
    lane *l = Q.ring_head;
    Q.ring_head = l->rnext;
    if (!Q.ring_head)
        Q.ring_tail = NULL;
    l->in_ring = 0;
    return l;
}

/* A lane with nothing queued and no writer is forgotten. */
static void lane_drop_if_idle(lane *l)
{
    if (l->queued || l->busy || l->in_ring)
        return;
    lane **pp = lane_slot(l->key);
    *pp = l->hnext;
    free(l);
}

int ing_writer_submit(ing_job *job)
{
    pthread_mutex_lock(&Q.mu);
    lane **pp = lane_slot(job->lane);
    if (!*pp && Q.running && Q.queued < g_config.ingest_queue_max) {
        *pp = calloc(1, sizeof **pp);
        if (*pp)
            (*pp)->key = job->lane;
    }
    lane *l = *pp;
    if (!l || !Q.running || Q.queued >= g_config.ingest_queue_max) {
        pthread_mutex_unlock(&Q.mu);
        return -1;
    }
    job->next = NULL;
    if (l->tail)
        l->tail->next = job;
    else
        l->head = job;
    l->tail = job;
    l->queued++;
    if (!l->in_ring)
        ring_push(l);
    Q.queued++;
    atomic_fetch_add(&Q.pending, 1);
    pthread_cond_broadcast(&Q.cv);
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

/* Whole-request failure, in the dialect's shape. */
static void fail_job(ing_job *job, ing_err e, const char *detail)
{
    free(job->reply);
    job->reply = job->dialect->reply_error(e, detail, &job->status);
    job->err_code = ing_err_code(e);
    int status = ing_err_status(e);
    if (status == 503 || status == 429)
        job->retry_after_s = status == 429 ? 1 : 2;
}

static void fail_db(ing_job *job)
{
    fail_job(job, ING_ERR_DB_UNAVAILABLE, "the batch was not stored");
}

/* ---- per-job working state (wjob, group_ctx: ing_group.h) -------------- */

/* conflicting readings kept apart since start, for the log */
static atomic_llong conflicts_total;

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
    if (ing_sha256(job->body, job->body_len, w->body_hash) != 0)
        crypto_hash_sha256(w->body_hash, (const unsigned char *)job->body, job->body_len);
    const ing_request req = {.kind = job->kind,
                             .body = job->body,
                             .body_len = job->body_len,
                             .secret = job->secret,
                             .peer = job->peer};
    ing_origin who = {0};
    ing_refusal why = {0};
    int rc = job->dialect->open(c, &req, lim, now_us(), &w->batch, &who, &why);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        fail_job(job, why.err, why.detail);
        if (why.retry_after_s > 0)
            job->retry_after_s = why.retry_after_s;
        return 1;
    }
    w->enterprise_id = who.enterprise_id;
    snprintf(w->enterprise_code, sizeof w->enterprise_code, "%s", who.enterprise_code);
    w->n_items = batch_items(w->batch);
    w->point_ids = calloc(w->n_items ? w->n_items : 1, sizeof *w->point_ids);
    w->server_code = calloc(w->n_items ? w->n_items : 1, sizeof *w->server_code);
    w->conflict = calloc(w->n_items ? w->n_items : 1, sizeof *w->conflict);
    w->stored_value = calloc(w->n_items ? w->n_items : 1, sizeof *w->stored_value);
    if (!w->point_ids || !w->server_code || !w->conflict || !w->stored_value) {
        fail_job(job, ING_ERR_OVERLOADED, "out of memory");
        return 1;
    }
    /* A reading repeating an earlier one's (point, instant) is judged by the
     * write: the same value is a duplicate, another value a conflict that is
     * kept (reading_conflicts) - in one request as across requests.  The
     * decoder's duplicate_in_batch stays for events and videos. */
    if (w->batch->kind == ING_KIND_READINGS)
        for (size_t i = 0; i < w->n_items; i++)
            if (w->batch->readings[i].reject == ING_REJ_DUPLICATE_IN_BATCH)
                w->batch->readings[i].reject = ING_REJ_NONE;
    return 0;
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

/* A bound the point sets itself is the sensor's (checked before, out_of_range);
 * where it sets none, the kind's physical plausibility range applies. */
static int plausible(const db_ingest_point *pi, double v)
{
    if (v > READING_MAX_MAGNITUDE || v < -READING_MAX_MAGNITUDE)
        return 0;
    return (pi->has_min || v >= pi->plausible_min) && (pi->has_max || v <= pi->plausible_max);
}

/* Resolves every point code of the group with one query and marks items
 * whose point is unknown, another enterprise's, disabled, or whose value is
 * outside the sensor's physical range.  Returns the points (caller frees,
 * they back nothing the jobs keep) or NULL on database trouble. */
static db_ingest_points *resolve_points(db_conn *c, wjob *ws, size_t n)
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
    db_ingest_points *pts = NULL;
    db_status st = db_ingest_points_resolve(c, codes, k, &pts);
    free(codes);
    if (st != DB_OK)
        return NULL;
    int64_t oldest_us =
        now_us() - (int64_t)g_config.readings_retention_days * 86400 * (int64_t)1000000;
    /* Days below the horizon are packed (migration 0137): their partitions are dropped or
     * being emptied, and an instant must never be stored in both layouts.  Should a pack
     * step move the horizon between this read and the group's insert, the partition's
     * trigger refuses the insert and the batch is answered 503; its retry reads the new
     * horizon. */
    int64_t packed_us = db_ingest_points_packed_before_us(pts);
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
            const db_ingest_point *pi = db_ingest_points_find(pts, item_point(w->batch, i));
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
            } else if (w->batch->kind == ING_KIND_READINGS &&
                       !plausible(pi, w->batch->readings[i].value)) {
                set_item_reject(w->batch, i, ING_REJ_IMPLAUSIBLE);
            } else if ((w->batch->kind == ING_KIND_READINGS
                            ? w->batch->readings[i].ts_us
                            : w->batch->events[i].ts_us) < oldest_us) {
                w->server_code[i] = "too_old";
            } else if (w->batch->kind == ING_KIND_READINGS &&
                       w->batch->readings[i].ts_us < packed_us) {
                w->server_code[i] = "day_packed";
            } else {
                w->point_ids[i] = pi->id;
            }
        }
    }
    return pts;
}

/* Video alarms name a camera as readings name a point: one that is not registered for the
 * enterprise is rejected per item (unknown_camera), a disabled one too (camera_disabled),
 * and neither is stored or raises an alarm.  One query for the group.  0, or -1 on
 * database trouble. */
static int resolve_cameras(db_conn *c, wjob *ws, size_t n)
{
    size_t total = 0;
    for (size_t j = 0; j < n; j++)
        if (!ws[j].finished && ws[j].batch->kind == ING_KIND_VIDEOS)
            total += ws[j].n_items;
    if (total == 0)
        return 0;
    int64_t *ents = malloc(total * sizeof *ents);
    const char **codes = malloc(total * sizeof *codes);
    int *state = malloc(total * sizeof *state);
    int rc = -1;
    if (!ents || !codes || !state)
        goto out;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (ws[j].finished || ws[j].batch->kind != ING_KIND_VIDEOS)
            continue;
        for (size_t i = 0; i < ws[j].n_items; i++) {
            ents[k] = ws[j].enterprise_id;
            codes[k++] = ws[j].batch->videos[i].camera; /* NULL when missing: never found */
        }
    }
    if (db_ingest_cameras_resolve(c, ents, codes, k, state) != DB_OK)
        goto out;
    k = 0;
    for (size_t j = 0; j < n; j++) {
        if (ws[j].finished || ws[j].batch->kind != ING_KIND_VIDEOS)
            continue;
        for (size_t i = 0; i < ws[j].n_items; i++, k++) {
            ing_video *v = &ws[j].batch->videos[i];
            if (v->reject != ING_REJ_NONE)
                continue;
            if (state[k] == 0)
                v->reject = ING_REJ_UNKNOWN_CAMERA;
            else if (state[k] == 2)
                v->reject = ING_REJ_CAMERA_DISABLED;
        }
    }
    rc = 0;
out:
    free(ents);
    free(codes);
    free(state);
    return rc;
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
        if (db_ingest_ensure_partition(c, days[d]) != DB_OK)
            return -1;
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

static int64_t item_ts_us(const ing_batch *b, size_t i)
{
    return b->kind == ING_KIND_READINGS ? b->readings[i].ts_us
           : b->kind == ING_KIND_EVENTS ? b->events[i].ts_us
                                        : b->videos[i].ts_us;
}

/* Items rejected for clock skew (future_timestamp) are counted per enterprise, day,
 * dialect and gateway (db_ingest_guard_skew), in the batch's transaction. */
static db_status count_skew(db_conn *c, const wjob *w)
{
    long n = 0;
    double max_ahead = 0, last_ahead = 0;
    int64_t now = now_us();
    for (size_t i = 0; i < w->n_items; i++) {
        if (item_reject(w->batch, i) != ING_REJ_FUTURE_TIMESTAMP)
            continue;
        last_ahead = (double)(item_ts_us(w->batch, i) - now) / 1e6;
        if (n++ == 0 || last_ahead > max_ahead)
            max_ahead = last_ahead;
    }
    if (n == 0)
        return DB_OK;
    return db_ingest_guard_skew(c, w->enterprise_id, w->job->dialect->name, w->batch->gateway_code,
                                n, max_ahead, last_ahead);
}

/* The fixed text of a reject the writer decides (server_code). */
static const char *server_message(const char *code)
{
    if (strcmp(code, "day_packed") == 0)
        return "the reading's UTC day is older than readings_pack_after_days and already packed: "
               "readings can no longer be added to it";
    return "older than the readings retention period";
}

/* The answer to a processed batch (also what an Idempotency-Key replays). */
static void build_reply(wjob *w)
{
    ing_job *job = w->job;
    ing_item_error *errors = calloc(w->n_items ? w->n_items : 1, sizeof *errors);
    if (!errors) {
        fail_job(job, ING_ERR_OVERLOADED, "out of memory");
        return;
    }
    /* a clock-skew reject says how far ahead the item was, so the gateway's
     * clock can be fixed (the other messages are fixed texts) */
    enum { SKEW_MSG = 160 };
    char(*skew_msg)[SKEW_MSG] = NULL;
    ing_limits lim;
    ing_limits_default(&lim);
    int64_t now = now_us();
    size_t n_errors = 0;
    for (size_t i = 0; i < w->n_items; i++) {
        ing_reject rj = item_reject(w->batch, i);
        const char *code = rj != ING_REJ_NONE ? ing_reject_code(rj) : w->server_code[i];
        if (!code)
            continue;
        const char *message = rj != ING_REJ_NONE ? ing_reject_message(rj) : server_message(code);
        if (rj == ING_REJ_FUTURE_TIMESTAMP) {
            if (!skew_msg)
                skew_msg = calloc(w->n_items, sizeof *skew_msg);
            if (skew_msg) {
                snprintf(skew_msg[n_errors], SKEW_MSG,
                         "the timestamp is %lld s ahead of the server clock, at most %lld s "
                         "are allowed: set the gateway's clock",
                         (long long)((item_ts_us(w->batch, i) - now) / 1000000),
                         (long long)(lim.max_future_us / 1000000));
                message = skew_msg[n_errors];
            }
        }
        errors[n_errors++] = (ing_item_error){
            .index = i,
            .ref = w->batch->kind == ING_KIND_VIDEOS ? w->batch->videos[i].camera
                                                     : item_point(w->batch, i),
            .code = code,
            .message = message,
        };
    }
    w->rejected = (long)n_errors;
    ing_item_conflict *conflicts = NULL;
    size_t n_conflicts = 0;
    if (w->conflicting > 0) {
        conflicts = calloc((size_t)w->conflicting, sizeof *conflicts);
        if (!conflicts) {
            free(errors);
            fail_job(job, ING_ERR_OVERLOADED, "out of memory");
            return;
        }
        for (size_t i = 0; i < w->n_items && n_conflicts < (size_t)w->conflicting; i++)
            if (w->conflict[i])
                conflicts[n_conflicts++] = (ing_item_conflict){
                    .index = i,
                    .ref = w->batch->readings[i].point,
                    .ts_us = w->batch->readings[i].ts_us,
                    .value = w->batch->readings[i].value,
                    .stored_value = w->stored_value[i],
                };
    }
    const ing_outcome o = {.n_items = w->n_items,
                           .accepted = w->accepted,
                           .duplicate = w->duplicate,
                           .rejected = w->rejected,
                           .errors = errors,
                           .n_errors = n_errors,
                           .conflicting = w->conflicting,
                           .conflicts = conflicts,
                           .n_conflicts = n_conflicts};
    free(job->reply);
    job->reply = job->dialect->reply_outcome(&o, &job->status);
    free(errors);
    free(skew_msg);
    free(conflicts);
}

/* Steps *i on to the next reading or event of the job that is stored (it
 * has a point and no server-side reject); 0 when none is left. */
static int next_stored(const wjob *w, size_t *i)
{
    while (*i < w->n_items && (!w->point_ids[*i] || w->server_code[*i]))
        ++*i;
    return *i < w->n_items;
}

/* Writes the job's accepted items.  Runs inside the group transaction. */
static db_status write_items(db_conn *c, group_ctx *g, wjob *w)
{
    ing_batch *bt = w->batch;
    size_t valid = 0;
    for (size_t i = 0; i < w->n_items; i++)
        if (item_reject(bt, i) == ING_REJ_NONE && !w->server_code[i])
            valid++;
    w->accepted = w->duplicate = w->conflicting = 0;
    memset(w->conflict, 0, w->n_items * sizeof *w->conflict);
    if (valid == 0)
        return DB_OK;
    db_status st = DB_OK;
    const char *source = w->job->dialect->name;
    if (bt->kind == ING_KIND_READINGS) {
        db_ingest_reading *rows = malloc(valid * sizeof *rows);
        if (!rows)
            return DB_HARD;
        size_t n = 0;
        for (size_t i = 0; next_stored(w, &i); i++) {
            const ing_reading *r = &bt->readings[i];
            rows[n++] = (db_ingest_reading){.point_id = w->point_ids[i],
                                            .ts_us = r->ts_us,
                                            .value = r->value,
                                            .quality = r->quality,
                                            .item_index = (int)i};
        }
        const db_ingest_batch_ref ref = {.source = source,
                                         .body_sha256 = w->body_hash,
                                         .request_id = w->job->req_id,
                                         .idem_key = w->job->idem_key};
        w->fresh = !g->no_fresh && ing_group_all_newer(g, rows, n);
        /* on the conflict-free path queued: a refusal sets w->fresh -1 later (run_group) */
        st = db_ingest_store_readings(c, w->enterprise_id, &ref, rows, n, &w->fresh, &w->accepted,
                                      &w->conflicting);
        if (st == DB_OK)
            ing_group_move_latest(g, rows, n);
        for (size_t k = 0; st == DB_OK && k < n; k++)
            if (rows[k].conflict) {
                w->conflict[rows[k].item_index] = 1;
                w->stored_value[rows[k].item_index] = rows[k].stored_value;
            }
        free(rows);
    } else if (bt->kind == ING_KIND_EVENTS) {
        db_ingest_event *rows = malloc(valid * sizeof *rows);
        if (!rows)
            return DB_HARD;
        size_t n = 0;
        for (size_t i = 0; next_stored(w, &i); i++) {
            const ing_event *ev = &bt->events[i];
            rows[n++] = (db_ingest_event){.point_id = w->point_ids[i],
                                          .ts_us = ev->ts_us,
                                          .level = ing_event_level_name(ev->level),
                                          .value = ev->value,
                                          .threshold = ev->threshold,
                                          .has_value = ev->has_value,
                                          .has_threshold = ev->has_threshold,
                                          .content = ev->content};
        }
        st = db_ingest_insert_events(c, w->enterprise_id, source, rows, n, &w->accepted);
        free(rows);
    } else {
        for (size_t i = 0; i < w->n_items && st == DB_OK; i++) {
            const ing_video *v = &bt->videos[i];
            if (v->reject != ING_REJ_NONE || w->server_code[i])
                continue;
            int inserted = 0;
            st = db_ingest_insert_video(c, w->enterprise_id, source, v->camera, v->ts_us,
                                        v->alarm_type, v->content, v->img, v->img_len, &inserted);
            w->accepted += inserted;
        }
    }
    if (st != DB_OK)
        return st;
    /* alarms commit with the readings that raised them, or not at all; a
     * conflicting value is not a reading and raises nothing */
    const int64_t *alarm_points = w->point_ids;
    int64_t *stored_points = NULL;
    if (w->conflicting > 0) {
        stored_points = malloc(w->n_items * sizeof *stored_points);
        if (!stored_points)
            return DB_HARD;
        for (size_t i = 0; i < w->n_items; i++)
            stored_points[i] = w->conflict[i] ? 0 : w->point_ids[i];
        alarm_points = stored_points;
    }
    st = alarm_apply_batch(c, w->enterprise_id, bt, alarm_points, w->server_code, now_us());
    free(stored_points);
    if (st != DB_OK)
        return st;
    w->duplicate = (long)valid - w->accepted - w->conflicting;
    return DB_OK;
}

/* The group's last statement: the answers its Idempotency-Keys replay, and every
 * authenticated batch of the group is a sign of life of its gateway (server/README.md,
 * "Ingest": which gateway a batch counts for). */
static db_status finish_group(db_conn *c, const group_ctx *g)
{
    int64_t *ents = malloc((g->n ? g->n : 1) * sizeof *ents);
    const char **codes = malloc((g->n ? g->n : 1) * sizeof *codes);
    db_ingest_answer *answers = malloc((g->n ? g->n : 1) * sizeof *answers);
    db_status st = DB_HARD;
    if (ents && codes && answers) {
        size_t k = 0, a = 0;
        for (size_t j = 0; j < g->n; j++) {
            const wjob *w = &g->ws[j];
            if (w->finished || !w->batch)
                continue;
            ents[k] = w->enterprise_id;
            codes[k++] = w->batch->gateway_code;
            if (!w->skip_write && w->job->idem_key)
                answers[a++] = (db_ingest_answer){w->enterprise_id, w->job->idem_key,
                                                  w->job->status, w->job->reply};
        }
        st = db_ingest_finish(c, answers, a, ents, codes, k);
    }
    free(ents);
    free(codes);
    free(answers);
    return st;
}

static db_status write_group(db_conn *c, void *arg)
{
    group_ctx *g = arg;
    db_status st;
    alarm_pub_reset(); /* a retried attempt must not publish the failed one's alarms */
    st = ing_group_lock_points(c, g);
    if (st != DB_OK)
        return st;
    /* every Idempotency-Key of the group before any item, in the jobs' (lock) order and
     * each once (a repeat finds the group's own row: in use or reused, as across groups);
     * sent with the locks and read in the same round trip (db_conn_pipeline) */
    db_ingest_claim *keys = calloc(g->n ? g->n : 1, sizeof *keys);
    size_t nk = 0;
    if (!keys)
        return DB_HARD;
    for (size_t j = 0; j < g->n; j++) {
        wjob *w = &g->ws[j];
        w->skip_write = 0;
        w->claimed = 0;
        if (w->finished)
            continue;
        w->job->idem_replayed = 0;
        if (w->job->idem_key && !(nk > 0 && keys[nk - 1].enterprise_id == w->enterprise_id &&
                                  strcmp(keys[nk - 1].key, w->job->idem_key) == 0))
            keys[nk++] = (db_ingest_claim){w->enterprise_id, w->job->idem_key, w->body_hash, 0};
    }
    st = db_ingest_idem_claim(c, keys, nk);
    if (st == DB_OK)
        st = db_flush(c);
    for (size_t j = 0, k = 0; st == DB_OK && j < g->n; j++) {
        wjob *w = &g->ws[j];
        if (w->finished || !w->job->idem_key)
            continue;
        while (k < nk && (keys[k].enterprise_id != w->enterprise_id ||
                          strcmp(keys[k].key, w->job->idem_key) != 0))
            k++;
        /* the first job of a key gets its claim */
        if (k < nk) {
            w->claimed = keys[k].claimed;
            keys[k].claimed = 0;
        }
    }
    free(keys);
    if (st == DB_OK)
        st = ing_group_locked(g);
    if (st != DB_OK)
        return st;
    for (size_t j = 0; j < g->n; j++) {
        wjob *w = &g->ws[j];
        if (!w->finished && w->job->idem_key) {
            if (!w->claimed) {
                db_ingest_idem prev;
                int found = 0;
                st = db_ingest_idem_get(c, w->enterprise_id, w->job->idem_key, w->body_hash, &prev,
                                        &found);
                if (st != DB_OK)
                    return st;
                if (!found)
                    return DB_SOFT; /* raced with an expiry purge: run again */
                free(w->job->reply);
                w->job->reply = NULL;
                if (!prev.same_body) {
                    fail_job(w->job, ING_ERR_IDEMPOTENCY_KEY_REUSED,
                             "this key was used for a different body");
                } else if (!prev.has_answer) {
                    fail_job(w->job, ING_ERR_IDEMPOTENCY_KEY_IN_USE,
                             "concurrent request with the same key");
                } else {
                    w->job->status = prev.status;
                    w->job->reply = prev.response;
                    prev.response = NULL;
                    w->job->idem_replayed = 1;
                }
                free(prev.response);
                w->skip_write = 1;
            }
        }
    }
    for (size_t j = 0; j < g->n; j++) {
        wjob *w = &g->ws[j];
        if (w->finished || w->skip_write)
            continue;
        st = write_items(c, g, w);
        if (st == DB_OK)
            st = count_skew(c, w);
        if (st != DB_OK)
            return st;
        build_reply(w);
    }
    /* the rule states the jobs left in the group's copy, then the answers and gateways */
    st = alarm_group_flush(c);
    return st == DB_OK ? finish_group(c, g) : st;
}

/* Conflicting values are stored apart and answered per item in the JSON
 * dialects; a Hebei answer has no room for that, so every dialect's
 * conflicts are logged too (after the commit: what the line says is stored). */
static void log_conflicts(const wjob *w)
{
    long long total = atomic_fetch_add(&conflicts_total, w->conflicting) + w->conflicting;
    size_t first = 0;
    while (first < w->n_items && !w->conflict[first])
        first++;
    if (first == w->n_items)
        return;
    const ing_reading *r = &w->batch->readings[first];
    char q[200];
    LOG_INFO("conflicting readings kept apart",
             "req=%llu source=%s enterprise=%s conflicts=%ld conflicts_total=%lld point=%s "
             "ts_us=%lld value=%.17g stored_value=%.17g",
             (unsigned long long)w->job->req_id, w->job->dialect->name, w->enterprise_code,
             w->conflicting, total, srv_log_q(q, sizeof q, r->point), (long long)r->ts_us, r->value,
             w->stored_value[first]);
}

SRV_METRIC_COUNTER(m_items, "dustwatch_ingest_items_total",
                   "Readings, events and video alarms of committed ingest batches by dialect and "
                   "outcome (accepted: stored; duplicate: already stored; conflicting: kept apart; "
                   "rejected: refused per item).",
                   "dialect", "outcome")
SRV_METRIC_COUNTER(
    m_rejections, "dustwatch_ingest_rejections_total",
    "Ingest refusals by dialect (none: no ingest endpoint) and reason: scope request "
    "is a whole request refused (its error code), scope item one rejected reading, "
    "event or video alarm of a committed batch (its item code).",
    "dialect", "scope", "reason")

void ing_writer_count_refusal(const char *dialect, const char *code)
{
    srv_metric_add(&m_rejections, 1, dialect, "request", code);
}
SRV_METRIC_HISTOGRAM(m_commit_items, "dustwatch_ingest_commit_batch_items",
                     "Items written by one committed writer transaction (group commit).",
                     srv_metric_size_buckets, NULL)
SRV_METRIC_HISTOGRAM(m_commit_jobs, "dustwatch_ingest_commit_batch_requests",
                     "Requests answered by one committed writer transaction (group commit).",
                     srv_metric_size_buckets, NULL)
SRV_METRIC_COUNTER(m_readings_path, "dustwatch_ingest_readings_path_total",
                   "Committed readings batches by how they were stored (fresh: all newer than "
                   "their points' latest, no duplicate check; on_conflict: checked for "
                   "duplicates and conflicts), and group transactions redone on the "
                   "on_conflict path because a stored reading refused the fresh one (refused).",
                   "path")
SRV_METRIC_COUNTER(m_commits, "dustwatch_ingest_commits_total",
                   "Writer group transactions by result (failed: every request answered 503).",
                   "result")

/* After the commit, once per job: what it stored and rejected. */
static void count_items(const wjob *w)
{
    const char *d = w->job->dialect->name;
    srv_metric_add(&m_items, (double)w->accepted, d, "accepted");
    srv_metric_add(&m_items, (double)w->duplicate, d, "duplicate");
    srv_metric_add(&m_items, (double)w->conflicting, d, "conflicting");
    srv_metric_add(&m_items, (double)w->rejected, d, "rejected");
    if (w->batch->kind == ING_KIND_READINGS && w->accepted + w->duplicate + w->conflicting > 0)
        srv_metric_add(&m_readings_path, 1, w->fresh > 0 ? "fresh" : "on_conflict");
    for (size_t i = 0; i < w->n_items && w->rejected > 0; i++) {
        ing_reject rj = item_reject(w->batch, i);
        const char *code = rj != ING_REJ_NONE ? ing_reject_code(rj) : w->server_code[i];
        if (code)
            srv_metric_add(&m_rejections, 1, d, "item", code);
    }
}

/* Redis gets the news only after the commit; it is never the only copy. */
static void publish(wjob *w)
{
    if (w->job->idem_replayed)
        return;
    count_items(w);
    if (w->conflicting > 0)
        log_conflicts(w);
    if (w->accepted <= 0)
        return;
    srv_event e = {.type = "ingest", .action = "accepted", .enterprise_id = w->enterprise_id};
    json_t *fields = json_pack("{s:s, s:s, s:I}", "enterprise", w->enterprise_code, "kind",
                               w->batch->kind == ING_KIND_READINGS ? "readings"
                               : w->batch->kind == ING_KIND_EVENTS ? "events"
                                                                   : "videos",
                               "accepted", (json_int_t)w->accepted);
    srv_event_publish(&e, fields);
    json_decref(fields);
    if (w->batch->kind != ING_KIND_READINGS)
        return;
    /* newest value per point of this batch; Redis keeps it only if it is
     * newer than what it has (rds_latest), as point_latest does */
    char key[RDS_LATEST_KEY_LEN];
    rds_latest_key(key, (long long)w->enterprise_id);
    /* all of the job's points in one command (one script run in Redis) */
    const char **names = malloc(w->n_items * sizeof *names);
    const char **values = malloc(w->n_items * sizeof *values);
    long long *ts = malloc(w->n_items * sizeof *ts);
    char(*vals)[RDS_LATEST_VALUE_LEN] = malloc(w->n_items * sizeof *vals);
    size_t n = 0;
    for (size_t i = 0; names && values && ts && vals && i < w->n_items; i++) {
        if (!w->point_ids[i] || w->server_code[i] || w->conflict[i])
            continue;
        const ing_reading *r = &w->batch->readings[i];
        int newest = 1;
        for (size_t k = i + 1; k < w->n_items && newest; k++)
            if (w->point_ids[k] == w->point_ids[i] && !w->conflict[k] &&
                w->batch->readings[k].ts_us > r->ts_us)
                newest = 0;
        if (!newest)
            continue;
        rds_latest_value(vals[n], (long long)r->ts_us, r->value, r->quality);
        names[n] = r->point;
        values[n] = vals[n];
        ts[n++] = (long long)r->ts_us;
    }
    if (names && values && ts && vals)
        rds_latest_many(key, n, names, ts, values);
    else /* out of memory: one command per point, as the hash must not miss them */
        for (size_t i = 0; i < w->n_items; i++) {
            if (!w->point_ids[i] || w->server_code[i] || w->conflict[i])
                continue;
            const ing_reading *r = &w->batch->readings[i];
            char val[RDS_LATEST_VALUE_LEN];
            rds_latest_value(val, (long long)r->ts_us, r->value, r->quality);
            rds_latest(key, r->point, (long long)r->ts_us, val);
        }
    free(names);
    free(values);
    free(ts);
    free(vals);
}

/* Jobs write in (enterprise, Idempotency-Key) order: what they lock per
 * enterprise (keys, the risk recompute request) is then taken in the same
 * order by every writer. */
static int cmp_lock_order(const void *a, const void *b)
{
    const wjob *x = a, *y = b;
    if (x->enterprise_id != y->enterprise_id)
        return x->enterprise_id < y->enterprise_id ? -1 : 1;
    const char *kx = x->job->idem_key ? x->job->idem_key : "";
    const char *ky = y->job->idem_key ? y->job->idem_key : "";
    int c = strcmp(kx, ky);
    if (c != 0)
        return c;
    return (x->order > y->order) - (x->order < y->order);
}

/* Whether a conflict-free insert of the group was refused (it marks every job it held). */
static int fresh_refused(const group_ctx *g)
{
    for (size_t j = 0; j < g->n; j++)
        if (!g->ws[j].finished && g->ws[j].fresh < 0)
            return 1;
    return 0;
}

/* The group's transaction; when the conflict-free insert was refused by a
 * stored reading, the whole of it once more on the ON CONFLICT path (the
 * refusal aborted the transaction: nothing of the first attempt is kept). */
static db_status run_group(db_conn *c, group_ctx *g)
{
    for (size_t j = 0; j < g->n; j++)
        g->ws[j].fresh = 0;
    db_status st = db_run_tx(c, NULL, write_group, g);
    if (st == DB_BAD && !g->no_fresh && fresh_refused(g)) {
        LOG_INFO("stored readings newer than point_latest, group written again on the ON "
                 "CONFLICT path",
                 "jobs=%zu", g->n);
        srv_metric_add(&m_readings_path, 1, "refused");
        g->no_fresh = 1;
        st = db_run_tx(c, NULL, write_group, g);
    }
    ing_group_free_points(g);
    return st;
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
            fail_job(j, ING_ERR_OVERLOADED, "out of memory");
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
    db_ingest_points *points = NULL;
    if (db_ok)
        db_ok = resolve_cameras(c, ws, n) == 0;
    if (db_ok) {
        points = resolve_points(c, ws, n);
        db_ok = points != NULL;
    }
    if (db_ok)
        db_ok = ensure_partitions(c, ws, n) == 0;
    for (size_t j = 0; j < n; j++)
        ws[j].order = j;
    qsort(ws, n, sizeof *ws, cmp_lock_order);
    db_status st = DB_HARD;
    if (db_ok)
        st = run_group(c, &g);
    if (st == DB_BAD && n > 1) {
        /* one job's data broke the group: retry each alone so the others
         * are not punished for it */
        for (size_t j = 0; j < n; j++) {
            if (ws[j].finished)
                continue;
            group_ctx one = {
                .ws = &ws[j], .n = 1, .no_fresh = g.no_fresh, .init_state = g.init_state};
            db_status s1 = run_group(c, &one);
            if (s1 == DB_OK) {
                publish(&ws[j]);
                alarm_pub_flush();
            } else if (s1 == DB_BAD)
                fail_job(ws[j].job, ING_ERR_UNPROCESSABLE, "see the server log for the request id");
            else
                fail_db(ws[j].job);
            ws[j].finished = 1;
        }
        st = DB_OK;
    }
    size_t group_items = 0, group_jobs = 0;
    for (size_t j = 0; j < n; j++) {
        if (ws[j].finished)
            continue;
        if (st == DB_OK) {
            publish(&ws[j]);
            group_items += ws[j].n_items;
            group_jobs++;
        } else
            fail_db(ws[j].job);
    }
    if (group_jobs > 0) {
        srv_metric_observe(&m_commit_items, (double)group_items);
        srv_metric_observe(&m_commit_jobs, (double)group_jobs);
    }
    if (db_ok)
        srv_metric_add(&m_commits, 1, st == DB_OK ? "ok" : "failed");
    if (st == DB_OK)
        alarm_pub_flush();
    if (st == DB_HARD || !db_ok)
        db_health_poke();
    db_ingest_points_free(points);
    for (size_t j = 0; j < n; j++) {
        ing_batch_free(ws[j].batch);
        free(ws[j].point_ids);
        free(ws[j].server_code);
        free(ws[j].conflict);
        free(ws[j].stored_value);
    }
    free(ws);
    complete(jobs);
}

static size_t approx_items(const ing_job *j)
{
    /* a reading is at least ~40 bytes of JSON: a cheap upper bound */
    return j->body_len / 40 + 1;
}

/* Under Q.mu: builds this writer's next group (NULL when no lane may give it
 * a job) and lists the lanes it holds in held (each one's busy counted). */
static ing_job *take_group(lane **held, size_t *n_held)
{
    int lane_cap = Q.n_threads > 1 ? Q.n_threads - 1 : 1;
    ing_job *group = NULL, *last = NULL;
    size_t items = 0;
    int n = 0, big = 0, progress = 1;
    *n_held = 0;
    while (progress && !big && n < GROUP_MAX_JOBS) {
        progress = 0;
        /* one pass over the ring: one job from each lane that may give one */
        lane *end = Q.ring_tail;
        while (Q.ring_head && !big && n < GROUP_MAX_JOBS) {
            lane *l = ring_pop();
            int mine = 0;
            for (size_t i = 0; i < *n_held && !mine; i++)
                mine = held[i] == l;
            size_t ai = approx_items(l->head);
            int may = mine || l->busy < lane_cap;
            if (may && n > 0 && (ai > BIG_JOB_ITEMS || items + ai > GROUP_MAX_ITEMS)) {
                /* the group is full for this job: it opens the next group, whatever
                 * else keeps coming */
                ring_push_front(l);
                return group;
            }
            if (may) {
                ing_job *j = l->head;
                l->head = j->next;
                if (!l->head)
                    l->tail = NULL;
                l->queued--;
                Q.queued--;
                j->next = NULL;
                if (last)
                    last->next = j;
                else
                    group = j;
                last = j;
                items += ai;
                big = ai > BIG_JOB_ITEMS;
                n++;
                progress = 1;
                if (!mine) {
                    l->busy++;
                    held[(*n_held)++] = l;
                }
            }
            int was_end = l == end;
            if (l->queued)
                ring_push(l); /* its turn comes again after the others */
            else
                lane_drop_if_idle(l);
            if (was_end)
                break;
        }
    }
    return group;
}

static void *writer_main(void *arg)
{
    (void)arg;
    ing_limits lim;
    ing_limits_default(&lim);
    lim.max_items = (size_t)g_config.ingest_max_items;
    char err[512];
    const db_timeouts timeouts = db_timeouts_configured(DB_FOR_REQUESTS);
    db_conn *c = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
    if (c)
        db_conn_pipeline(c, 1); /* statements that need no answer at once share round trips */
    else
        LOG_WARN("ingest writer starts without a database", "detail=%s",
                 srv_log_q((char[600]){0}, 600, err));
    lane *held[GROUP_MAX_JOBS]; /* lanes of the current group */
    for (;;) {
        pthread_mutex_lock(&Q.mu);
        ing_job *group = NULL;
        size_t n_held = 0;
        while (!(group = take_group(held, &n_held)) && (Q.running || Q.queued > 0))
            pthread_cond_wait(&Q.cv, &Q.mu);
        pthread_mutex_unlock(&Q.mu);
        if (!group)
            break;

        if (!c) {
            c = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
            if (c)
                db_conn_pipeline(c, 1);
            else {
                for (ing_job *j = group; j; j = j->next)
                    fail_db(j);
                complete(group);
                group = NULL;
            }
        }
        if (group)
            process_group(c, group, &lim);
        pthread_mutex_lock(&Q.mu);
        for (size_t i = 0; i < n_held; i++) {
            held[i]->busy--;
            lane_drop_if_idle(held[i]);
        }
        pthread_cond_broadcast(&Q.cv); /* a lane may take a writer again */
        pthread_mutex_unlock(&Q.mu);
    }
    db_close(c);
    return NULL;
}

int ing_writer_start(struct event_base *base, ing_done_fn done, int n_writers)
{
    if (ing_crypto_init() != 0)
        return -1;
    db_ingest_register();
    db_ingest_guard_register();
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
