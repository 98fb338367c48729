#include "srv_clock.h"

int srv_clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

struct timespec srv_clock_deadline(long ms)
{
    if (ms < 0)
        ms = 0;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

int64_t srv_clock_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void srv_city_minute(time_t t, char out[SRV_CITY_MINUTE_LEN])
{
    time_t local = t + SRV_CITY_OFFSET_S;
    struct tm tm;
    if (!gmtime_r(&local, &tm) || strftime(out, SRV_CITY_MINUTE_LEN, "%Y-%m-%d %H:%M", &tm) == 0)
        out[0] = '\0';
}
