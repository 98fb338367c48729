/* fwd_role.c — the forwarder thread (see fwd_role.h). */
#include "fwd_role.h"

#include "db.h"
#include "db_forward.h"
#include "fwd_encode.h"
#include "fwd_keys.h"
#include "srv_clock.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TARGETS   256
#define REPLY_MAX     (64 * 1024)
#define PRUNE_EVERY_S 30
#define RECONNECT_MS  2000
#define FWD_KINDS     4

static const char *const kind_names[FWD_KINDS] = {"readings", "events", "videos", "alarms"};

static int kind_index(const char *kind)
{
    for (int i = 0; i < FWD_KINDS; i++)
        if (kind && strcmp(kind, kind_names[i]) == 0)
            return i;
    return 0;
}

/* What the thread remembers of a target between passes (nothing of it is needed
 * for correctness after a restart: the watermark is in PostgreSQL). */
typedef struct {
    int64_t id;
    int used;
    int64_t next_try_us; /* backoff: not before (monotonic) */
    long backoff_ms;
    double tokens; /* rate limit: requests that may go now */
    int64_t refill_us;
    int64_t behind_since_us; /* 0: caught up at the last look */
    int forwarding;          /* enabled and locked at the last pass */
    /* a page of outbox rows partly delivered (a later request failed in transport):
     * the next attempt reads the same page (forward_targets.inflight_*) and resumes
     * at next_req, so answered requests are not sent again */
    int64_t page_first, page_last;
    unsigned char page_hash[16]; /* of its requests: a target edited meanwhile starts over */
    int inflight_set;
    size_t next_req;
    long sent[FWD_KINDS], acked[FWD_KINDS], refused[FWD_KINDS], requests[FWD_KINDS];
    json_t *dead; /* [{enterprise_id, kind, items, payload, http_status, code, reason}] */
} tstate;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, started;
    pthread_t thread;
    fwd_counts counts;
    tstate t[MAX_TARGETS];
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int still_running(void)
{
    pthread_mutex_lock(&F.mu);
    int r = F.running;
    pthread_mutex_unlock(&F.mu);
    return r;
}

static void nap(long ms)
{
    struct timespec ts = srv_clock_deadline(ms);
    pthread_mutex_lock(&F.mu);
    if (F.running)
        pthread_cond_timedwait(&F.cv, &F.mu, &ts);
    pthread_mutex_unlock(&F.mu);
}

static void count(long long sent, long long acked, long long refused, long long resent,
                  long long requests, long long failures)
{
    pthread_mutex_lock(&F.mu);
    F.counts.sent += sent;
    F.counts.acked += acked;
    F.counts.refused += refused;
    F.counts.resent += resent;
    F.counts.requests += requests;
    F.counts.failures += failures;
    pthread_mutex_unlock(&F.mu);
}

void fwd_stats(fwd_counts *out)
{
    pthread_mutex_lock(&F.mu);
    *out = F.counts;
    out->running = F.started;
    out->targets = 0;
    out->lag_s = 0;
    int64_t now = mono_us();
    for (size_t i = 0; i < MAX_TARGETS; i++) {
        const tstate *s = &F.t[i];
        if (!s->used || !s->forwarding)
            continue;
        out->targets++;
        if (s->behind_since_us && (now - s->behind_since_us) / 1e6 > out->lag_s)
            out->lag_s = (now - s->behind_since_us) / 1e6;
    }
    pthread_mutex_unlock(&F.mu);
}

/* the thread's slot of a target (the thread alone writes slots; fwd_stats reads
 * them under the mutex) */
static tstate *slot(int64_t id)
{
    tstate *free_slot = NULL;
    for (size_t i = 0; i < MAX_TARGETS; i++) {
        if (F.t[i].used && F.t[i].id == id)
            return &F.t[i];
        if (!F.t[i].used && !free_slot)
            free_slot = &F.t[i];
    }
    if (!free_slot)
        return NULL;
    pthread_mutex_lock(&F.mu);
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->used = 1;
    free_slot->id = id;
    pthread_mutex_unlock(&F.mu);
    return free_slot;
}

static void partial_reset(tstate *s)
{
    json_decref(s->dead);
    s->dead = NULL;
    s->page_first = s->page_last = 0;
    s->inflight_set = 0;
    s->next_req = 0;
    memset(s->sent, 0, sizeof s->sent);
    memset(s->acked, 0, sizeof s->acked);
    memset(s->refused, 0, sizeof s->refused);
    memset(s->requests, 0, sizeof s->requests);
}

/* ---- HTTP ---------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len;
} reply_buf;

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    reply_buf *r = arg;
    size_t add = size * n;
    if (r->len + add > REPLY_MAX)
        add = REPLY_MAX > r->len ? REPLY_MAX - r->len : 0;
    if (add) {
        char *nb = realloc(r->buf, r->len + add + 1);
        if (!nb)
            return 0;
        r->buf = nb;
        memcpy(r->buf + r->len, p, add);
        r->len += add;
        r->buf[r->len] = '\0';
    }
    return size * n;
}

/* POSTs body with its Idempotency-Key; the HTTP status (0: no answer, err says
 * why) and the reply. */
static long post(CURL *h, const char *url, const char *body, const char *appsecret,
                 const char *idem, reply_buf *r, char *err, size_t errlen)
{
    char header[128], key[160];
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(key, sizeof key, "Idempotency-Key: %s", idem);
    hdr = curl_slist_append(hdr, key);
    if (appsecret) {
        snprintf(header, sizeof header, "appsecret: %s", appsecret);
        hdr = curl_slist_append(hdr, header);
    }
    hdr = curl_slist_append(hdr, "Expect:");
    long timeout = g_config.forward_timeout_ms > 0 ? g_config.forward_timeout_ms : 10000;
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dustwatch-forward");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdr);
    sodium_memzero(header, sizeof header);
    return status;
}

/* ---- one target ---------------------------------------------------------------------- */

typedef struct {
    int64_t id;
    const char *name, *url, *dialect, *appid;
    int mem, batch_max, rate;
    fwd_keys keys;
    CURL *curl;
} target;

/* Waits for the rate limit's next token; 0, or -1 when stopping. */
static int take_token(tstate *s, int rate)
{
    for (;;) {
        int64_t now = mono_us();
        if (s->refill_us == 0) {
            s->tokens = rate;
            s->refill_us = now;
        }
        s->tokens += (now - s->refill_us) / 1e6 * rate;
        if (s->tokens > rate)
            s->tokens = rate;
        s->refill_us = now;
        if (s->tokens >= 1) {
            s->tokens -= 1;
            return 0;
        }
        nap((long)((1 - s->tokens) * 1000 / rate) + 1);
        if (!still_running())
            return -1;
    }
}

static void backoff(tstate *s)
{
    long lo = g_config.forward_retry_min_ms > 0 ? g_config.forward_retry_min_ms : 1000;
    long hi = g_config.forward_retry_max_ms > lo ? g_config.forward_retry_max_ms : lo;
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : lo;
    if (s->backoff_ms > hi)
        s->backoff_ms = hi;
    s->next_try_us = mono_us() + (int64_t)s->backoff_ms * 1000;
}

/* Sends one payload under its Idempotency-Key: the verdict, with the answer's
 * status (-1: not sent, the role is stopping), code and reason. */
static fwd_verdict send_payload(target *t, tstate *s, const json_t *payload, const char *idem,
                                int *http_status, int *code, char *reason, size_t reasonlen)
{
    char url[700], err[CURL_ERROR_SIZE + 32] = "";
    const char *kind = json_string_value(json_object_get(payload, "kind"));
    snprintf(url, sizeof url, "%s%s", t->url, fwd_path(t->mem, kind ? kind : "readings"));
    char *body = NULL;
    *http_status = 0;
    *code = -1;
    if (fwd_encode_body(&t->keys, t->appid, payload, &body) != 0) {
        snprintf(reason, reasonlen, "the request could not be encoded");
        return FWD_REFUSED;
    }
    if (take_token(s, t->rate) != 0) {
        free(body);
        snprintf(reason, reasonlen, "stopping");
        *http_status = -1;
        return FWD_RETRY;
    }
    reply_buf r = {NULL, 0};
    long st =
        post(t->curl, url, body, t->mem ? t->keys.appsecret : NULL, idem, &r, err, sizeof err);
    free(body);
    fwd_verdict v = fwd_classify(t->mem, st, r.buf, r.len, code, reason, reasonlen);
    if (st == 0)
        snprintf(reason, reasonlen, "no answer: %.300s", err);
    *http_status = (int)st;
    free(r.buf);
    return v;
}

/* The dead letters whose resend was requested.  0, or -1 after a transport failure. */
static int resends(db_conn *c, target *t, tstate *s)
{
    json_t *due = NULL;
    if (db_forward_resends_due(c, t->id, &due) != DB_OK)
        return -1;
    size_t i;
    json_t *d;
    int rc = 0;
    json_array_foreach(due, i, d)
    {
        int http = 0, code = -1;
        char reason[512];
        const char *kind = json_string_value(json_object_get(d, "kind"));
        int items = (int)json_integer_value(json_object_get(d, "items"));
        /* a key of its own per attempt that got an answer: the refused request's key
         * would replay the refusal; one per attempt, so a lost answer replays */
        char idem[96];
        snprintf(idem, sizeof idem, "dustwatch-fwd-%lld-dl-%lld-%lld", (long long)t->id,
                 (long long)json_integer_value(json_object_get(d, "id")),
                 (long long)json_integer_value(json_object_get(d, "resends")));
        fwd_verdict v = send_payload(t, s, json_object_get(d, "payload"), idem, &http, &code,
                                     reason, sizeof reason);
        if (v == FWD_RETRY && http < 0) {
            rc = -1;
            break;
        }
        if (v == FWD_RETRY) {
            db_forward_failure(c, t->id, kind, reason);
            count(0, 0, 0, 0, 0, 1);
            backoff(s);
            rc = -1;
            break;
        }
        s->backoff_ms = 0;
        if (db_forward_resend_result(c, t->id, json_integer_value(json_object_get(d, "id")), kind,
                                     items, v == FWD_ACK, http, code, reason,
                                     json_string_value(json_object_get(d, "requested_at"))) !=
            DB_OK) {
            rc = -1;
            break;
        }
        count(0, 0, 0, v == FWD_ACK ? items : 0, 1, 0);
    }
    json_decref(due);
    return rc;
}

/* Delivers one page of outbox rows (from where a failed attempt stopped) and
 * moves the watermark past it.  0, or -1 (transport failure or database: try later). */
static int deliver_page(db_conn *c, target *t, tstate *s, const json_t *page)
{
    size_t n = json_array_size(page);
    const json_t *last = json_array_get(page, n - 1);
    int64_t first_id = json_integer_value(json_object_get(json_array_get(page, 0), "id"));
    int64_t last_id = json_integer_value(json_object_get(last, "id"));
    const char *last_xid = json_string_value(json_object_get(last, "xid"));
    if (!last_xid)
        return -1;
    json_t *payloads = fwd_encode_page(t->mem, t->batch_max, page);
    if (!payloads) { /* our bug or out of memory: logged, passed (never wedge the target) */
        LOG_ERROR("forward page could not be encoded, skipped", "target=%lld rows=%lld-%lld",
                  (long long)t->id, (long long)first_id, (long long)last_id);
        payloads = json_array();
    }
    /* resuming at next_req is right only for the same requests: a target whose
     * batch size, selection or mapping changed since starts the page over (its
     * requests differ, so do their keys) */
    unsigned char hash[16];
    char *all = json_dumps(payloads, JSON_COMPACT);
    crypto_generichash(hash, sizeof hash, (const unsigned char *)(all ? all : ""),
                       all ? strlen(all) : 0, NULL, 0);
    free(all);
    if (s->page_first != first_id || s->page_last != last_id ||
        memcmp(s->page_hash, hash, sizeof hash) != 0) {
        int inflight = s->page_first == first_id && s->page_last == last_id && s->inflight_set;
        partial_reset(s);
        s->page_first = first_id;
        s->page_last = last_id;
        s->inflight_set = inflight;
        memcpy(s->page_hash, hash, sizeof hash);
        s->dead = json_array();
    }
    /* the page's end is kept before its first request: after a restart the same
     * rows make the same requests under the same keys */
    if (json_array_size(payloads) > 0 && !s->inflight_set) {
        if (db_forward_inflight(c, t->id, last_xid, last_id) != DB_OK) {
            json_decref(payloads);
            return -1;
        }
        s->inflight_set = 1;
    }
    for (size_t i = s->next_req; i < json_array_size(payloads); i++) {
        const json_t *p = json_array_get(payloads, i);
        int items = (int)json_integer_value(json_object_get(p, "items"));
        const char *kind = json_string_value(json_object_get(p, "kind"));
        int k = kind_index(kind);
        int http = 0, code = -1;
        char reason[512];
        /* the same request gets the same key on every attempt (the page, the batch
         * size, the index and a digest of the request fix it; another request never
         * has it): an upstream that keeps keys (dustwatch does) answers a resend whose
         * first answer was lost from what it stored, so events and video alarms, which
         * have no natural key, are not stored twice */
        unsigned char dig[8];
        char dighex[17], idem[140];
        char *canon = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        crypto_generichash(dig, sizeof dig, (const unsigned char *)(canon ? canon : ""),
                           canon ? strlen(canon) : 0, NULL, 0);
        free(canon);
        sodium_bin2hex(dighex, sizeof dighex, dig, sizeof dig);
        snprintf(idem, sizeof idem, "dustwatch-fwd-%lld-%lld-%lld-%d-%zu-%s", (long long)t->id,
                 (long long)first_id, (long long)last_id, t->batch_max, i, dighex);
        fwd_verdict v = send_payload(t, s, p, idem, &http, &code, reason, sizeof reason);
        if (v == FWD_RETRY && http < 0) {
            json_decref(payloads);
            return -1;
        }
        if (v == FWD_RETRY) {
            LOG_WARN("upstream failed, retrying later", "target=%lld reason=%s", (long long)t->id,
                     srv_log_q((char[600]){0}, 600, reason));
            db_forward_failure(c, t->id, kind ? kind : "readings", reason);
            count(0, 0, 0, 0, 0, 1);
            backoff(s);
            json_decref(payloads);
            return -1;
        }
        s->backoff_ms = 0;
        s->requests[k]++;
        s->sent[k] += items;
        if (v == FWD_ACK) {
            s->acked[k] += items;
        } else {
            s->refused[k] += items;
            char *text = json_dumps(p, JSON_COMPACT);
            json_array_append_new(
                s->dead, json_pack("{s:I, s:s, s:i, s:s, s:i, s:i, s:s}", "enterprise_id",
                                   json_integer_value(json_object_get(p, "enterprise_id")), "kind",
                                   kind_names[k], "items", items, "payload", text ? text : "{}",
                                   "http_status", http, "code", code, "reason", reason));
            free(text);
            LOG_WARN("upstream refused a request, dead-lettered", "target=%lld items=%d reason=%s",
                     (long long)t->id, items, srv_log_q((char[600]){0}, 600, reason));
        }
        s->next_req = i + 1;
    }
    json_decref(payloads);
    size_t nd = json_array_size(s->dead);
    db_forward_dead *dead = nd ? calloc(nd, sizeof *dead) : NULL;
    for (size_t i = 0; dead && i < nd; i++) {
        json_t *d = json_array_get(s->dead, i);
        dead[i] = (db_forward_dead){
            .enterprise_id = json_integer_value(json_object_get(d, "enterprise_id")),
            .kind = json_string_value(json_object_get(d, "kind")),
            .items = (int)json_integer_value(json_object_get(d, "items")),
            .payload = json_string_value(json_object_get(d, "payload")),
            .http_status = (int)json_integer_value(json_object_get(d, "http_status")),
            .upstream_code = (int)json_integer_value(json_object_get(d, "code")),
            .reason = json_string_value(json_object_get(d, "reason")),
        };
    }
    db_forward_kind_counts kc[FWD_KINDS];
    long sent = 0, acked = 0, refused = 0, requests = 0;
    for (int k = 0; k < FWD_KINDS; k++) {
        kc[k] = (db_forward_kind_counts){kind_names[k], s->sent[k], s->acked[k], s->refused[k],
                                         s->requests[k]};
        sent += s->sent[k];
        acked += s->acked[k];
        refused += s->refused[k];
        requests += s->requests[k];
    }
    db_forward_done done = {
        .xid = last_xid,
        .id = last_id,
        .kinds = kc,
        .n_kinds = FWD_KINDS,
        .dead = dead,
        .n_dead = dead ? nd : 0,
    };
    int moved = 0;
    db_status st = nd && !dead ? DB_HARD : db_forward_advance(c, t->id, &done, &moved);
    free(dead);
    if (st != DB_OK)
        return -1; /* the partial state stays: the next attempt sends nothing again */
    if (moved)
        count(sent, acked, refused, 0, requests, 0);
    partial_reset(s);
    return 0;
}

/* One pass over one target: 1 when it has more to send at once, 0 otherwise. */
static int pass_target(db_conn *c, CURL *curl, const json_t *j)
{
    target t = {
        .id = json_integer_value(json_object_get(j, "id")),
        .name = json_string_value(json_object_get(j, "name")),
        .url = json_string_value(json_object_get(j, "url")),
        .dialect = json_string_value(json_object_get(j, "dialect")),
        .appid = json_string_value(json_object_get(j, "appid")),
        .batch_max = (int)json_integer_value(json_object_get(j, "batch_max")),
        .rate = (int)json_integer_value(json_object_get(j, "rate_per_s")),
        .curl = curl,
    };
    tstate *s = slot(t.id);
    if (!s || !t.url || !t.dialect)
        return 0;
    s->forwarding = 0;
    if (!json_is_true(json_object_get(j, "enabled")) || mono_us() < s->next_try_us)
        return 0;
    int locked = 0;
    if (db_forward_try_lock(c, t.id, &locked) != DB_OK || !locked)
        return 0;
    pthread_mutex_lock(&F.mu);
    s->forwarding = 1;
    pthread_mutex_unlock(&F.mu);
    t.mem = strcmp(t.dialect, "mem") == 0;
    if (t.rate < 1)
        t.rate = 1;
    const char *sealed = json_string_value(json_object_get(j, "sealed_keys"));
    if (!sealed || fwd_keys_unseal(t.dialect, sealed, &t.keys) != 0) {
        db_forward_failure(c, t.id, "readings",
                           "the target's keys do not open with this server's master key");
        backoff(s);
        return 0;
    }
    int more = 0, page_rows = g_config.forward_page_rows > 0 ? (int)g_config.forward_page_rows : 50;
    json_t *page = NULL;
    if (resends(c, &t, s) == 0 && db_forward_next(c, t.id, page_rows, &page) == DB_OK) {
        size_t n = json_array_size(page);
        pthread_mutex_lock(&F.mu);
        if (n == 0)
            s->behind_since_us = 0;
        else if (!s->behind_since_us)
            s->behind_since_us = mono_us();
        pthread_mutex_unlock(&F.mu);
        int ok = n == 0 || (still_running() && deliver_page(c, &t, s, page) == 0);
        more = ok && n > 0 && n >= (size_t)page_rows;
    }
    json_decref(page);
    fwd_keys_wipe(&t.keys);
    return more;
}

static void *fwd_main(void *arg)
{
    (void)arg;
    char err[512];
    const db_timeouts timeouts = db_timeouts_configured(DB_FOR_WORKER);
    db_conn *c = NULL;
    CURL *curl = curl_easy_init();
    int64_t pruned_us = 0;
    while (still_running()) {
        if (!c) {
            c = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
            if (!c) {
                LOG_WARN("forwarder has no database", "detail=%s",
                         srv_log_q((char[600]){0}, 600, err));
                nap(RECONNECT_MS);
                continue;
            }
        }
        int more = 0;
        json_t *targets = NULL;
        if (curl && db_forward_targets(c, &targets) == DB_OK) {
            size_t i;
            json_t *j;
            json_array_foreach(targets, i, j)
            {
                if (!still_running())
                    break;
                more |= pass_target(c, curl, j);
            }
        }
        json_decref(targets);
        if (mono_us() - pruned_us > PRUNE_EVERY_S * 1000000LL) {
            long deleted = 0;
            if (db_forward_prune(c, &deleted) == DB_OK)
                pruned_us = mono_us();
        }
        if (!more)
            nap(g_config.forward_poll_ms > 0 ? g_config.forward_poll_ms : 1000);
    }
    for (size_t i = 0; i < MAX_TARGETS; i++)
        partial_reset(&F.t[i]);
    curl_easy_cleanup(curl);
    db_close(c);
    return NULL;
}

/* ---- /metrics: the counts above, copied in before each scrape ------------------------- */

SRV_METRIC_GAUGE(m_fwd_lag, "dustwatch_forward_lag_seconds",
                 "Seconds since the furthest-behind target this process forwards was last caught "
                 "up (0: every target is caught up).",
                 NULL)
SRV_METRIC_GAUGE(m_fwd_targets, "dustwatch_forward_targets",
                 "Enabled upstream targets this process forwards (holds the lock of).", NULL)
SRV_METRIC_COUNTER(m_fwd_items, "dustwatch_forward_items_total",
                   "Items answered by upstream platforms since start, by outcome (acked, refused "
                   "into the dead-letter list, resent: acked on a resend).",
                   "outcome")
SRV_METRIC_COUNTER(m_fwd_requests, "dustwatch_forward_requests_total",
                   "Requests to upstream platforms since start: answered, or failed in transport "
                   "(retried with backoff).",
                   "result")

static void fwd_metrics_hook(void *arg)
{
    (void)arg;
    fwd_counts k;
    fwd_stats(&k);
    srv_metric_set(&m_fwd_lag, k.lag_s);
    srv_metric_set(&m_fwd_targets, (double)k.targets);
    srv_metric_set(&m_fwd_items, (double)k.acked, "acked");
    srv_metric_set(&m_fwd_items, (double)k.refused, "refused");
    srv_metric_set(&m_fwd_items, (double)k.resent, "resent");
    srv_metric_set(&m_fwd_requests, (double)k.requests, "answered");
    srv_metric_set(&m_fwd_requests, (double)k.failures, "failed");
}

/* ---- the role -------------------------------------------------------------------------- */

static int role_start(struct event_base *base)
{
    (void)base; /* its own thread and connection */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        LOG_CRIT("forwarder: libcurl did not initialise", "n=%d", 0);
        return -1;
    }
    db_forward_register();
    if (srv_clock_cond_init(&F.cv) != 0)
        return -1;
    F.running = 1;
    if (pthread_create(&F.thread, NULL, fwd_main, NULL) != 0) {
        F.running = 0;
        return -1;
    }
    F.started = 1;
    srv_metrics_hook_add(fwd_metrics_hook, NULL);
    LOG_INFO("forwarder started", "poll_ms=%ld", g_config.forward_poll_ms);
    return 0;
}

static void role_stop(void)
{
    if (!F.started)
        return;
    srv_metrics_hook_remove(fwd_metrics_hook, NULL);
    pthread_mutex_lock(&F.mu);
    F.running = 0;
    pthread_cond_broadcast(&F.cv);
    pthread_mutex_unlock(&F.mu);
    pthread_join(F.thread, NULL);
    F.started = 0;
    curl_global_cleanup();
}

const srv_role fwd_role = {
    .name = "forward",
    .help = "upward forwarding to the province/ministry (Hebei V1.1, MEM)",
    .start = role_start,
    .stop = role_stop,
};
