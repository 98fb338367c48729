/* job_webhook.c — outbox delivery over a small blocking HTTP/1.1 client (see header). */
#include "job_webhook.h"

#include "db_jobs.h"
#include "srv_config.h"
#include "srv_log.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void job_webhook_init(void)
{
    db_jobs_register();
}

/* Splits http://host[:port]/path.  0, or -1 with why. */
static int parse_url(const char *url, char *host, size_t hl, char *port, size_t pl, char *path,
                     size_t pathl, const char **why)
{
    if (strncmp(url, "https://", 8) == 0) {
        *why = "https is not supported by the built-in client";
        return -1;
    }
    if (strncmp(url, "http://", 7) != 0) {
        *why = "not an http URL";
        return -1;
    }
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hostport = slash ? (size_t)(slash - h) : strlen(h);
    snprintf(path, pathl, "%s", slash ? slash : "/");
    char hp[256];
    if (hostport == 0 || hostport >= sizeof hp) {
        *why = "bad host";
        return -1;
    }
    memcpy(hp, h, hostport);
    hp[hostport] = '\0';
    char *colon = strrchr(hp, ':');
    if (colon && !strchr(hp, ']')) {
        *colon = '\0';
        snprintf(port, pl, "%s", colon + 1);
    } else {
        snprintf(port, pl, "80");
    }
    snprintf(host, hl, "%s", hp);
    return 0;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - srv_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* POSTs body; returns the HTTP status, or -1 with why on transport failure. */
static int http_post(const char *url, const char *body, const char *signature, const char *delivery,
                     const char **why)
{
    char host[256], port[16], path[2048];
    if (parse_url(url, host, sizeof host, port, sizeof port, path, sizeof path, why) != 0)
        return -2; /* permanent */
    int64_t deadline = srv_mono_ms() + g_config.webhook_timeout_ms;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        *why = "host not found";
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        *why = "socket failed";
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS) {
        close(fd);
        *why = "connect failed";
        return -1;
    }
    if (wait_fd(fd, POLLOUT, deadline) != 0) {
        close(fd);
        *why = "connect timed out";
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr != 0) {
        close(fd);
        *why = "connection refused";
        return -1;
    }
    size_t blen = strlen(body);
    char head[3072];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nX-Dustwatch-Signature: sha256=%s\r\n"
                      "X-Dustwatch-Delivery: %s\r\nUser-Agent: dustwatch\r\n"
                      "Connection: close\r\n\r\n",
                      path, host, blen, signature, delivery);
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hl, blen};
    for (int k = 0; k < 2; k++) {
        size_t off = 0;
        while (off < lens[k]) {
            ssize_t w = send(fd, parts[k] + off, lens[k] - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) == 0)
                continue;
            close(fd);
            *why = "send failed";
            return -1;
        }
    }
    char resp[512];
    size_t got = 0;
    while (got < sizeof resp - 1 && !memchr(resp, '\n', got)) {
        ssize_t n = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline) == 0)
            continue;
        break;
    }
    close(fd);
    resp[got] = '\0';
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) {
        *why = "no HTTP status line";
        return -1;
    }
    return status;
}

db_status job_webhook_run(db_conn *c, int limit, size_t *n_delivered)
{
    *n_delivered = 0;
    /* the lease outlives one delivery attempt per row with a margin */
    long lease = (g_config.webhook_timeout_ms * (limit + 1)) / 1000 + 30;
    db_jobs_outbox_row *rows = NULL;
    size_t n = 0;
    db_status st = db_jobs_outbox_lease(c, limit, lease, &rows, &n);
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        const db_jobs_outbox_row *o = &rows[i];
        const char *body = o->payload;
        unsigned char key[64], mac[crypto_auth_hmacsha256_BYTES];
        size_t klen = 0;
        const char *hex = o->secret_hex;
        char sig[2 * crypto_auth_hmacsha256_BYTES + 1];
        if (sodium_hex2bin(key, sizeof key, hex, strlen(hex), NULL, &klen, NULL) != 0)
            klen = 0;
        crypto_auth_hmacsha256_state hs;
        crypto_auth_hmacsha256_init(&hs, key, klen);
        crypto_auth_hmacsha256_update(&hs, (const unsigned char *)body, strlen(body));
        crypto_auth_hmacsha256_final(&hs, mac);
        sodium_memzero(key, sizeof key);
        sodium_bin2hex(sig, sizeof sig, mac, sizeof mac);
        const char *why = "";
        int status = http_post(o->url, body, sig, o->delivery, &why);
        char err[128];
        if (status >= 200 && status < 300) {
            (void)db_jobs_outbox_delivered(c, o->id);
            (*n_delivered)++;
            continue;
        }
        if (status > 0)
            snprintf(err, sizeof err, "HTTP %d", status);
        else
            snprintf(err, sizeof err, "%s", why);
        LOG_INFO("webhook delivery failed, will retry", "outbox=%lld attempt=%ld error=%s",
                 (long long)o->id, o->attempts, srv_log_q((char[160]){0}, 160, err));
        (void)db_jobs_outbox_retry(c, o->id, err);
    }
    db_jobs_outbox_free(rows, n);
    return DB_OK;
}
