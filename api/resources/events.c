/* Live events: GET /api/v1/events as Server-Sent Events.
 *
 * One hub thread subscribes to the Redis channel SRV_EVENT_CHANNEL
 * (dw:events; published after commits by the ingest writers, the worker and
 * the API) and appends each message to a ring buffer with a sequence number.
 * Each SSE connection is a libmicrohttpd callback response: when it has
 * nothing to send it suspends itself, and the hub resumes it when a message
 * arrives (or every 15 s for a keep-alive comment), so no pool thread ever
 * waits.  Messages are filtered by the caller's scope using the ids they
 * carry (enterprise_id, district_id, street_id); a message without them
 * reaches city users only.
 * Reconnecting clients send Last-Event-ID and get what they missed, as far
 * as the ring still holds it.  Redis down: the stream stays open with
 * keep-alives and resumes when Redis is back; nothing else depends on it.
 *
 * Streams end with their credential.  Each stream remembers the session id
 * or API key id its caller resolved with (a session id stands for exactly
 * one token digest, so the digest itself is not kept).  A guard thread
 * re-checks the credentials of all open streams in one statement
 * (db_auth_stream_credentials) every event_stream_check_s (default 5 s,
 * 1..14: below the 15 s keep-alive), and at once when this process logs out,
 * changes a password or revokes a key (api_auth_forget_all moves
 * api_auth_generation).  Revocations by another server process or in psql
 * are caught by the periodic check.  A stream whose session was revoked,
 * expired, idled out or whose account was disabled or locked, or whose key
 * was revoked, gets a last message `event: end` with data
 * {"reason":"session_ended"|"key_revoked"} and is closed; EventSource
 * reconnects and is refused 401 like any other request.
 *
 * Streams end with their scope too.  The same check reads the scope each
 * session's account has now (db_events_session_scopes); a stream opened
 * under another scope (an administrator moved the account to another region
 * or enterprise) ends with {"reason":"scope_changed"}: EventSource reconnects,
 * the request resolves the caller again and the new stream filters by the
 * new scope (the dashboard reloads, its pages showed the old scope).  Ending
 * rather than switching the filter in place keeps one place that turns an
 * account into a scope (api_auth).  Within event_stream_check_s, at once
 * when this process made the change and called api_auth_forget_all().  An open stream
 * counts as activity of its session: the check marks the session used (as
 * a request would, at most every min(60 s, session_idle_timeout_s / 2)), so
 * a dashboard that is watching is not logged out by session_idle_timeout_s;
 * the absolute lifetime (session_max_age_s) still ends it.  PostgreSQL not
 * answering: the streams stay as they are (a revocation cannot be recorded
 * then either) and the check is retried at the next period. */
#include "api_auth.h"
#include "api_events.h"
#include "api_mhd.h"
#include "api_handlers.h"

#include "db.h"
#include "db_auth.h"
#include "db_events.h"
#include "rds.h"
#include "srv_config.h"
#include "srv_event.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <hiredis/hiredis.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING        1024
#define KEEPALIVE_S 15

typedef struct {
    uint64_t seq;
    char type[16];
    long long enterprise_id, district_id, street_id;
    char *json;
} event;

SRV_METRIC_GAUGE(m_sse_clients, "dustwatch_sse_clients",
                 "Open live-event streams (GET /api/v1/events) of this process.", NULL)

typedef struct sse_conn {
    struct sse_conn *next_waiting;
    struct sse_conn *next_open, **prev_open; /* H.open: every stream */
    int64_t session_id, api_key_id;          /* the credential; 0: none */
    const char *end_reason;                  /* set by the guard: end the stream */
    int end_sent;
    struct MHD_Connection *conn;
    api_scope_kind kind;
    long long scope_id;
    uint64_t last_seq;
    int waiting;
    int sent_hello;
    time_t last_write;
} sse_conn;

static struct {
    pthread_mutex_t mu;
    event ring[RING];
    uint64_t next_seq;
    sse_conn *waiting;
    sse_conn *open;
    /* read by the hub, ticker and guard threads without H.mu, written at
     * start and stop by the main thread: atomic (a data race under TSan) */
    atomic_int running;
    int stopping;
    pthread_t hub, ticker, guard;
    int hub_fd;
    int n_streams;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .next_seq = 1, .hub_fd = -1};

/* Publishers name the enterprise; the district and street that scope
 * filtering needs are looked up here once per enterprise and cached (hub
 * thread only).  An enterprise can move to another street (or district), and
 * every API process has its own cache, so a move reaches each of them:
 *
 * - the server that moved it publishes SRV_EVENT_MOVE_TYPE/ACTION on
 *   dw:events before it answers (srv_event_publish_now); Redis delivers it to
 *   every hub before anything published later, and the hub drops the entry
 *   before it looks at the next message: from the first event after the move
 *   on, the old street gets nothing and the new one everything, on every node;
 * - whatever moved it (psql, a server that could not reach Redis), the move
 *   bumps enterprise_region_epoch in its transaction; the guard thread reads
 *   it every event_stream_check_s and asks the hub to drop the whole cache;
 * - the hub drops it too when it (re)subscribes (moves broadcast while it was
 *   away are lost), and every 10 minutes anyway. */
#define REGION_CACHE 4096
static struct {
    long long enterprise_id, district_id, street_id;
} region_cache[REGION_CACHE];
static time_t region_cache_born;
static db_conn *hub_db;
static atomic_uint_fast64_t region_flush_asked; /* bumped by anyone: drop the whole cache */
static uint_fast64_t region_flush_done;         /* hub thread */

static void region_forget(long long eid)
{
    if (eid <= 0) {
        atomic_fetch_add(&region_flush_asked, 1);
        return;
    }
    size_t slot = (size_t)eid % REGION_CACHE;
    if (region_cache[slot].enterprise_id == eid)
        memset(&region_cache[slot], 0, sizeof region_cache[slot]);
}

static void fill_region(long long eid, long long *district, long long *street)
{
    time_t now = time(NULL);
    uint_fast64_t asked = atomic_load(&region_flush_asked);
    if (now - region_cache_born > 600 || asked != region_flush_done) {
        memset(region_cache, 0, sizeof region_cache);
        region_cache_born = now;
        region_flush_done = asked;
    }
    size_t slot = (size_t)eid % REGION_CACHE;
    if (region_cache[slot].enterprise_id == eid) {
        *district = region_cache[slot].district_id;
        *street = region_cache[slot].street_id;
        return;
    }
    if (!hub_db) {
        char err[256];
        const db_timeouts timeouts = db_timeouts_configured(DB_FOR_REQUESTS);
        hub_db = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
        if (!hub_db)
            return;
    }
    if (db_ensure(hub_db) != 0)
        return;
    int64_t d = 0, s = 0;
    int found = 0;
    if (db_events_enterprise_region(hub_db, eid, &d, &s, &found) != DB_OK) {
        /* the event then reaches city accounts only: say so, it is not silent */
        LOG_WARN("live events: enterprise region not read; event goes to city accounts only",
                 "enterprise_id=%lld", eid);
        return;
    }
    if (!found)
        return;
    *district = d;
    *street = s;
    region_cache[slot].enterprise_id = eid;
    region_cache[slot].district_id = d;
    region_cache[slot].street_id = s;
}

static long long json_id(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : 0;
}

/* Takes the waiting list (under the lock) and resumes it (outside). */
static void wake_all_locked(sse_conn **list)
{
    *list = H.waiting;
    H.waiting = NULL;
    for (sse_conn *c = *list; c; c = c->next_waiting)
        c->waiting = 0;
}

static void resume_list(sse_conn *list)
{
    while (list) {
        sse_conn *next = list->next_waiting;
        list->next_waiting = NULL;
        MHD_resume_connection(list->conn);
        list = next;
    }
}

static void publish_local(const char *payload)
{
    json_t *j = json_loads(payload, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    long long eid = json_id(j, "enterprise_id"), district = json_id(j, "district_id"),
              street = json_id(j, "street_id");
    const char *type = json_string_value(json_object_get(j, "type"));
    const char *action = json_string_value(json_object_get(j, "action"));
    if (type && action && strcmp(type, SRV_EVENT_MOVE_TYPE) == 0 &&
        strcmp(action, SRV_EVENT_MOVE_ACTION) == 0) {
        /* the mover's ids may be older than the row: the event itself is routed by a
         * fresh look-up, like everything after it */
        region_forget(eid);
        district = street = 0;
    }
    if (eid && !district)
        fill_region(eid, &district, &street); /* outside the lock: may query */
    pthread_mutex_lock(&H.mu);
    event *e = &H.ring[H.next_seq % RING];
    free(e->json);
    e->seq = H.next_seq++;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "message");
    e->enterprise_id = eid;
    e->district_id = district;
    e->street_id = street;
    e->json = strdup(payload);
    sse_conn *list;
    wake_all_locked(&list);
    pthread_mutex_unlock(&H.mu);
    json_decref(j);
    resume_list(list);
}

static void *hub_main(void *arg)
{
    (void)arg;
    char host[256], user[RDS_USER_MAX], pw[256];
    int port, db;
    if (rds_parse_url_auth(g_config.redis_url, host, sizeof host, &port, &db, user, sizeof user, pw,
                           sizeof pw) != 0)
        return NULL;
    int backoff = 200;
    while (H.running) {
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout(host, port, tv);
        if (!c || c->err) {
            if (c)
                redisFree(c);
            struct timespec ts = {backoff / 1000, (long)(backoff % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            backoff = backoff < 5000 ? backoff * 2 : 5000;
            continue;
        }
        backoff = 200;
        redisEnableKeepAlive(c);
        redisReply *r;
        if (rds_auth(c, user, pw) != 0) {
            /* refused: try again later, never subscribe unauthenticated */
            redisFree(c);
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            continue;
        }
        r = redisCommand(c, "SUBSCRIBE %s", SRV_EVENT_CHANNEL);
        if (!r) {
            redisFree(c);
            continue;
        }
        freeReplyObject(r);
        region_forget(0); /* moves broadcast while unsubscribed were missed */
        pthread_mutex_lock(&H.mu);
        H.hub_fd = c->fd;
        pthread_mutex_unlock(&H.mu);
        LOG_INFO("live events subscribed", "channel=%s", SRV_EVENT_CHANNEL);
        while (H.running) {
            r = NULL;
            /* blocks until a message; shutdown() on the socket ends it */
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
                break;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[0]->str, "message") == 0 &&
                r->element[2]->type == REDIS_REPLY_STRING)
                publish_local(r->element[2]->str);
            freeReplyObject(r);
        }
        pthread_mutex_lock(&H.mu);
        H.hub_fd = -1;
        pthread_mutex_unlock(&H.mu);
        redisFree(c);
        if (H.running)
            LOG_WARN("live events lost redis; reconnecting", "%s", "");
    }
    return NULL;
}

/* Wakes every parked stream twice a second.  Streams with nothing to say
 * park again at once (a keep-alive goes out every KEEPALIVE_S); the point is
 * a bound on delivery: if a hub wake-up ever races a stream that is just
 * parking, the event still goes out within half a second. */
static void *ticker_main(void *arg)
{
    (void)arg;
    while (H.running) {
        for (int i = 0; i < 5 && H.running; i++) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
        pthread_mutex_lock(&H.mu);
        sse_conn *list;
        wake_all_locked(&list);
        pthread_mutex_unlock(&H.mu);
        resume_list(list);
    }
    return NULL;
}

/* ---- credential guard ---------------------------------------------------- */

static int64_t *find_id(int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return &ids[i];
    return NULL;
}

static db_conn *guard_db(db_conn **db)
{
    if (!*db) {
        char err[256];
        const db_timeouts timeouts = db_timeouts_configured(DB_FOR_REQUESTS);
        *db = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
    }
    return *db && db_ensure(*db) == 0 ? *db : NULL;
}

/* Moves nobody broadcast (see region_cache): when enterprise_region_epoch changed,
 * the hub drops its cached regions.  The first read drops them too. */
static void region_epoch_check(db_conn **db, int64_t *seen)
{
    int64_t epoch = 0;
    db_conn *c = guard_db(db);
    if (!c || db_events_region_epoch(c, &epoch) != DB_OK) {
        LOG_WARN("live events: enterprise moves not checked", "%s", "");
        return;
    }
    if (epoch != *seen) {
        if (*seen >= 0)
            LOG_INFO("live events: enterprises moved; regions looked up again", "epoch=%lld",
                     (long long)epoch);
        *seen = epoch;
        region_forget(0);
    }
}

/* One check of every open stream's credential; ends the dead ones. */
static void guard_check(db_conn **db)
{
    pthread_mutex_lock(&H.mu);
    size_t n = 0;
    for (sse_conn *s = H.open; s; s = s->next_open)
        n++;
    int64_t *ids = n ? malloc(4 * n * sizeof *ids) : NULL;
    size_t ns = 0, nk = 0;
    if (ids) {
        /* [0, n): sessions asked, [n, 2n): keys asked, then the answers */
        for (sse_conn *s = H.open; s; s = s->next_open) {
            if (s->end_reason)
                continue;
            if (s->session_id && !find_id(ids, ns, s->session_id))
                ids[ns++] = s->session_id;
            else if (s->api_key_id && !find_id(ids + n, nk, s->api_key_id))
                ids[n + nk++] = s->api_key_id;
        }
    }
    pthread_mutex_unlock(&H.mu);
    if (!ids || (ns == 0 && nk == 0)) {
        free(ids);
        return;
    }
    size_t live_s = 0, live_k = 0;
    if (!guard_db(db) ||
        db_auth_stream_credentials(*db, ids, ns, ids + n, nk, g_config.session_idle_timeout_s,
                                   ids + 2 * n, &live_s, ids + 3 * n, &live_k) != DB_OK) {
        LOG_WARN("live events: credentials not checked", "streams=%zu", n);
        free(ids);
        return;
    }
    /* the scope each session's account has now (an API key's enterprise never changes) */
    db_events_scope *scopes = ns ? calloc(ns, sizeof *scopes) : NULL;
    size_t n_scopes = 0;
    if (ns && (!scopes || db_events_session_scopes(*db, ids, ns, scopes, &n_scopes) != DB_OK)) {
        LOG_WARN("live events: scopes not checked", "streams=%zu", n);
        n_scopes = 0;
    }
    pthread_mutex_lock(&H.mu);
    int ended = 0, rescoped = 0;
    for (sse_conn *s = H.open; s; s = s->next_open) {
        if (s->end_reason)
            continue;
        /* streams opened since the ids were gathered wait for the next check */
        if (s->session_id && find_id(ids, ns, s->session_id) &&
            !find_id(ids + 2 * n, live_s, s->session_id))
            s->end_reason = "session_ended";
        else if (s->api_key_id && find_id(ids + n, nk, s->api_key_id) &&
                 !find_id(ids + 3 * n, live_k, s->api_key_id))
            s->end_reason = "key_revoked";
        else if (s->session_id)
            for (size_t i = 0; i < n_scopes; i++)
                if (scopes[i].session_id == s->session_id &&
                    ((s->kind == API_SCOPE_ENTERPRISE) != (scopes[i].enterprise != 0) ||
                     s->scope_id != scopes[i].scope_id))
                    s->end_reason = "scope_changed";
        ended += s->end_reason != NULL;
        rescoped += s->end_reason && strcmp(s->end_reason, "scope_changed") == 0;
    }
    free(scopes);
    sse_conn *list = NULL;
    if (ended)
        wake_all_locked(&list);
    pthread_mutex_unlock(&H.mu);
    /* the resolved-caller cache may still hold the old scope for auth_cache_ms: the
     * client's reconnect must read the new one, not be filtered by the old one again
     * (emptied before the streams are resumed and can tell their clients) */
    if (rescoped)
        api_auth_forget_all();
    resume_list(list);
    if (ended)
        LOG_INFO("live events: streams ended with their credential or scope", "streams=%d", ended);
    free(ids);
}

static void *guard_main(void *arg)
{
    (void)arg;
    db_conn *db = NULL;
    unsigned long seen = api_auth_generation();
    int64_t period_ms = (int64_t)g_config.event_stream_check_s * 1000;
    int64_t next = srv_mono_ms() + period_ms, epoch = -1;
    while (H.running) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
        unsigned long gen = api_auth_generation();
        int period = srv_mono_ms() >= next;
        if (gen == seen && !period)
            continue;
        seen = gen;
        if (period) {
            next = srv_mono_ms() + period_ms;
            region_epoch_check(&db, &epoch);
        }
        guard_check(&db);
    }
    db_close(db);
    return NULL;
}

static int visible(const sse_conn *s, const event *e)
{
    switch (s->kind) {
    case API_SCOPE_CITY:
        return 1;
    case API_SCOPE_DISTRICT:
        return e->district_id == s->scope_id;
    case API_SCOPE_STREET:
        return e->street_id == s->scope_id;
    case API_SCOPE_ENTERPRISE:
        return e->enterprise_id == s->scope_id;
    }
    return 0;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_conn *s = cls;
    (void)pos;
    size_t o = 0;
    pthread_mutex_lock(&H.mu);
    if (H.stopping) {
        pthread_mutex_unlock(&H.mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (s->end_reason) {
        /* the credential is gone: a last word, then the end */
        if (s->end_sent) {
            pthread_mutex_unlock(&H.mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        s->end_sent = 1;
        int n = snprintf(buf, max, "event: end\ndata: {\"reason\":\"%s\"}\n\n", s->end_reason);
        pthread_mutex_unlock(&H.mu);
        return n;
    }
    if (!s->sent_hello) {
        /* tells EventSource how long to wait before reconnecting */
        o += (size_t)snprintf(buf, max, "retry: 2000\n: connected\n\n");
        s->sent_hello = 1;
    }
    uint64_t oldest = H.next_seq > RING ? H.next_seq - RING : 1;
    if (s->last_seq + 1 < oldest)
        s->last_seq = oldest - 1;
    while (s->last_seq + 1 < H.next_seq) {
        const event *e = &H.ring[(s->last_seq + 1) % RING];
        if (visible(s, e)) {
            size_t need = strlen(e->json) + strlen(e->type) + 48;
            if (o + need >= max)
                break;
            o += (size_t)snprintf(buf + o, max - o, "id: %llu\nevent: %s\ndata: %s\n\n",
                                  (unsigned long long)e->seq, e->type, e->json);
        }
        s->last_seq++;
    }
    time_t now = time(NULL);
    if (o == 0 && now - s->last_write >= KEEPALIVE_S)
        o += (size_t)snprintf(buf, max, ": keep-alive\n\n");
    if (o > 0) {
        s->last_write = now;
        pthread_mutex_unlock(&H.mu);
        return (ssize_t)o;
    }
    /* nothing to say: park until the hub or the ticker wakes us */
    s->waiting = 1;
    s->next_waiting = H.waiting;
    H.waiting = s;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&H.mu);
    return 0;
}

static void reader_free(void *cls)
{
    sse_conn *s = cls;
    pthread_mutex_lock(&H.mu);
    if (s->waiting) {
        for (sse_conn **p = &H.waiting; *p; p = &(*p)->next_waiting) {
            if (*p == s) {
                *p = s->next_waiting;
                break;
            }
        }
    }
    if (s->prev_open) {
        *s->prev_open = s->next_open;
        if (s->next_open)
            s->next_open->prev_open = s->prev_open;
    }
    H.n_streams--;
    srv_metric_add(&m_sse_clients, -1);
    pthread_mutex_unlock(&H.mu);
    free(s);
}

int api_events_stream(api_req *r)
{
    const api_caller *caller = api_req_caller(r);
    api_req_release_db(r);
    sse_conn *s = calloc(1, sizeof *s);
    if (!s)
        return api_reply_error(r, API_E_OVERLOADED, "out of memory");
    s->conn = api_req_connection(r);
    s->kind = caller->kind;
    s->scope_id = caller->scope_id;
    s->session_id = caller->session_id;
    s->api_key_id = caller->api_key_id;
    s->last_write = time(NULL);
    const char *last = api_req_header(r, "Last-Event-ID");
    pthread_mutex_lock(&H.mu);
    if (H.stopping) {
        pthread_mutex_unlock(&H.mu);
        free(s);
        return api_reply_error(r, API_E_OVERLOADED, "the server is shutting down");
    }
    s->last_seq = H.next_seq - 1;
    if (last) {
        unsigned long long v = strtoull(last, NULL, 10);
        if (v < s->last_seq)
            s->last_seq = v;
    }
    H.n_streams++;
    srv_metric_add(&m_sse_clients, 1);
    s->next_open = H.open;
    if (H.open)
        H.open->prev_open = &s->next_open;
    s->prev_open = &H.open;
    H.open = s;
    pthread_mutex_unlock(&H.mu);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, reader, s, reader_free);
    if (!resp) {
        reader_free(s);
        return api_reply_error(r, API_E_OVERLOADED, "could not open the stream");
    }
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return api_reply_response(r, 200, resp, "text/event-stream; charset=utf-8");
}

void api_events_start(void)
{
    db_events_register();
    H.running = 1;
    if (pthread_create(&H.hub, NULL, hub_main, NULL) != 0 ||
        pthread_create(&H.ticker, NULL, ticker_main, NULL) != 0 ||
        pthread_create(&H.guard, NULL, guard_main, NULL) != 0)
        LOG_ERROR("live events unavailable", "%s", "");
}

void api_events_stop_streams(void)
{
    pthread_mutex_lock(&H.mu);
    H.stopping = 1;
    sse_conn *list;
    wake_all_locked(&list);
    pthread_mutex_unlock(&H.mu);
    resume_list(list);
}

void api_events_stop(void)
{
    api_events_stop_streams();
    /* give resumed streams a moment to end before the daemon goes */
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&H.mu);
        int n = H.n_streams;
        pthread_mutex_unlock(&H.mu);
        if (n == 0)
            break;
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    if (!H.running)
        return;
    H.running = 0;
    pthread_mutex_lock(&H.mu);
    if (H.hub_fd >= 0)
        shutdown(H.hub_fd, SHUT_RDWR);
    pthread_mutex_unlock(&H.mu);
    pthread_join(H.hub, NULL);
    pthread_join(H.ticker, NULL);
    pthread_join(H.guard, NULL);
    for (int i = 0; i < RING; i++) {
        free(H.ring[i].json);
        H.ring[i].json = NULL;
    }
    db_close(hub_db);
    hub_db = NULL;
}
