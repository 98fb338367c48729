#include "srv_log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = SRV_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "crit"};

int srv_log_set_level_name(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            srv_log_set_level((srv_log_level)i);
            return 0;
        }
    }
    return -1;
}

void srv_log_set_level(srv_log_level level)
{
    atomic_store(&min_level, (int)level);
}

int srv_log_enabled(srv_log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

const char *srv_log_q(char *buf, unsigned size, const char *value)
{
    if (size == 0)
        return buf;
    if (!value)
        value = "";
    int needs_quotes = value[0] == '\0';
    for (const char *p = value; *p && !needs_quotes; p++)
        needs_quotes =
            (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20);
    unsigned o = 0;
    if (!needs_quotes) {
        snprintf(buf, size, "%s", value);
        return buf;
    }
    buf[o++] = '"';
    for (const char *p = value; *p && o + 3 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c < 0x20) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o < size ? o : size - 1] = '\0';
    return buf;
}

/* Lines written in the last second, by hash of everything after the time
 * stamp; a collision only lets a line through early. */
#define REPEAT_SLOTS 256
static struct {
    uint64_t hash;
    int64_t written_ms;
    long suppressed;
} repeats[REPEAT_SLOTS];
static pthread_mutex_t repeats_mu = PTHREAD_MUTEX_INITIALIZER;

/* 1: write the line (*suppressed: how many equal lines were not written
 * since the last one); 0: drop it. */
static int repeat_check(const char *text, size_t len, long *suppressed)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    int64_t now = srv_mono_ms();
    int write_it = 1;
    *suppressed = 0;
    pthread_mutex_lock(&repeats_mu);
    size_t slot = (size_t)(h % REPEAT_SLOTS);
    if (repeats[slot].hash == h && now - repeats[slot].written_ms < 1000) {
        repeats[slot].suppressed++;
        write_it = 0;
    } else {
        if (repeats[slot].hash == h)
            *suppressed = repeats[slot].suppressed;
        repeats[slot].hash = h;
        repeats[slot].written_ms = now;
        repeats[slot].suppressed = 0;
    }
    pthread_mutex_unlock(&repeats_mu);
    return write_it;
}

void srv_log(srv_log_level level, const char *msg, const char *fmt, ...)
{
    if (!srv_log_enabled(level))
        return;
    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char qmsg[512];
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], srv_log_q(qmsg, sizeof qmsg, msg));
    if (n < 0)
        return;
    if (fmt && fmt[0] && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
        else
            n--; /* nothing to add: drop the separator */
    }
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    /* everything after "ts=... " identifies a repeat */
    const char *same = strstr(line, " level=");
    long suppressed = 0;
    if (same && !repeat_check(same, (size_t)(line + n - same), &suppressed))
        return;
    if (suppressed > 0 && (size_t)n < sizeof line - 40)
        n += snprintf(line + n, sizeof line - (size_t)n, " suppressed=%ld", suppressed);
    line[n++] = '\n';
    /* one write(2) per line keeps lines from different threads whole */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

int64_t srv_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
