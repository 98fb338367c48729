/* Unit tests for server/core/srv_clock: the condition variables it makes
 * wait on CLOCK_MONOTONIC, and a timed wait on one of its deadlines ends by
 * timing out no earlier than the deadline (a lower bound only: a loaded
 * machine may wake it late, never early). */
#include "srv_clock.h"

#include <errno.h>
#include <stdio.h>

#include "unit_check.h"

int main(void)
{
    /* the deadline is on the monotonic clock, ms ahead, normalised */
    int64_t before = srv_clock_mono_ms();
    struct timespec d = srv_clock_deadline(1999);
    int64_t d_ms = (int64_t)d.tv_sec * 1000 + d.tv_nsec / 1000000;
    CHECK(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    CHECK(d_ms >= before + 1999 && d_ms <= srv_clock_mono_ms() + 1999);
    struct timespec z = srv_clock_deadline(-5);
    CHECK((int64_t)z.tv_sec * 1000 + z.tv_nsec / 1000000 >= before);

    /* a timed wait on it times out, not before the deadline */
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    CHECK(srv_clock_cond_init(&cv) == 0);
    pthread_mutex_lock(&mu);
    int64_t t0 = srv_clock_mono_ms();
    struct timespec until = srv_clock_deadline(150);
    int rc;
    do
        rc = pthread_cond_timedwait(&cv, &mu, &until);
    while (rc == 0); /* a spurious wake-up: wait on */
    int64_t waited = srv_clock_mono_ms() - t0;
    pthread_mutex_unlock(&mu);
    CHECK(rc == ETIMEDOUT);
    CHECK(waited >= 149);
    pthread_cond_destroy(&cv);

    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("clock: ok\n");
    return failures ? 1 : 0;
}
