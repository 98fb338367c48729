#include "ing_http.h"

#include "db_health.h"
#include "ing_dialect.h"
#include "ing_errors.h"
#include "ing_writer.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static struct event_base *loop;
static atomic_int in_flight;
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
static int backoff_ms = BACKOFF_MIN_MS; /* accept back-off ("accept failures") */

/* ---- connections: caps and total deadlines -------------------------------
 *
 * evhttp (libevent 2.1) has an idle timeout only, restarted by every byte, and
 * no hook when a connection starts or a request's headers end.  So the listener
 * makes each connection's bufferevent itself (evhttp_set_bevcb), and right after
 * the accept (same loop pass, before any byte is read) finds the evhttp
 * connection it went to: the bufferevent's callback argument.  Then it
 *  - closes the connection at once above ingest_max_connections connections,
 *    or above ingest_per_ip_limit connections of the same IP;
 *  - watches the input buffer: the headers end at the first empty line;
 *  - keeps one timer per connection: the headers are due ingest_header_timeout_s
 *    after the connection started or the previous reply was handed over, the
 *    body ingest_body_timeout_s after the headers; none while the request is
 *    being answered.  When it fires the connection is freed: the request is
 *    still evhttp's (on_request has not seen it), nothing else refers to it.
 * A pipelined request that arrived while the previous one was answered has its
 * header end missed, so its body gets the header deadline: gateways do not
 * pipeline. */
#define HEAD_MAX 4096 /* header bytes looked at by on_headers; longer ones are evhttp's alone */
typedef enum { CONN_HEADERS, CONN_BODY, CONN_ANSWERING } conn_phase;

typedef struct ip_count {
    struct ip_count *next;
    int n;
    char ip[64];
} ip_count;

typedef struct ing_conn {
    struct ing_conn *hnext; /* bucket of conns[], by evcon */
    struct evhttp_connection *evcon;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *watch;
    struct event *deadline;
    ip_count *ip;
    conn_phase phase;
    int eol;         /* empty-line scanner: 0 inside a line, 1 after '\n', 2 after "\n\r" */
    int rated;       /* the current request's rate tokens were taken on its headers */
    int refused;     /* answered on its headers: freed by on_deadline */
    size_t head_len; /* the current request's header bytes so far (head_len > HEAD_MAX: too long) */
    char head[HEAD_MAX + 1];
} ing_conn;

#define CONN_BUCKETS 4096
#define IP_BUCKETS   1024
static ing_conn *conns[CONN_BUCKETS];
static ip_count *ips[IP_BUCKETS];
static long n_conns, conn_cap;

/* bufferevents handed to evhttp whose connection is not looked at yet */
typedef struct newborn {
    struct newborn *next;
    struct bufferevent *bev;
} newborn;
static newborn *newborns, **newborns_tail = &newborns; /* in accept order */
static struct event *adopt_ev;

static size_t conn_bucket(const struct evhttp_connection *evcon)
{
    return (size_t)(((uintptr_t)evcon >> 4) * 2654435761u) % CONN_BUCKETS;
}

static ing_conn *conn_find(const struct evhttp_connection *evcon)
{
    if (!evcon)
        return NULL;
    for (ing_conn *c = conns[conn_bucket(evcon)]; c; c = c->hnext)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

static ip_count **ip_slot(const char *ip)
{
    uint32_t h = 2166136261u;
    for (const char *p = ip; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    ip_count **pp = &ips[h % IP_BUCKETS];
    while (*pp && strcmp((*pp)->ip, ip) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* Counts one more connection of ip; NULL when out of memory. */
static ip_count *ip_ref(const char *ip)
{
    ip_count **pp = ip_slot(ip);
    if (!*pp) {
        *pp = calloc(1, sizeof **pp);
        if (!*pp)
            return NULL;
        snprintf((*pp)->ip, sizeof(*pp)->ip, "%s", ip);
    }
    (*pp)->n++;
    return *pp;
}

static void ip_unref(ip_count *ic)
{
    if (--ic->n > 0)
        return;
    ip_count **pp = ip_slot(ic->ip);
    *pp = ic->next;
    free(ic);
}

static void conn_phase_set(ing_conn *c, conn_phase phase)
{
    c->phase = phase;
    c->eol = 0;
    c->head_len = 0;
    if (phase == CONN_ANSWERING) {
        evtimer_del(c->deadline);
        return;
    }
    struct timeval tv = {phase == CONN_HEADERS ? g_config.ingest_header_timeout_s
                                               : g_config.ingest_body_timeout_s,
                         0};
    evtimer_add(c->deadline, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ing_conn *c = arg;
    srv_log(SRV_LOG_INFO, "ingest connection closed", "peer=%s reason=%s", c->ip->ip,
            c->refused                 ? "refused_on_headers"
            : c->phase == CONN_HEADERS ? "header_deadline"
                                       : "body_deadline");
    evhttp_connection_free(c->evcon); /* on_conn_closed frees c */
}

static void on_headers(ing_conn *c, struct evbuffer *buf);

/* Watches what a connection reads while its headers arrive: the first empty
 * line ends them (evhttp reads lines ending in "\n" or "\r\n"). */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    ing_conn *c = arg;
    if (info->n_added == 0 || c->phase != CONN_HEADERS)
        return;
    size_t len = evbuffer_get_length(buf);
    size_t at = len >= info->n_added ? len - info->n_added : 0;
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(buf, &p, at, EVBUFFER_PTR_SET) != 0)
        return;
    char chunk[2048];
    while (at < len) {
        ev_ssize_t n = evbuffer_copyout_from(buf, &p, chunk, sizeof chunk);
        if (n <= 0)
            return;
        for (ev_ssize_t i = 0; i < n; i++) {
            if (c->head_len < HEAD_MAX)
                c->head[c->head_len] = chunk[i];
            if (c->head_len <= HEAD_MAX)
                c->head_len++;
            if (chunk[i] == '\n') {
                if (c->eol) {
                    size_t head_len = c->head_len;
                    conn_phase_set(c, CONN_BODY);
                    c->head_len = head_len;
                    on_headers(c, buf);
                    return;
                }
                c->eol = 1;
            } else {
                c->eol = chunk[i] == '\r' && c->eol == 1 ? 2 : 0;
            }
        }
        at += (size_t)n;
        if (evbuffer_ptr_set(buf, &p, (size_t)n, EVBUFFER_PTR_ADD) != 0)
            return;
    }
}

static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    ing_conn *c = arg;
    ing_conn **pp = &conns[conn_bucket(evcon)];
    while (*pp && *pp != c)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = c->hnext;
    n_conns--;
    ip_unref(c->ip);
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    event_free(c->deadline);
    free(c);
}

static void admit(struct evhttp_connection *evcon, struct bufferevent *bev)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &addr, &port);
    const char *ipstr = addr && addr[0] ? addr : "-";
    const char *refused = NULL;
    ip_count *ic = ip_ref(ipstr);
    ing_conn *c = NULL;
    if (!ic)
        refused = "out_of_memory";
    else if (n_conns >= conn_cap)
        refused = "ingest_max_connections";
    else if (ic->n > g_config.ingest_per_ip_limit)
        refused = "ingest_per_ip_limit";
    else if (!(c = calloc(1, sizeof *c)) || !(c->deadline = evtimer_new(loop, on_deadline, c)) ||
             !(c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c)))
        refused = "out_of_memory";
    if (refused) {
        srv_log(SRV_LOG_WARN, "ingest connection refused", "peer=%s limit=%s open=%ld", ipstr,
                refused, n_conns);
        if (c && c->deadline)
            event_free(c->deadline);
        free(c);
        if (ic)
            ip_unref(ic);
        evhttp_connection_free(evcon);
        return;
    }
    c->evcon = evcon;
    c->bev = bev;
    c->ip = ic;
    size_t b = conn_bucket(evcon);
    c->hnext = conns[b];
    conns[b] = c;
    n_conns++;
    evhttp_connection_set_closecb(evcon, on_conn_closed, c);
    conn_phase_set(c, CONN_HEADERS);
}

/* Runs in the loop pass of the accept, before the new connections read. */
static void adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (newborns) {
        newborn *nb = newborns;
        newborns = nb->next;
        if (!newborns)
            newborns_tail = &newborns;
        void *evcon = NULL;
        bufferevent_getcb(nb->bev, NULL, NULL, NULL, &evcon);
        if (evcon) /* NULL: evhttp already gave up on it (out of memory) */
            admit(evcon, nb->bev);
        bufferevent_decref(nb->bev);
        free(nb);
    }
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    newborn *nb = bev ? malloc(sizeof *nb) : NULL;
    backoff_ms = BACKOFF_MIN_MS; /* a connection was accepted */
    if (nb) {
        /* our reference keeps it readable in adopt() whatever evhttp did with it */
        bufferevent_incref(bev);
        nb->bev = bev;
        nb->next = NULL;
        *newborns_tail = nb;
        newborns_tail = &nb->next;
        event_active(adopt_ev, EV_READ, 0);
    }
    return bev;
}

int ing_http_in_flight(void)
{
    return atomic_load(&in_flight) + ing_writer_pending();
}

/* ---- rate limits: per credential and per client IP (srv_rate), checked
 * before a request becomes a job: a refused request costs no copy, no
 * decoding, no database look-up. */
static srv_rate *cred_rate, *ip_rate;

static void send_json(struct evhttp_request *req, int status, const char *body)
{
    /* the next request's header deadline starts with this reply */
    ing_conn *c = conn_find(evhttp_request_get_connection(req));
    if (c)
        conn_phase_set(c, CONN_HEADERS);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
}

/* ---- metrics (the families the writer does not count: ing_writer.c) ---- */
SRV_METRIC_COUNTER(
    m_requests, "dustwatch_ingest_requests_total",
    "Ingest requests answered, by dialect (none: no ingest endpoint) and HTTP status.", "dialect",
    "status")
SRV_METRIC_HISTOGRAM(m_ack, "dustwatch_ingest_ack_seconds",
                     "Time from a request's arrival to its answer, for requests that reached a "
                     "writer (the answer follows the commit).",
                     srv_metric_latency_buckets, "dialect")
SRV_METRIC_GAUGE(
    m_queue, "dustwatch_ingest_queue_depth",
    "Ingest requests accepted and not yet answered by a writer (503 at ingest_queue_max).", NULL)

static void metrics_hook(void *arg)
{
    (void)arg;
    srv_metric_set(&m_queue, ing_writer_pending());
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *dialect_of_path(const char *path)
{
    ing_kind kind;
    const ing_dialect *d = path ? ing_dialect_route(path, &kind) : NULL;
    return d ? d->name : "none";
}

static void count_request(const char *dialect, int status, const char *reason)
{
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    srv_metric_add(&m_requests, 1, dialect, st);
    if (reason)
        ing_writer_count_refusal(dialect, reason);
}

/* reason: the error code of a refusal, NULL for an answer that is not one */
static void log_request(struct evhttp_request *req, uint64_t id, int status, const char *reason)
{
    count_request(dialect_of_path(evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req))), status,
                  reason);
    char q[300];
    const struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer((struct evhttp_connection *)conn, &peer, &port);
    srv_log(status >= 500 ? SRV_LOG_WARN : SRV_LOG_DEBUG, "ingest request",
            "id=%llu peer=%s uri=%s status=%d", (unsigned long long)id, peer ? peer : "-",
            srv_log_q(q, sizeof q, evhttp_request_get_uri(req)), status);
}

/* Errors the listener answers itself are in our JSON shape, whatever the
 * dialect (only a full queue is answered in the dialect's shape). */
static void send_error(struct evhttp_request *req, uint64_t id, ing_err e, const char *detail)
{
    char *s = ing_err_json(e, detail);
    send_json(req, ing_err_status(e), s ? s : "{}");
    free(s);
    log_request(req, id, ing_err_status(e), ing_err_code(e));
}

static void send_job_reply(ing_job *job)
{
    struct evhttp_request *req = job->req;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (job->retry_after_s > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", job->retry_after_s);
        evhttp_add_header(h, "Retry-After", ra);
    }
    if (job->idem_replayed)
        evhttp_add_header(h, "Idempotent-Replayed", "true");
    send_json(req, job->status, job->reply ? job->reply : "{}");
    log_request(req, job->req_id, job->status, job->status >= 400 ? job->err_code : NULL);
    if (job->received_us > 0)
        srv_metric_observe(&m_ack, (double)(mono_us() - job->received_us) / 1e6,
                           job->dialect->name);
    atomic_fetch_sub(&in_flight, 1);
}

/* Runs on the loop thread with jobs the writers finished. */
static void on_jobs_done(ing_job *list)
{
    while (list) {
        ing_job *next = list->next;
        send_job_reply(list);
        ing_job_free(list);
        list = next;
    }
}

/* Takes a token of the address and one of the credential (when there is
 * one); the seconds to wait (detail says who is limited), 0 when within. */
static int rate_take(const char *ip, const char *secret, char *detail, size_t detail_len)
{
    int wait =
        srv_rate_take(ip_rate, ip, g_config.ingest_rate_ip_per_s, g_config.ingest_rate_ip_burst);
    const char *limited = wait ? "this address" : NULL;
    if (!wait && secret && secret[0]) {
        wait = srv_rate_take(cred_rate, secret, g_config.ingest_rate_credential_per_s,
                             g_config.ingest_rate_credential_burst);
        limited = wait ? "this credential" : NULL;
    }
    if (wait)
        snprintf(detail, detail_len, "%s is over its ingest rate limit", limited);
    return wait;
}

static char *header_dup(struct evhttp_request *req, const char *name, size_t max)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    if (!v)
        return NULL;
    return strndup(v, max);
}

static void submit(struct evhttp_request *req, uint64_t id, const ing_dialect *dialect,
                   ing_kind kind, int rated)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *idem = evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    if (idem && (strlen(idem) == 0 || strlen(idem) > 255)) {
        send_error(req, id, ING_ERR_BAD_IDEMPOTENCY_KEY, "Idempotency-Key has the wrong length");
        return;
    }
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    if (ct && strncmp(ct, "application/json", 16) != 0 && strncmp(ct, "text/plain", 10) != 0) {
        send_error(req, id, ING_ERR_UNSUPPORTED_MEDIA, ct);
        return;
    }
    const char *secret =
        dialect->secret_header
            ? evhttp_find_header(evhttp_request_get_input_headers(req), dialect->secret_header)
            : NULL;
    char *peer = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_get_peer(evcon, &peer, &port);
    const char *ip = peer ? peer : "-";
    char detail[96];
    int wait = rated ? 0 : rate_take(ip, secret, detail, sizeof detail);
    if (wait) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", wait);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", ra);
        int status;
        char *b = dialect->reply_error(ING_ERR_RATE_LIMITED, detail, &status);
        send_json(req, status, b ? b : "{}");
        free(b);
        log_request(req, id, status, ing_err_code(ING_ERR_RATE_LIMITED));
        return;
    }
    ing_job *job = calloc(1, sizeof *job);
    if (!job)
        goto overloaded;
    job->lane = srv_rate_key(secret && secret[0] ? secret : ip);
    job->req = req;
    job->req_id = id;
    job->dialect = dialect;
    job->kind = kind;
    job->body_len = len;
    job->body = malloc(len + 1);
    if (!job->body)
        goto overloaded;
    evbuffer_copyout(in, job->body, len);
    job->body[len] = '\0';
    job->secret = dialect->secret_header ? header_dup(req, dialect->secret_header, 512) : NULL;
    job->idem_key = idem ? strdup(idem) : NULL;
    job->received_us = mono_us();
    snprintf(job->peer, sizeof job->peer, "%s", peer ? peer : "");
    atomic_fetch_add(&in_flight, 1);
    if (ing_writer_submit(job) != 0) {
        atomic_fetch_sub(&in_flight, 1);
        goto overloaded;
    }
    return;
overloaded:
    ing_job_free(job);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    int status;
    char *b = dialect->reply_error(ING_ERR_OVERLOADED, "the ingest queue is full", &status);
    send_json(req, status, b ? b : "{}");
    free(b);
    log_request(req, id, status, ing_err_code(ING_ERR_OVERLOADED));
}

/* RFC 9112 §6.3: a body whose length two parsers could read differently is how a
 * request is smuggled past a proxy.  evhttp takes the first of several
 * Content-Length headers, strtoll-parses it and reads by Content-Length any
 * Transfer-Encoding other than exactly "chunked"; so refuse, before anything
 * is parsed: more than one Content-Length, one that is not plain digits, and any
 * Transfer-Encoding other than a single "chunked" or together with a
 * Content-Length.  Writes the reason to why; 0 when the framing is unambiguous. */
static int framing_ambiguous(struct evhttp_request *req, char *why, size_t why_len)
{
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    int n_cl = 0, n_te = 0;
    const char *cl = NULL, *te = NULL;
    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (evutil_ascii_strcasecmp(kv->key, "Content-Length") == 0) {
            n_cl++;
            cl = kv->value;
        } else if (evutil_ascii_strcasecmp(kv->key, "Transfer-Encoding") == 0) {
            n_te++;
            te = kv->value;
        }
    }
    if (n_cl > 1) {
        snprintf(why, why_len, "%d Content-Length headers", n_cl);
        return 1;
    }
    if (n_te > 0 && n_cl > 0) {
        snprintf(why, why_len, "Content-Length together with Transfer-Encoding");
        return 1;
    }
    if (n_te > 1 || (te && evutil_ascii_strcasecmp(te, "chunked") != 0)) {
        snprintf(why, why_len, "Transfer-Encoding other than one \"chunked\"");
        return 1;
    }
    if (cl && (cl[0] == '\0' || strspn(cl, "0123456789") != strlen(cl))) {
        snprintf(why, why_len, "Content-Length is not plain digits");
        return 1;
    }
    return 0;
}

/* ---- decided on the headers ------------------------------------------------
 *
 * evhttp 2.1 has no hook between a server request's headers and its body
 * (evhttp_set_newreqcb is 2.2), so on_input keeps a copy of the header bytes
 * (up to HEAD_MAX) and on_headers reads them at the empty line, before evhttp
 * parses them.  What needs no database is decided there: a declared
 * Content-Length above ingest_max_body (413 body_too_large, any path), and on
 * an ingest endpoint's POST the rate limits (429 rate_limited; the tokens are
 * then not taken again after the body) and a missing credential header (401
 * unauthenticated).  A credential that looks valid is checked in the database
 * after the body, by a writer, as before.  A refused request is answered in its
 * dialect's shape straight on the socket (nothing of evhttp's is pending: its
 * output is empty, it has not parsed the request), its bytes are dropped before
 * evhttp sees them, and the connection is closed a second later (time for the
 * client to read the answer before a reset).  Anything unusual (framing
 * on_request refuses, folded or over-long headers, a reply still being sent) is
 * left to evhttp and on_request. */
static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 401:
        return "Unauthorized";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    default:
        return "Error";
    }
}

static void refuse_on_headers(ing_conn *c, struct evbuffer *buf, const ing_dialect *d, ing_err e,
                              int retry_s, const char *detail)
{
    struct bufferevent *bev = c->bev;
    evutil_socket_t fd = bufferevent_getfd(bev);
    if (fd < 0 || evbuffer_get_length(bufferevent_get_output(bev)) != 0)
        return;
    int status = ing_err_status(e);
    char *body = d ? d->reply_error(e, detail, &status) : ing_err_json(e, detail);
    char *msg = NULL;
    int len = body ? asprintf(&msg,
                              "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                              "Cache-Control: no-store\r\nConnection: close\r\n%s%.0d%s"
                              "Content-Length: %zu\r\n\r\n%s",
                              status, reason_phrase(status), retry_s > 0 ? "Retry-After: " : "",
                              retry_s, retry_s > 0 ? "\r\n" : "", strlen(body), body)
                   : -1;
    free(body);
    count_request(d ? d->name : "none", status, ing_err_code(e));
    if (len < 0)
        return;
    /* an empty socket buffer takes a reply this small whole; if not, the close ends it */
    (void)!send(fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    free(msg);
    shutdown(fd, SHUT_WR);
    evbuffer_drain(buf, evbuffer_get_length(buf));
    bufferevent_disable(bev, EV_READ);
    c->refused = 1;
    conn_phase_set(c, CONN_ANSWERING);
    struct timeval linger = {1, 0};
    evtimer_add(c->deadline, &linger);
    srv_log(SRV_LOG_DEBUG, "ingest request", "id=%llu peer=%s refused_on_headers=%s status=%d",
            (unsigned long long)srv_next_request_id(), c->ip->ip, ing_err_code(e), status);
}

static void on_headers(ing_conn *c, struct evbuffer *buf)
{
    c->rated = 0;
    if (c->head_len > HEAD_MAX)
        return;
    c->head[c->head_len] = '\0';
    if (strlen(c->head) != c->head_len)
        return;
    char *line = c->head, *next = NULL;
    const char *method = NULL, *target = NULL, *cl = NULL, *te = NULL;
    const char *secret_of[2] = {NULL, NULL}; /* X-Api-Key, appsecret */
    int n_cl = 0, n_te = 0;
    for (int first = 1; line; line = next, first = 0) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        if (first) {
            char *sp = strchr(line, ' ');
            if (!sp)
                return;
            *sp = '\0';
            method = line;
            target = sp + 1;
            if ((sp = strchr(sp + 1, ' ')) != NULL)
                *sp = '\0';
            continue;
        }
        if (n == 0)
            break;
        char *colon = strchr(line, ':');
        if (line[0] == ' ' || line[0] == '\t' || !colon)
            return; /* folded or broken: evhttp's to judge */
        *colon = '\0';
        char *v = colon + 1;
        v += strspn(v, " \t");
        for (char *end = v + strlen(v); end > v && (end[-1] == ' ' || end[-1] == '\t');)
            *--end = '\0';
        if (evutil_ascii_strcasecmp(line, "Content-Length") == 0)
            n_cl++, cl = v;
        else if (evutil_ascii_strcasecmp(line, "Transfer-Encoding") == 0)
            n_te++, te = v;
        else if (evutil_ascii_strcasecmp(line, "X-Api-Key") == 0 && !secret_of[0])
            secret_of[0] = v;
        else if (evutil_ascii_strcasecmp(line, "appsecret") == 0 && !secret_of[1])
            secret_of[1] = v;
    }
    if (!method || n_cl > 1 || n_te > 1 ||
        (n_te && (n_cl || evutil_ascii_strcasecmp(te, "chunked"))) ||
        (cl && (!cl[0] || strspn(cl, "0123456789") != strlen(cl))))
        return; /* on_request refuses the framing */
    char detail[128];
    if (cl && (strlen(cl) > 19 ||
               strtoull(cl, NULL, 10) > (unsigned long long)g_config.ingest_max_body)) {
        snprintf(detail, sizeof detail, "Content-Length %.24s is above ingest_max_body %lld", cl,
                 (long long)g_config.ingest_max_body);
        refuse_on_headers(c, buf, NULL, ING_ERR_BODY_TOO_LARGE, 0, detail);
        return;
    }
    if (strcmp(method, "POST") != 0 || target[0] != '/')
        return;
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(target, "?#"), target);
    ing_kind kind;
    const ing_dialect *d = ing_dialect_route(path, &kind);
    if (!d)
        return;
    const char *secret = NULL;
    if (d->secret_header) {
        if (evutil_ascii_strcasecmp(d->secret_header, "X-Api-Key") == 0)
            secret = secret_of[0];
        else if (evutil_ascii_strcasecmp(d->secret_header, "appsecret") == 0)
            secret = secret_of[1];
        else
            return; /* a header this reader does not collect */
    }
    int wait = rate_take(c->ip->ip, secret, detail, sizeof detail);
    c->rated = 1;
    if (wait)
        refuse_on_headers(c, buf, d, ING_ERR_RATE_LIMITED, wait, detail);
    else if (d->secret_header && (!secret || !secret[0])) {
        snprintf(detail, sizeof detail, "no %s header", d->secret_header);
        refuse_on_headers(c, buf, d, ING_ERR_UNAUTHENTICATED, 0, detail);
    }
}

/* GET /metrics: the text exposition of every metric of this process (all
 * its roles), to metrics_allow peers or a metrics_token bearer. */
static void reply_metrics(struct evhttp_request *req, uint64_t id, enum evhttp_cmd_type cmd)
{
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        send_error(req, id, ING_ERR_METHOD_NOT_ALLOWED, "/metrics");
        return;
    }
    char *peer = NULL;
    ev_uint16_t port = 0;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (evcon)
        evhttp_connection_get_peer(evcon, &peer, &port);
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!srv_metrics_allowed(peer, auth)) {
        char detail[128];
        snprintf(detail, sizeof detail, "%s is not in metrics_allow and sent no metrics_token",
                 peer ? peer : "-");
        send_error(req, id, ING_ERR_METRICS_FORBIDDEN, detail);
        return;
    }
    size_t len = 0;
    char *text = srv_metrics_render(&len);
    if (!text) {
        send_error(req, id, ING_ERR_INTERNAL, "out of memory");
        return;
    }
    ing_conn *c = conn_find(evcon);
    if (c)
        conn_phase_set(c, CONN_HEADERS);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", SRV_METRICS_CONTENT_TYPE);
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, len);
    evhttp_send_reply(req, 200, NULL, b);
    evbuffer_free(b);
    free(text);
    log_request(req, id, 200, NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    ing_conn *c = conn_find(evhttp_request_get_connection(req));
    int rated = 0;
    if (c) {
        conn_phase_set(c, CONN_ANSWERING);
        rated = c->rated;
        c->rated = 0;
    }
    uint64_t id = srv_next_request_id();
    char why[96];
    if (framing_ambiguous(req, why, sizeof why)) {
        /* whatever follows on this connection may be a hidden request: close it */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        send_error(req, id, ING_ERR_BAD_FRAMING, why);
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path)
        path = "/";
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
            send_error(req, id, ING_ERR_METHOD_NOT_ALLOWED, path);
            return;
        }
        if (path[1] == 'h') {
            send_json(req, 200, "{\"status\":\"alive\"}");
            log_request(req, id, 200, NULL);
            return;
        }
        char body[1024];
        int status = db_health_readyz(body, sizeof body);
        send_json(req, status, body);
        log_request(req, id, status, NULL);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        reply_metrics(req, id, cmd);
        return;
    }
    ing_kind kind;
    const ing_dialect *dialect = ing_dialect_route(path, &kind);
    if (!dialect) {
        send_error(req, id, ING_ERR_NOT_FOUND, path);
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
        send_error(req, id, ING_ERR_METHOD_NOT_ALLOWED, path);
        return;
    }
    submit(req, id, dialect, kind, rated);
}

/* ---- accept failures --------------------------------------------------------
 *
 * When accept() fails for want of descriptors (or memory), libevent's listener
 * logs and retries at once, for ever: the listening socket stays readable (4.35
 * million log lines in 28 s at 1.6 cores).  Instead: log (srv_log writes a
 * repeated line once a second), answer one waiting client 503 through a
 * descriptor kept in reserve for exactly that, and stop accepting for a
 * back-off (50 ms, doubling to 1 s; back to 50 ms after a connection is
 * accepted).  Connections that are closed meanwhile free descriptors, and the
 * clients that wait in the backlog are served when accepting resumes. */
static int reserve_fd = -1;
static struct event *resume_ev;

static void shed_one(evutil_socket_t listen_fd)
{
    char *body = ing_err_json(ING_ERR_OVERLOADED, "the server is out of connections");
    srv_http_shed(listen_fd, &reserve_fd, body ? body : "{}");
    free(body);
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (bound)
        evconnlistener_enable(evhttp_bound_socket_get_listener(bound));
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    LOG_ERROR("ingest accept failed", "error=%s", srv_log_q((char[128]){0}, 128, strerror(err)));
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
        return;
    shed_one(evconnlistener_get_fd(lev));
    evconnlistener_disable(lev);
    struct timeval tv = {backoff_ms / 1000, (backoff_ms % 1000) * 1000};
    evtimer_add(resume_ev, &tv);
    backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
}

/* libevent's own warnings, through our log (and its repeat limit) */
static void on_libevent_log(int severity, const char *text)
{
    char q[600];
    srv_log(severity >= EVENT_LOG_ERR    ? SRV_LOG_ERROR
            : severity >= EVENT_LOG_WARN ? SRV_LOG_WARN
            : severity >= EVENT_LOG_MSG  ? SRV_LOG_INFO
                                         : SRV_LOG_DEBUG,
            "libevent", "detail=%s", srv_log_q(q, sizeof q, text));
}

int ing_http_start(struct event_base *base)
{
    char host[256];
    int port;
    if (srv_config_split_addr(g_config.ingest_listen, host, sizeof host, &port) != 0)
        return -1;
    loop = base;
    event_set_log_callback(on_libevent_log);
    cred_rate = srv_rate_new();
    ip_rate = srv_rate_new();
    if (!cred_rate || !ip_rate)
        return -1;
    http = evhttp_new(base);
    adopt_ev = event_new(base, -1, 0, adopt, NULL);
    resume_ev = evtimer_new(base, on_resume, NULL);
    if (!http || !adopt_ev || !resume_ev)
        return -1;
    srv_http_reserve_open(&reserve_fd);
    conn_cap = g_config.ingest_max_connections;
    long share = srv_http_fd_share();
    if (conn_cap > share) {
        LOG_WARN("ingest_max_connections capped by the descriptor limit", "configured=%ld cap=%ld",
                 g_config.ingest_max_connections, share);
        conn_cap = share;
    }
    evhttp_set_bevcb(http, make_bev, NULL);
    evhttp_set_max_body_size(http, (ev_ssize_t)g_config.ingest_max_body);
    evhttp_set_max_headers_size(http, 64 * 1024);
    evhttp_set_timeout(http, (int)g_config.ingest_timeout_s);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http, on_request, NULL);
    bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bound) {
        LOG_ERROR("could not bind the ingest listener", "addr=%s", g_config.ingest_listen);
        evhttp_free(http);
        http = NULL;
        return -1;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound), on_accept_error);
    if (ing_writer_start(base, on_jobs_done, (int)g_config.ingest_writers) != 0) {
        LOG_ERROR("could not start the ingest writers", "%s", "");
        return -1;
    }
    srv_metrics_hook_add(metrics_hook, NULL);
    LOG_INFO("ingest listener up", "addr=%s writers=%ld", g_config.ingest_listen,
             g_config.ingest_writers);
    return 0;
}

void ing_http_stop_accepting(void)
{
    if (http && bound) {
        evhttp_del_accept_socket(http, bound);
        bound = NULL;
    }
}

void ing_http_free(void)
{
    srv_metrics_hook_remove(metrics_hook, NULL);
    ing_writer_stop();
    if (http)
        evhttp_free(http); /* frees every connection: on_conn_closed empties the tables */
    http = NULL;
    bound = NULL;
    while (newborns) {
        newborn *nb = newborns;
        newborns = nb->next;
        bufferevent_decref(nb->bev);
        free(nb);
    }
    newborns_tail = &newborns;
    if (adopt_ev)
        event_free(adopt_ev);
    adopt_ev = NULL;
    if (resume_ev)
        event_free(resume_ev);
    resume_ev = NULL;
    srv_rate_free(cred_rate);
    srv_rate_free(ip_rate);
    cred_rate = ip_rate = NULL;
    if (reserve_fd >= 0)
        close(reserve_fd);
    reserve_fd = -1;
}

static void role_stop(void)
{
    ing_http_free();
}

const srv_role ing_http_role = {
    .name = "ingest",
    .help = "gateway intake on ingest_listen (libevent loop + writer threads)",
    .start = ing_http_start,
    .stop_accepting = ing_http_stop_accepting,
    .in_flight = ing_http_in_flight,
    .stop = role_stop,
};
