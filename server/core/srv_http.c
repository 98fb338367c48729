#include "srv_http.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>

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
