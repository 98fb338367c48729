#include "ing_guard.h"

#include "db_ingest_guard.h"
#include "srv_config.h"
#include "srv_log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Locks this process knows of.  Small and bounded: a full table forgets the
 * lock that ends first (PostgreSQL still has it; the pair's next failure
 * brings it back). */
#define GUARD_SLOTS 256

typedef struct {
    char credential[128];
    char source[64];
    int64_t until_ms; /* CLOCK_MONOTONIC */
} guard_slot;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static guard_slot slots[GUARD_SLOTS];

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int same(const guard_slot *s, const char *credential, const char *source)
{
    return strcmp(s->credential, credential) == 0 && strcmp(s->source, source) == 0;
}

long ing_guard_locked(const char *credential, const char *source)
{
    if (!source)
        source = "";
    int64_t now = mono_ms();
    long left = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < GUARD_SLOTS; i++) {
        guard_slot *s = &slots[i];
        if (s->until_ms > now && same(s, credential, source)) {
            left = (long)((s->until_ms - now + 999) / 1000);
            break;
        }
    }
    pthread_mutex_unlock(&mu);
    return left;
}

static void remember(const char *credential, const char *source, long locked_s)
{
    int64_t now = mono_ms();
    pthread_mutex_lock(&mu);
    guard_slot *pick = NULL;
    for (size_t i = 0; i < GUARD_SLOTS; i++) {
        guard_slot *s = &slots[i];
        if (same(s, credential, source)) {
            pick = s;
            break;
        }
        if (!pick || (pick->until_ms > now && s->until_ms < pick->until_ms))
            pick = s;
    }
    snprintf(pick->credential, sizeof pick->credential, "%s", credential);
    snprintf(pick->source, sizeof pick->source, "%s", source);
    pick->until_ms = now + (int64_t)locked_s * 1000;
    pthread_mutex_unlock(&mu);
}

long ing_guard_fail(db_conn *c, const char *credential, const char *source, const char *reason)
{
    if (!source)
        source = "";
    db_ingest_guard_state g = {0};
    if (db_ingest_guard_fail(c, credential, source, g_config.ingest_decrypt_fail_max,
                             g_config.ingest_decrypt_fail_window_s,
                             g_config.ingest_decrypt_lockout_s, &g) != DB_OK)
        return -1;
    char q1[300], q2[100];
    LOG_WARN("ingest data could not be decrypted and decoded",
             "credential=%s peer=%s reason=%s failures=%d", srv_log_q(q1, sizeof q1, credential),
             srv_log_q(q2, sizeof q2, source), reason, g.failures);
    if (g.just_locked)
        LOG_WARN("ingest credential locked out after failed decryptions",
                 "credential=%s peer=%s failures=%d locked_s=%ld", q1, q2, g.failures, g.locked_s);
    if (g.locked_s > 0)
        remember(credential, source, g.locked_s);
    return g.locked_s;
}
