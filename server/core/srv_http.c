#include "srv_http.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint_fast64_t next_id = 1;

uint64_t srv_next_request_id(void)
{
    return atomic_fetch_add(&next_id, 1);
}

json_t *srv_error_body(const char *code, const char *hint, const char *detail)
{
    return json_pack("{s:s, s:s, s:s}", "code", code, "hint", hint ? hint : "", "detail",
                     detail ? detail : "");
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

long srv_http_fd_share(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, raise_nofile);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1L << 20;
    long share = ((long)rl.rlim_cur - SRV_FD_RESERVE) / 2;
    return share > 0 ? share : 1;
}

void srv_http_reserve_open(int *reserve)
{
    if (*reserve < 0)
        *reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void srv_http_shed(int listen_fd, int *reserve, const char *json_body)
{
    if (*reserve < 0)
        return;
    close(*reserve);
    *reserve = -1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        char head[256];
        size_t blen = strlen(json_body);
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; "
                          "charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          blen);
        char sink[4096];
        while (recv(fd, sink, sizeof sink, 0) > 0) /* unread bytes would turn close into RST */
            ;
        if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl)
            (void)send(fd, json_body, blen, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    srv_http_reserve_open(reserve);
}
