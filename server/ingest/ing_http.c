#include "ing_http.h"

#include "db_health.h"
#include "ing_dialect.h"
#include "ing_errors.h"
#include "ing_writer.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <event2/keyvalq_struct.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static atomic_int in_flight;

int ing_http_in_flight(void)
{
    return atomic_load(&in_flight) + ing_writer_pending();
}

static void send_json(struct evhttp_request *req, int status, const char *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, status, NULL, b);
    evbuffer_free(b);
}

static void log_request(struct evhttp_request *req, uint64_t id, int status)
{
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
    log_request(req, id, ing_err_status(e));
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
    log_request(req, job->req_id, job->status);
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

static char *header_dup(struct evhttp_request *req, const char *name, size_t max)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    if (!v)
        return NULL;
    return strndup(v, max);
}

static void submit(struct evhttp_request *req, uint64_t id, const ing_dialect *dialect,
                   ing_kind kind)
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
    ing_job *job = calloc(1, sizeof *job);
    if (!job)
        goto overloaded;
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
    const struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer((struct evhttp_connection *)conn, &peer, &port);
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
    log_request(req, id, status);
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

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
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
            log_request(req, id, 200);
            return;
        }
        char body[1024];
        int status = db_health_readyz(body, sizeof body);
        send_json(req, status, body);
        log_request(req, id, status);
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
    submit(req, id, dialect, kind);
}

int ing_http_start(struct event_base *base)
{
    char host[256];
    int port;
    if (srv_config_split_addr(g_config.ingest_listen, host, sizeof host, &port) != 0)
        return -1;
    http = evhttp_new(base);
    if (!http)
        return -1;
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
    if (ing_writer_start(base, on_jobs_done, (int)g_config.ingest_writers) != 0) {
        LOG_ERROR("could not start the ingest writers", "%s", "");
        return -1;
    }
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
    ing_writer_stop();
    if (http)
        evhttp_free(http);
    http = NULL;
    bound = NULL;
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
