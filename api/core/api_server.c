#include "api.h"

#include "api_auth.h"
#include "api_client.h"
#include "api_conn.h"
#include "api_mhd.h"
#include "api_static.h"

#include "db.h"
#include "srv_config.h"
#include "db_health.h"
#include "db_replica.h"
#include "srv_http.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define MAX_PARAMS        4
#define MAX_EXTRA_HEADERS 8

struct api_req {
    struct MHD_Connection *conn;
    uint64_t id;
    const api_route *route;
    const char *method;
    char *path;
    char *param_names[MAX_PARAMS];
    char *param_values[MAX_PARAMS];
    int n_params;
    char *body;
    size_t body_len;
    int body_too_large;
    json_t *json;
    db_conn *db;
    db_conn *read_db;  /* the replica's (api_req_read_db), NULL when reads went to db */
    db_conn *spare_db; /* a second pooled connection (api_req_spare_db) */
    int replica_retry; /* the replica failed this request: it runs again on the primary */
    int replied;
    int status;
    char *extra_headers[MAX_EXTRA_HEADERS][2];
    int n_extra;
    char peer[64];
    char tcp_peer[64];            /* the TCP peer, whatever a proxy forwarded (/metrics) */
    int64_t start_us, replied_us; /* CLOCK_MONOTONIC (metrics) */
    api_caller caller;
};

SRV_METRIC_COUNTER_WIDE(m_requests, "dustwatch_api_requests_total",
                        "REST API and dashboard requests answered, by route pattern (static: a "
                        "dashboard file; unmatched: no route), method and HTTP status.",
                        2048, "route", "method", "status")
SRV_METRIC_HISTOGRAM(m_latency, "dustwatch_api_request_seconds",
                     "Time from a request's arrival to its answer being queued (a live-event "
                     "stream: to its start), by route pattern and method.",
                     srv_metric_latency_buckets, "route", "method")

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Labels from fixed sets only: a route's own pattern and method, never the
 * path or method as sent. */
static void count_request(const api_req *r)
{
    const char *route, *method;
    if (r->route) {
        route = r->route->pattern;
        method = r->route->method;
    } else {
        int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
        method = get ? r->method : strcmp(r->method, "OPTIONS") == 0 ? "OPTIONS" : "other";
        if (strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/readyz") == 0 ||
            strcmp(r->path, "/metrics") == 0)
            route = r->path[1] == 'h' ? "/healthz" : r->path[1] == 'r' ? "/readyz" : "/metrics";
        else if (strncmp(r->path, "/api/", 5) != 0 && get)
            route = "static";
        else
            route = "unmatched";
    }
    char st[16];
    snprintf(st, sizeof st, "%d", r->status);
    srv_metric_add(&m_requests, 1, route, method, st);
    if (r->replied_us > 0)
        srv_metric_observe(&m_latency, (double)(r->replied_us - r->start_us) / 1e6, route, method);
}

static struct MHD_Daemon *daemon_;
static db_pool *pool;
static db_replica *read_replica; /* NULL: no database_read_url */
static void release_read_db(api_req *r);
/* the route table handed to api_start() (api/routes.c): data, read-only */
static const api_route *routes;
static size_t n_routes;
static atomic_int in_flight;
static atomic_ulong write_generation;
/* When each credential last wrote, by session or API key id hashed into a slot: a collision
 * only makes a credential's time later (its statistics read live a little longer). */
#define WRITER_SLOTS 1024
static _Atomic int64_t writer_last_s[WRITER_SLOTS];

unsigned long api_write_generation(void)
{
    return atomic_load(&write_generation);
}

/* r's credential's slot, -1 for none (a login, a public route) */
static int writer_slot(const api_req *r)
{
    uint64_t id = r->caller.session_id > 0   ? (uint64_t)r->caller.session_id * 2
                  : r->caller.api_key_id > 0 ? (uint64_t)r->caller.api_key_id * 2 + 1
                                             : 0;
    return id ? (int)((id * 0x9E3779B97F4A7C15ULL) >> 54) : -1; /* 10 bits: WRITER_SLOTS */
}

int64_t api_caller_last_write_s(const api_req *r)
{
    int slot = writer_slot(r);
    return slot < 0 ? 0 : atomic_load(&writer_last_s[slot]);
}

int api_in_flight(void)
{
    return atomic_load(&in_flight);
}

uint64_t api_req_id(const api_req *r)
{
    return r->id;
}

const char *api_req_peer(const api_req *r)
{
    return r->peer;
}

const char *api_req_param(const api_req *r, const char *name)
{
    for (int i = 0; i < r->n_params; i++)
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    return NULL;
}

const char *api_req_pattern(const api_req *r)
{
    return r->route ? r->route->pattern : "";
}

const char *api_req_query(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *api_req_header(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *api_req_cookie(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

int api_req_replied(const api_req *r)
{
    return r->replied;
}

const api_caller *api_req_caller(const api_req *r)
{
    return &r->caller;
}

void api_req_set_caller_account(api_req *r, int64_t account_id, const char *username)
{
    r->caller.account_id = account_id;
    snprintf(r->caller.username, sizeof r->caller.username, "%s", username);
}

int api_json_strict(api_req *r, json_t *body, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            api_reply_error(r, API_E_UNKNOWN_FIELD, "unknown field \"%s\"", key);
            return -1;
        }
    }
    return 0;
}

void api_reply_add_header(api_req *r, const char *name, const char *value)
{
    if (r->n_extra >= MAX_EXTRA_HEADERS)
        return;
    r->extra_headers[r->n_extra][0] = strdup(name);
    r->extra_headers[r->n_extra][1] = strdup(value);
    r->n_extra++;
}

static int queue(api_req *r, int status, struct MHD_Response *resp, const char *ctype)
{
    if (!resp)
        return -1;
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    for (int i = 0; i < r->n_extra; i++)
        MHD_add_response_header(resp, r->extra_headers[i][0], r->extra_headers[i][1]);
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->replied = 1;
    r->status = status;
    r->replied_us = mono_us();
    return ok == MHD_YES ? 0 : -1;
}

/* Replies with serialised JSON s (taken over, malloc'd) of len bytes: a content hash as ETag
 * on a 200 to a GET (the dashboard polls overviews and lists, and an unchanged answer then
 * costs no transfer; the work to build it is done either way, only the bytes are saved).
 * XXH3's 128 bits: an ETag only has to tell one answer of a URL from the next, and BLAKE2b of
 * a whole statistics table (7.4 MB) was a third of the server's CPU for that request. */
static int reply_json_text(api_req *r, int status, char *s, size_t len)
{
    if (status == 200 && strcmp(r->method, "GET") == 0) {
        XXH128_hash_t h = XXH3_128bits(s, len);
        char etag[40];
        snprintf(etag, sizeof etag, "\"%016llx%016llx\"", (unsigned long long)h.high64,
                 (unsigned long long)h.low64);
        api_reply_add_header(r, "ETag", etag);
        api_reply_add_header(r, "Cache-Control", "private, no-cache");
        const char *inm = api_req_header(r, "If-None-Match");
        if (inm && strcmp(inm, etag) == 0) {
            free(s);
            return queue(r, 304,
                         MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT),
                         NULL);
        }
    } else {
        api_reply_add_header(r, "Cache-Control", "no-store");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(s);
    return queue(r, status, resp, "application/json; charset=utf-8");
}

int api_reply_json(api_req *r, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s)
        return api_reply_error(r, API_E_INTERNAL, "could not serialise the response");
    return reply_json_text(r, status, s, strlen(s));
}

int api_reply_json_text(api_req *r, char *text, size_t len)
{
    return reply_json_text(r, 200, text, len);
}

db_conn *api_req_spare_db(api_req *r)
{
    /* a replica's reads would need a second replica connection, of the same standby */
    if (!r->spare_db && r->db && !r->read_db)
        r->spare_db = db_pool_get(pool, 0);
    return r->spare_db;
}

void api_req_release_spare_db(api_req *r)
{
    if (r->spare_db) {
        db_pool_put(pool, r->spare_db);
        r->spare_db = NULL;
    }
}

void api_req_release_db(api_req *r)
{
    release_read_db(r);
    api_req_release_spare_db(r);
    if (r->db) {
        db_pool_put(pool, r->db);
        r->db = NULL;
    }
}

struct MHD_Connection *api_req_connection(api_req *r)
{
    return r->conn;
}

int api_reply_response(api_req *r, int status, struct MHD_Response *resp, const char *content_type)
{
    return queue(r, status, resp, content_type);
}

int api_reply_raw(api_req *r, int status, const char *content_type, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    return queue(r, status, resp, content_type);
}

const char *api_req_body(const api_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body;
}

/* {code, hint, detail} of e with detail from fmt; adds Retry-After where the
 * status asks for it.  A new reference. */
static json_t *error_body(api_req *r, api_error e, const char *detail_fmt, va_list ap)
{
    char detail[512] = "";
    if (detail_fmt)
        vsnprintf(detail, sizeof detail, detail_fmt, ap);
    int status = api_error_status(e);
    int has_retry = 0; /* a handler that knows better set its own */
    for (int i = 0; i < r->n_extra; i++)
        has_retry |= strcasecmp(r->extra_headers[i][0], "Retry-After") == 0;
    if ((status == 503 || status == 429) && !has_retry)
        api_reply_add_header(r, "Retry-After", "5");
    return srv_error_body(api_error_code(e), api_error_hint(e), detail);
}

int api_reply_error(api_req *r, api_error e, const char *detail_fmt, ...)
{
    va_list ap;
    va_start(ap, detail_fmt);
    json_t *body = error_body(r, e, detail_fmt, ap);
    va_end(ap);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *resp =
        s ? MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!resp)
        free(s);
    return queue(r, api_error_status(e), resp, "application/json; charset=utf-8");
}

int api_reply_error_with(api_req *r, api_error e, json_t *extra, const char *detail_fmt, ...)
{
    va_list ap;
    va_start(ap, detail_fmt);
    json_t *body = error_body(r, e, detail_fmt, ap);
    va_end(ap);
    if (body && extra)
        json_object_update_missing(body, extra);
    json_decref(extra);
    if (!body)
        return api_reply_error(r, API_E_INTERNAL, "could not build the error body");
    return api_reply_json(r, api_error_status(e), body);
}

json_t *api_json_parse_object(const char *body, size_t len, char *why, size_t whylen)
{
    json_error_t jerr;
    if (len == 0) {
        snprintf(why, whylen, "the request body is empty");
        return NULL;
    }
    /* Bound nesting before jansson recurses: JSON here is never deep. */
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > 32) {
                snprintf(why, whylen, "nesting deeper than 32 levels");
                return NULL;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(why, whylen, "%s at line %d column %d", jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(why, whylen, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

json_t *api_req_json(api_req *r)
{
    if (r->json)
        return r->json;
    char why[256];
    json_t *j = api_json_parse_object(r->body, r->body_len, why, sizeof why);
    if (!j) {
        api_reply_error(r, API_E_BAD_JSON, "%s", why);
        return NULL;
    }
    r->json = j;
    return j;
}

db_conn *api_req_db(api_req *r)
{
    if (r->db)
        return r->db;
    r->db = db_pool_get(pool, 2000);
    if (!r->db)
        api_reply_error(r, API_E_DB_UNAVAILABLE, "no database connection available");
    return r->db;
}

SRV_METRIC_COUNTER(m_replica_reads, "dustwatch_api_replica_reads_total",
                   "Reads of read_replica routes by where they went: replica, or primary because "
                   "the replica was stale, down or the read URL led to a primary.",
                   "served_by")

void api_set_read_replica(db_replica *rp)
{
    read_replica = rp;
}

db_conn *api_req_read_db(api_req *r)
{
    if (r->read_db)
        return r->read_db;
    if (!read_replica || r->replica_retry || !r->route || !(r->route->roles & API_READ_REPLICA))
        return api_req_db(r);
    db_replica_verdict why;
    r->read_db = db_replica_get(read_replica, 2000, &why);
    static const char *const names[] = {[DB_REPLICA_USED] = "replica",
                                        [DB_REPLICA_STALE] = "primary_replica_stale",
                                        [DB_REPLICA_DOWN] = "primary_replica_down",
                                        [DB_REPLICA_PRIMARY] = "replica_url_primary"};
    srv_metric_add(&m_replica_reads, 1, names[why]);
    return r->read_db ? r->read_db : api_req_db(r);
}

int api_req_read_failed(api_req *r)
{
    if (!r->read_db || r->replica_retry || r->replied)
        return 0;
    db_replica_mark_down(read_replica);
    /* its session is gone or going: back to the pool, which reconnects it */
    release_read_db(r);
    r->replica_retry = 1;
    srv_metric_add(&m_replica_reads, 1, "primary_replica_failed");
    LOG_WARN("replica read failed, read again on the primary", "id=%llu route=%s",
             (unsigned long long)r->id, r->route->pattern);
    return 1;
}

static void release_read_db(api_req *r)
{
    if (r->read_db) {
        db_replica_put(read_replica, r->read_db);
        r->read_db = NULL;
    }
}

/* Matches path against pattern, filling params.  1 on match. */
static int match(api_req *r, const char *pattern, const char *path)
{
    int n = 0;
    char *names[MAX_PARAMS], *values[MAX_PARAMS];
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t seg = strcspn(s, "/");
            if (!close || seg == 0 || n == MAX_PARAMS)
                goto nomatch;
            names[n] = strndup(p + 1, (size_t)(close - p - 1));
            values[n] = strndup(s, seg);
            n++;
            p = close + 1;
            s += seg;
            continue;
        }
        if (*p != *s)
            goto nomatch;
        p++;
        s++;
    }
    if (*p || *s)
        goto nomatch;
    for (int i = 0; i < n; i++) {
        r->param_names[i] = names[i];
        r->param_values[i] = values[i];
    }
    r->n_params = n;
    return 1;
nomatch:
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(values[i]);
    }
    return 0;
}

static int path_matches_any_method(api_req *r, const char *path, char *allow, size_t allow_len)
{
    int found = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < n_routes; i++) {
        api_req tmp = {0};
        if (match(&tmp, routes[i].pattern, path)) {
            for (int k = 0; k < tmp.n_params; k++) {
                free(tmp.param_names[k]);
                free(tmp.param_values[k]);
            }
            if (!strstr(allow, routes[i].method)) {
                if (allow[0])
                    strncat(allow, ", ", allow_len - strlen(allow) - 1);
                strncat(allow, routes[i].method, allow_len - strlen(allow) - 1);
            }
            found = 1;
        }
    }
    (void)r;
    return found;
}

static int reply_health(api_req *r, const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return api_reply_json(r, 200, json_pack("{s:s}", "status", "alive"));
    char body[1024];
    int status = db_health_readyz(body, sizeof body);
    json_t *j = json_loads(body, 0, NULL);
    return api_reply_json(r, status, j ? j : json_object());
}

/* ---- CSRF: cookie-authenticated writes come from our own origin ----------
 * The session cookie is SameSite=Strict, but that alone is a browser's
 * promise, not ours.  A write (anything but GET, HEAD, OPTIONS) whose session
 * came in the cookie must show where the page that sent it lives:
 *   - Origin, when present, must be this server's own origin: http(s)://
 *     followed by the request's Host header (a reverse proxy must pass Host
 *     through; a port the scheme implies may be spelled on one side only);
 *   - without Origin, Sec-Fetch-Site must be same-origin or none (typed by
 *     the user);
 *   - with neither header the write is refused: every browser that could
 *     carry the cookie across sites sends Origin on a cross-origin POST, and
 *     what sends neither is a script, which should use the bearer token that
 *     login returns.
 * Bearer tokens and API keys are not sent by browsers on their own, so they
 * are not checked. */
static int origin_is_own(const char *origin, const char *host)
{
    const char *rest, *port;
    if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
        port = "80";
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        rest = origin + 8;
        port = "443";
    } else {
        return 0; /* "null" (sandboxed or file pages) and anything else */
    }
    if (!host || !*host || !*rest)
        return 0;
    if (strcasecmp(rest, host) == 0)
        return 1;
    char with_port[300];
    snprintf(with_port, sizeof with_port, "%s:%s", rest, port);
    if (strcasecmp(with_port, host) == 0)
        return 1;
    snprintf(with_port, sizeof with_port, "%s:%s", host, port);
    return strcasecmp(with_port, rest) == 0;
}

/* 0 when the request may go on; otherwise why it may not, in why. */
static int csrf_refused(api_req *r, char *why, size_t len)
{
    if (!r->caller.via_cookie || strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 ||
        strcmp(r->method, "OPTIONS") == 0)
        return 0;
    const char *origin = api_req_header(r, "Origin");
    if (origin) {
        if (origin_is_own(origin, api_req_header(r, "Host")))
            return 0;
        snprintf(why, len, "Origin %.100s is not this server's origin", origin);
        return 1;
    }
    const char *site = api_req_header(r, "Sec-Fetch-Site");
    if (site) {
        if (strcasecmp(site, "same-origin") == 0 || strcasecmp(site, "none") == 0)
            return 0;
        snprintf(why, len, "Sec-Fetch-Site is %.40s", site);
        return 1;
    }
    snprintf(why, len, "a write with the session cookie needs an Origin or Sec-Fetch-Site header");
    return 1;
}

/* GET /metrics: every metric of this process (all its roles), to a TCP peer
 * in metrics_allow or a metrics_token bearer. */
static void reply_metrics(api_req *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        api_reply_add_header(r, "Allow", "GET, HEAD");
        api_reply_error(r, API_E_METHOD_NOT_ALLOWED, "/metrics accepts GET");
        return;
    }
    if (!srv_metrics_allowed(r->tcp_peer, api_req_header(r, "Authorization"))) {
        api_reply_error(r, API_E_METRICS_FORBIDDEN,
                        "%s is not in metrics_allow and sent no metrics_token", r->tcp_peer);
        return;
    }
    size_t len = 0;
    char *text = srv_metrics_render(&len);
    if (!text) {
        api_reply_error(r, API_E_INTERNAL, "out of memory");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        api_reply_error(r, API_E_INTERNAL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    queue(r, 200, resp, SRV_METRICS_CONTENT_TYPE);
}

static void dispatch(api_req *r)
{
    const char *path = r->path;
    if (strcmp(path, "/metrics") == 0) {
        reply_metrics(r);
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            api_reply_add_header(r, "Allow", "GET, HEAD");
            api_reply_error(r, API_E_METHOD_NOT_ALLOWED, "%s accepts GET", path);
            return;
        }
        reply_health(r, path);
        return;
    }
    if (r->route) {
        if (r->body_too_large) {
            api_reply_error(r, API_E_BODY_TOO_LARGE, "at most %zu bytes on this route",
                            r->route->max_body);
            return;
        }
        if (r->route->roles != API_PUBLIC) {
            if (api_auth_resolve(r, &r->caller) != 0)
                return;
            char why[200];
            if (csrf_refused(r, why, sizeof why)) {
                api_audit(r, "csrf_refused", r->path, "denied", why);
                api_reply_error(r, API_E_CSRF_REFUSED, "%s", why);
                return;
            }
            if (r->caller.must_change_password && !(r->route->roles & API_BEFORE_PW_CHANGE)) {
                /* a password someone else chose (or an expired one) opens
                 * nothing but the way to replace it: the dashboard asks for
                 * the change, and a script must not skip it */
                api_audit(r, "permission_denied", r->path, "denied", "password change required");
                api_reply_error(r, API_E_FORBIDDEN,
                                "the password must be changed first (POST /api/v1/auth/password)");
                return;
            }
            if (!(r->route->roles & r->caller.role_bit) ||
                ((r->route->roles & API_ADMIN_ONLY) && !r->caller.is_admin)) {
                /* function-level authorisation: the route exists, the role may not use it */
                api_audit(r, "permission_denied", r->path, "denied", r->method);
                api_reply_error(r, API_E_FORBIDDEN, "%s may not %s %s", r->caller.role, r->method,
                                r->route->pattern);
                return;
            }
            if (strcmp(r->method, "GET") != 0 && r->body_len > 0) {
                /* JSON (or the tables bulk imports read) only: a cross-site form
                 * cannot send these content types without a CORS preflight we
                 * never grant */
                static const char xlsx[] =
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
                const char *ct = api_req_header(r, "Content-Type");
                if (!ct ||
                    (strncmp(ct, "application/json", 16) != 0 && strncmp(ct, "text/csv", 8) != 0 &&
                     strncmp(ct, xlsx, sizeof xlsx - 1) != 0)) {
                    api_reply_error(r, API_E_UNSUPPORTED_MEDIA, "Content-Type is %s",
                                    ct ? ct : "missing");
                    return;
                }
            }
        }
        r->route->handler(r);
        if (!r->replied && r->replica_retry)
            r->route->handler(r); /* read_replica routes only read: a second run is safe */
        if (!r->replied) {
            LOG_ERROR("handler returned without a reply", "id=%llu route=%s",
                      (unsigned long long)r->id, r->route->pattern);
            api_reply_error(r, API_E_INTERNAL, "no reply");
        }
        if (strcmp(r->method, "GET") != 0 && r->status < 400) {
            atomic_fetch_add(&write_generation, 1);
            int slot = writer_slot(r);
            if (slot >= 0)
                atomic_store(&writer_last_s[slot], (int64_t)time(NULL));
        }
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        char allow[128];
        if (path_matches_any_method(r, path, allow, sizeof allow)) {
            api_reply_add_header(r, "Allow", allow);
            queue(r, 204, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT),
                  NULL);
            return;
        }
    }
    char allow[128];
    if (path_matches_any_method(r, path, allow, sizeof allow)) {
        api_reply_add_header(r, "Allow", allow);
        api_reply_error(r, API_E_METHOD_NOT_ALLOWED, "%s %s is not supported", r->method, path);
        return;
    }
    if (strncmp(path, "/api/", 5) != 0 &&
        (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)) {
        api_static_serve(r, path);
        return;
    }
    api_reply_error(r, API_E_NOT_FOUND, "no route for %s %s", r->method, path);
}

static void find_route(api_req *r)
{
    for (size_t i = 0; i < n_routes; i++) {
        if (strcmp(routes[i].method, r->method) != 0)
            continue;
        if (match(r, routes[i].pattern, r->path)) {
            r->route = &routes[i];
            return;
        }
    }
}

struct framing_count {
    int content_length;
    int transfer_encoding;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    struct framing_count *c = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        c->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        c->transfer_encoding++;
    return MHD_YES;
}

/* RFC 9112 §6.3: libmicrohttpd reads the first of several Content-Length headers, so a
 * second one (or one beside Transfer-Encoding) could hide a request in the body
 * that a proxy in front frames differently.  Refused before the body is read; the
 * connection is closed after the answer.  Returns 1 when it answered. */
static int refuse_ambiguous_framing(api_req *r)
{
    struct framing_count c = {0, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_framing, &c);
    const char *why = c.content_length > 1 ? "more than one Content-Length header"
                      : c.content_length > 0 && c.transfer_encoding > 0
                          ? "Content-Length together with Transfer-Encoding"
                      : c.transfer_encoding > 1 ? "more than one Transfer-Encoding header"
                                                : NULL;
    if (!why)
        return 0;
    api_reply_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    api_reply_error(r, API_E_BAD_REQUEST, "ambiguous body framing: %s", why);
    return 1;
}

/* Every Forwarded and X-Forwarded-For line (libmicrohttpd's lookup gives
 * only the first of a name). */
struct forwarding {
    const char *forwarded[8], *xff[8];
    size_t n_forwarded, n_xff;
};

static enum MHD_Result collect_forwarding(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    (void)kind;
    struct forwarding *f = cls;
    if (!value)
        return MHD_YES;
    if (strcasecmp(key, "Forwarded") == 0 && f->n_forwarded < 8)
        f->forwarded[f->n_forwarded++] = value;
    else if (strcasecmp(key, "X-Forwarded-For") == 0 && f->n_xff < 8)
        f->xff[f->n_xff++] = value;
    return MHD_YES;
}

/* r->peer becomes the client's address: the TCP peer's, or what a trusted
 * proxy forwarded for (api_client.h). */
static void resolve_client(api_req *r)
{
    struct forwarding f = {.n_forwarded = 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_forwarding, &f);
    char tcp_peer[sizeof r->peer];
    snprintf(tcp_peer, sizeof tcp_peer, "%s", r->peer);
    api_client_address(tcp_peer, f.forwarded, f.n_forwarded, f.xff, f.n_xff, r->peer,
                       sizeof r->peer);
}

/* Per client IP and per credential (whatever it is worth: it is not checked
 * yet), before the body is read: 429 + Retry-After.  1 when answered. */
static int refuse_over_rate(api_req *r)
{
    const char *cred = api_req_header(r, "Authorization");
    if (!cred)
        cred = api_req_header(r, "X-Api-Key");
    if (!cred)
        cred = api_req_cookie(r, "dw_session");
    const char *who;
    int wait = api_conn_rate(r->peer, cred, &who);
    if (!wait)
        return 0;
    char ra[16];
    snprintf(ra, sizeof ra, "%d", wait);
    api_reply_add_header(r, "Retry-After", ra);
    api_reply_error(r, API_E_TOO_MANY_REQUESTS, "%s is over its rate limit", who);
    return 1;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)version;
    api_req *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        atomic_fetch_add(&in_flight, 1);
        r->conn = conn;
        r->id = srv_next_request_id();
        r->method = method;
        r->path = strdup(url);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci && ci->client_addr) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                          r->peer, sizeof r->peer);
            else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                          r->peer, sizeof r->peer);
        }
        r->start_us = mono_us();
        snprintf(r->tcp_peer, sizeof r->tcp_peer, "%s", r->peer);
        resolve_client(r);
        *req_cls = r;
        api_conn_due(conn, 1, g_config.api_body_timeout_s);
        if (refuse_ambiguous_framing(r) || refuse_over_rate(r))
            return MHD_YES;
        find_route(r);
        /* Refuse oversized bodies from the declared length, before reading. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && r->route) {
            unsigned long long n = strtoull(cl, NULL, 10);
            if (n > r->route->max_body) {
                api_reply_error(r, API_E_BODY_TOO_LARGE, "at most %zu bytes on this route",
                                r->route->max_body);
                return MHD_YES;
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->replied && !r->body_too_large) {
            size_t max = r->route ? r->route->max_body : 0;
            if (r->body_len + *upload_size > max) {
                r->body_too_large = 1;
                free(r->body);
                r->body = NULL;
                r->body_len = 0;
            } else {
                char *nb = realloc(r->body, r->body_len + *upload_size + 1);
                if (!nb)
                    return MHD_NO;
                memcpy(nb + r->body_len, upload_data, *upload_size);
                r->body = nb;
                r->body_len += *upload_size;
                r->body[r->body_len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    api_conn_due(conn, 0, 0); /* the request is in: no deadline while it is answered */
    if (!r->replied)
        dispatch(r);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    api_req *r = *req_cls;
    /* a keep-alive connection's next request: its headers are due from now */
    api_conn_due(conn, 0, g_config.api_header_timeout_s);
    if (!r)
        return;
    if (r->replied)
        count_request(r);
    char q[300];
    srv_log(r->status >= 500 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? SRV_LOG_INFO
                                                                           : SRV_LOG_DEBUG,
            "api request", "id=%llu peer=%s method=%s path=%s status=%d end=%d",
            (unsigned long long)r->id, r->peer, r->method, srv_log_q(q, sizeof q, r->path),
            r->status, (int)toe);
    release_read_db(r);
    api_req_release_spare_db(r);
    if (r->db)
        db_pool_put(pool, r->db);
    json_decref(r->json);
    for (int i = 0; i < r->n_params; i++) {
        free(r->param_names[i]);
        free(r->param_values[i]);
    }
    for (int i = 0; i < r->n_extra; i++) {
        free(r->extra_headers[i][0]);
        free(r->extra_headers[i][1]);
    }
    free(r->body);
    free(r->path);
    free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t l = strlen(buf);
    while (l && buf[l - 1] == '\n')
        buf[--l] = '\0';
    char q[600];
    LOG_DEBUG("libmicrohttpd", "detail=%s", srv_log_q(q, sizeof q, buf));
}

const api_route *api_route_table(size_t *n)
{
    *n = n_routes;
    return routes;
}

size_t api_route_role_names(unsigned roles, int flags, const char *names[7])
{
    static const struct {
        unsigned bit;
        const char *name;
    } bits[] = {{API_CITY, "city"},
                {API_DISTRICT, "district"},
                {API_STREET, "street"},
                {API_ENTERPRISE, "enterprise"},
                {API_ADMIN_ONLY, "admin_only"},
                {API_BEFORE_PW_CHANGE, "before_pw_change"},
                {API_READ_REPLICA, "read_replica"}};
    size_t n = 0;
    for (size_t b = 0; b < (flags ? 7 : 4); b++)
        if (roles & bits[b].bit)
            names[n++] = bits[b].name;
    return n;
}

json_t *api_route_table_json(const api_route *table, size_t n)
{
    json_t *items = json_array();
    for (size_t i = 0; i < n; i++) {
        const api_route *rt = &table[i];
        json_t *roles = json_array();
        const char *names[7];
        size_t nn = api_route_role_names(rt->roles, 0, names);
        for (size_t b = 0; b < nn; b++)
            json_array_append_new(roles, json_string(names[b]));
        json_array_append_new(
            items,
            json_pack("{s:s, s:s, s:s?, s:b, s:b, s:b, s:b, s:o, s:I}", "method", rt->method,
                      "path", rt->pattern, "operation_id", rt->operation_id, "public",
                      rt->roles == API_PUBLIC, "admin_only", (rt->roles & API_ADMIN_ONLY) != 0,
                      "before_password_change", (rt->roles & API_BEFORE_PW_CHANGE) != 0,
                      "read_replica", (rt->roles & API_READ_REPLICA) != 0, "roles", roles,
                      "max_body", (json_int_t)rt->max_body));
    }
    return json_pack("{s:o}", "items", items);
}

int api_start(db_pool *p, const api_route *table, size_t n)
{
    pool = p;
    routes = table;
    n_routes = n;
    char host[256];
    int port;
    if (srv_config_split_addr(g_config.api_listen, host, sizeof host, &port) != 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -1;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0)
            host[0] = '\0', strcpy(host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
            LOG_ERROR("api_listen needs a numeric address", "addr=%s", g_config.api_listen);
            return -1;
        }
    }
    if (api_conn_listen(&ss) != 0) {
        api_conn_stop();
        return -1;
    }
    daemon_ = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)g_config.api_threads,
        /* libmicrohttpd's defaults are "no timeout" and "no per-IP limit":
         * both are slowloris invitations, so they are always explicit here */
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)g_config.api_connection_timeout_s,
        /* ... and an idle timeout is not a deadline: api_conn.c */
        MHD_OPTION_CONNECTION_LIMIT, api_conn_mhd_limit(), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)g_config.api_per_ip_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(128 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, api_conn_notify, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_END);
    if (!daemon_ || api_conn_start(daemon_) != 0) {
        LOG_ERROR("could not start the API listener", "addr=%s", g_config.api_listen);
        api_conn_stop();
        if (daemon_)
            MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        return -1;
    }
    LOG_INFO("api listener up", "addr=%s threads=%ld", g_config.api_listen, g_config.api_threads);
    return 0;
}

void api_stop_accepting(void)
{
    api_conn_stop_accepting();
}

void api_stop(void)
{
    api_conn_stop();
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
