/* Logging: one logfmt line per event on stderr.
 *
 *   ts=2026-11-29T01:02:03.456Z level=info msg="ingest listener up" addr=127.0.0.1:8081
 *
 * Messages follow PostgreSQL's style: a short lower-case primary message,
 * facts as key=value pairs.  srv_log_kv() quotes values that need it, so
 * callers never hand-escape.  Thread-safe: each line is written with a single
 * write(2) so lines from different threads never interleave.
 *
 * Repeated lines are rate-limited: a line equal to one written less than a
 * second ago (same level, message and key=value tail) is counted, not
 * written; the next time it is written it carries suppressed=N.  A failing
 * accept() or a refused flood costs one line per second, not one per try.
 */
#ifndef DW_SRV_LOG_H
#define DW_SRV_LOG_H

#include <stdarg.h>
#include <stdint.h>

typedef enum {
    SRV_LOG_DEBUG,
    SRV_LOG_INFO,
    SRV_LOG_WARN,
    SRV_LOG_ERROR,
    SRV_LOG_CRIT
} srv_log_level;

/* Returns 0, or -1 if name is not a level. */
int srv_log_set_level_name(const char *name);
void srv_log_set_level(srv_log_level level);
int srv_log_enabled(srv_log_level level);

/* fmt builds the key=value tail: "addr=%s id=%llu"; string values that may
 * contain spaces or quotes must go through %s with srv_log_q() below. */
void srv_log(srv_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds of the monotonic clock: what every timeout, back-off and cache
 * age is measured with (wall-clock steps must not stretch or cut them). */
int64_t srv_mono_ms(void);

/* Quotes a value for logfmt into buf (always NUL-terminated), returns buf. */
const char *srv_log_q(char *buf, unsigned size, const char *value);

#define LOG_DEBUG(msg, ...) srv_log(SRV_LOG_DEBUG, msg, __VA_ARGS__)
#define LOG_INFO(msg, ...)  srv_log(SRV_LOG_INFO, msg, __VA_ARGS__)
#define LOG_WARN(msg, ...)  srv_log(SRV_LOG_WARN, msg, __VA_ARGS__)
#define LOG_ERROR(msg, ...) srv_log(SRV_LOG_ERROR, msg, __VA_ARGS__)
#define LOG_CRIT(msg, ...)  srv_log(SRV_LOG_CRIT, msg, __VA_ARGS__)

#endif
