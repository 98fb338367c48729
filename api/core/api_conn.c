#include "api_conn.h"

#include "api_errors.h"
#include "srv_config.h"
#include "srv_http.h"
#include "srv_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct MHD_Daemon *daemon_;
static atomic_long open_conns; /* handed to the daemon and not closed yet */
static long conn_cap;
static srv_rate *ip_rate, *cred_rate;

/* ---- total deadlines per request ------------------------------------------
 *
 * MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: every byte restarts it, so a
 * client trickling a header line every few seconds holds its connection for
 * ever.  Every connection is listed here (MHD_OPTION_NOTIFY_CONNECTION) with the
 * time its current phase is due: headers api_header_timeout_s after the
 * connection started or its previous request completed, the body
 * api_body_timeout_s after the headers (the access handler's first call), none
 * while a request is answered.  A reaper thread shuts the socket of an overdue
 * connection down; libmicrohttpd then reads EOF and closes it in its own thread.
 * The socket is still the connection's: libmicrohttpd sends
 * MHD_CONNECTION_NOTIFY_CLOSED (which unlists it under conns_mu) before it closes
 * the descriptor. */
typedef struct api_conn {
    struct api_conn *prev, *next;
    int fd;
    int in_body;    /* the phase that is due: body (1) or headers (0) */
    int64_t due_ms; /* srv_mono_ms(); 0: no deadline */
} api_conn;

static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cv = PTHREAD_COND_INITIALIZER;
static api_conn *conns_head;
static srv_rate *ip_rate, *cred_rate; /* refuse_over_rate */
static atomic_long open_conns;        /* handed to the daemon and not closed yet */
static long conn_cap;
static pthread_t reaper;
static int reaper_running;

void api_conn_due(struct MHD_Connection *conn, int in_body, long seconds)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    api_conn *ac = ci ? ci->socket_context : NULL;
    if (!ac)
        return;
    pthread_mutex_lock(&conns_mu);
    ac->in_body = in_body;
    ac->due_ms = seconds > 0 ? srv_mono_ms() + seconds * 1000 : 0;
    pthread_mutex_unlock(&conns_mu);
}

void api_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        api_conn *ac = ci ? calloc(1, sizeof *ac) : NULL;
        if (!ac)
            return; /* unlisted: only the idle timeout applies */
        ac->fd = ci->connect_fd;
        ac->due_ms = srv_mono_ms() + g_config.api_header_timeout_s * 1000;
        pthread_mutex_lock(&conns_mu);
        ac->next = conns_head;
        if (conns_head)
            conns_head->prev = ac;
        conns_head = ac;
        pthread_mutex_unlock(&conns_mu);
        *socket_context = ac;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        atomic_fetch_sub(&open_conns, 1);
        api_conn *ac = *socket_context;
        if (!ac)
            return;
        pthread_mutex_lock(&conns_mu);
        if (ac->prev)
            ac->prev->next = ac->next;
        else
            conns_head = ac->next;
        if (ac->next)
            ac->next->prev = ac->prev;
        pthread_mutex_unlock(&conns_mu);
        free(ac);
        *socket_context = NULL;
    }
}

static void *reaper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&conns_mu);
    while (reaper_running) {
        int64_t now = srv_mono_ms();
        for (api_conn *ac = conns_head; ac; ac = ac->next) {
            if (ac->due_ms && now >= ac->due_ms) {
                ac->due_ms = 0; /* once: libmicrohttpd closes it soon */
                shutdown(ac->fd, SHUT_RDWR);
                LOG_INFO("api connection closed", "reason=%s",
                         ac->in_body ? "body_deadline" : "header_deadline");
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&reaper_cv, &conns_mu, &ts);
    }
    pthread_mutex_unlock(&conns_mu);
    return NULL;
}

/* ---- accepting ------------------------------------------------------------
 *
 * The listening socket is ours, not libmicrohttpd's: when accept() fails for
 * want of descriptors, libmicrohttpd retries at once, for ever, in every worker
 * that holds no connection ("busy waiting for system resources").  The acceptor
 * thread hands each connection to the daemon (MHD_add_connection: the
 * connection and per-IP limits apply there; above them the socket is closed at
 * once); on EMFILE/ENFILE it logs (once a second, srv_log), answers one waiting
 * client 503 through a reserve descriptor and backs off: 50 ms, doubling to
 * 1 s, back to 50 ms after the next accepted connection. */
static int listen_fd = -1;
static int reserve_fd = -1;
static int stop_pipe[2] = {-1, -1};
static pthread_t acceptor;
static int acceptor_running;

static void shed_one(void)
{
    json_t *b = srv_error_body(api_error_code(API_E_OVERLOADED), api_error_hint(API_E_OVERLOADED),
                               "the server is out of connections");
    char *s = b ? json_dumps(b, JSON_COMPACT) : NULL;
    srv_http_shed(listen_fd, &reserve_fd, s ? s : "{}");
    free(s);
    json_decref(b);
}

/* Waits ms for the stop pipe; 1 when asked to stop. */
static int stop_requested(int ms)
{
    struct pollfd p = {.fd = stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

static void *acceptor_main(void *arg)
{
    (void)arg;
    int backoff_ms = 50;
    for (;;) {
        struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN},
                              {.fd = stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        for (;;) {
            struct sockaddr_storage sa;
            socklen_t len = sizeof sa;
            int fd = accept4(listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
            if (fd >= 0) {
                backoff_ms = 50;
                char ip[INET6_ADDRSTRLEN] = "-";
                if (sa.ss_family == AF_INET)
                    inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, ip, sizeof ip);
                else if (sa.ss_family == AF_INET6)
                    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, ip, sizeof ip);
                if (atomic_load(&open_conns) >= conn_cap) {
                    close(fd);
                    LOG_WARN("api connection refused", "peer=%s limit=api_connection_limit", ip);
                } else if (MHD_add_connection(daemon_, fd, (struct sockaddr *)&sa, len) ==
                           MHD_YES) {
                    atomic_fetch_add(&open_conns, 1);
                } else { /* the daemon closed it: the per-IP limit, or out of memory */
                    LOG_WARN("api connection refused", "peer=%s limit=api_per_ip_limit", ip);
                }
                continue;
            }
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == EINTR || err == ECONNABORTED || err == EPROTO)
                continue;
            char q[128];
            LOG_ERROR("api accept failed", "error=%s", srv_log_q(q, sizeof q, strerror(err)));
            if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
                shed_one();
                if (stop_requested(backoff_ms))
                    return NULL;
                backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
            }
            break;
        }
    }
    return NULL;
}

static int listen_on(const struct sockaddr_storage *ss)
{
    socklen_t len =
        ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (ss->ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, SOMAXCONN) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void acceptor_stop(void)
{
    if (acceptor_running) {
        ssize_t w = write(stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(acceptor, NULL);
        acceptor_running = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (stop_pipe[i] >= 0)
            close(stop_pipe[i]);
        stop_pipe[i] = -1;
    }
    if (listen_fd >= 0)
        close(listen_fd);
    listen_fd = -1;
}

int api_conn_listen(const struct sockaddr_storage *ss)
{
    conn_cap = g_config.api_connection_limit;
    long share = srv_http_fd_share();
    if (conn_cap > share) {
        LOG_WARN("api_connection_limit capped by the descriptor limit", "configured=%ld cap=%ld",
                 g_config.api_connection_limit, share);
        conn_cap = share;
    }
    ip_rate = srv_rate_new();
    cred_rate = srv_rate_new();
    listen_fd = listen_on(ss);
    if (listen_fd < 0) {
        char q[128];
        LOG_ERROR("could not start the API listener", "addr=%s error=%s", g_config.api_listen,
                  srv_log_q(q, sizeof q, strerror(errno)));
        return -1;
    }
    srv_http_reserve_open(&reserve_fd);
    return ip_rate && cred_rate ? 0 : -1;
}

unsigned api_conn_mhd_limit(void)
{
    return (unsigned)((conn_cap + 16) * g_config.api_threads);
}

int api_conn_start(struct MHD_Daemon *d)
{
    daemon_ = d;
    if (pipe2(stop_pipe, O_CLOEXEC) != 0 ||
        pthread_create(&acceptor, NULL, acceptor_main, NULL) != 0)
        return -1;
    acceptor_running = 1;
    reaper_running = 1; /* before the thread looks at it */
    if (pthread_create(&reaper, NULL, reaper_main, NULL) != 0) {
        reaper_running = 0;
        return -1;
    }
    return 0;
}

int api_conn_rate(const char *ip, const char *credential, const char **who)
{
    int wait = srv_rate_take(ip_rate, ip && ip[0] ? ip : "-", g_config.api_rate_ip_per_s,
                             g_config.api_rate_ip_burst);
    *who = "this address";
    if (!wait && credential && credential[0]) {
        wait = srv_rate_take(cred_rate, credential, g_config.api_rate_credential_per_s,
                             g_config.api_rate_credential_burst);
        *who = "this credential";
    }
    return wait;
}

void api_conn_stop_accepting(void)
{
    acceptor_stop();
}

void api_conn_stop(void)
{
    pthread_mutex_lock(&conns_mu);
    int was_running = reaper_running;
    reaper_running = 0;
    pthread_cond_signal(&reaper_cv);
    pthread_mutex_unlock(&conns_mu);
    if (was_running)
        pthread_join(reaper, NULL);
    acceptor_stop();
    srv_rate_free(ip_rate);
    srv_rate_free(cred_rate);
    ip_rate = cred_rate = NULL;
    if (reserve_fd >= 0)
        close(reserve_fd);
    reserve_fd = -1;
    daemon_ = NULL;
}
