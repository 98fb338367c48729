/* srv_clock — waiting on the monotonic clock.
 *
 * A timer that waits until a CLOCK_REALTIME deadline (pthread_cond_timedwait's
 * default) waits an hour longer when NTP or an operator steps the wall clock
 * back an hour, and not at all when it is stepped forward.  Every timed wait
 * of the server's threads (worker ticks, the health monitor, the PostgreSQL
 * pool) uses a condition variable made here and deadlines from
 * srv_clock_deadline(), both on CLOCK_MONOTONIC.  Wall-clock time is still
 * what is stored and compared with stored times (alarm deadlines, partition
 * days); only the waiting moves. */
#ifndef DW_SRV_CLOCK_H
#define DW_SRV_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* The city's calendar (days, weeks, months of statistics, reports and onboarding) is UTC+8
 * (Asia/Shanghai, no daylight saving): its midnight is 16:00 UTC the day before.  The SQL says
 * AT TIME ZONE 'Asia/Shanghai'. */
#define SRV_CITY_OFFSET_S (8 * 3600)

/* Moment t as the city's "YYYY-MM-DD HH:MM" (UTC+8) in out. */
#define SRV_CITY_MINUTE_LEN 17
void srv_city_minute(time_t t, char out[SRV_CITY_MINUTE_LEN]);

/* pthread_cond_init with CLOCK_MONOTONIC; 0 or the pthread error. */
int srv_clock_cond_init(pthread_cond_t *cv);

/* The CLOCK_MONOTONIC time ms milliseconds from now (ms < 0 counts as 0), for
 * pthread_cond_timedwait on a condition variable from srv_clock_cond_init. */
struct timespec srv_clock_deadline(long ms);

/* CLOCK_MONOTONIC in milliseconds (arbitrary origin: only differences mean
 * anything). */
int64_t srv_clock_mono_ms(void);

#endif
