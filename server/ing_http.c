#include "ing_http.h"

#include "srv_config.h"
#include "srv_health.h"
#include "srv_http.h"
#include "srv_log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static struct evhttp *http;
static struct evhttp_bound_socket *bound;
static atomic_int in_flight;

int ing_http_in_flight(void)
{
    return atomic_load(&in_flight);
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

static void send_error(struct evhttp_request *req, int status, const char *code, const char *hint,
                       const char *detail)
{
    json_t *e = srv_error_body(code, hint, detail);
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    send_json(req, status, s ? s : "{}");
    free(s);
}

static void log_request(struct evhttp_request *req, uint64_t id, int status)
{
    char q[300];
    const struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer((struct evhttp_connection *)conn, &peer, &port);
    srv_log(status >= 500 ? SRV_LOG_WARN : SRV_LOG_DEBUG, "ingest request", "id=%llu peer=%s uri=%s status=%d",
            (unsigned long long)id, peer ? peer : "-",
            srv_log_q(q, sizeof q, evhttp_request_get_uri(req)), status);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    uint64_t id = srv_next_request_id();
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path)
        path = "/";
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
            send_error(req, 405, "method_not_allowed", "use GET", path);
            log_request(req, id, 405);
            return;
        }
        if (path[1] == 'h') {
            send_json(req, 200, "{\"status\":\"alive\"}");
            log_request(req, id, 200);
            return;
        }
        char body[1024];
        int status = srv_health_readyz(body, sizeof body);
        send_json(req, status, body);
        log_request(req, id, status);
        return;
    }
    send_error(req, 404, "not_found", "ingest endpoints live under /ingest/v1/, /rabbitmqfcsb/api/ and /mem/v1/",
               path);
    log_request(req, id, 404);
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
    LOG_INFO("ingest listener up", "addr=%s", g_config.ingest_listen);
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
    if (http)
        evhttp_free(http);
    http = NULL;
    bound = NULL;
}
