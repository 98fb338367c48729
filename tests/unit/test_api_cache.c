/* Unit tests for the answer cache's slots (api_cache): every stored key is found through the
 * index after thousands of keys have replaced each other, each with its own answer (never
 * another key's), and the replaced keys are found no more. */
#include "api_cache.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define TTL_MS 3600000 /* nothing expires during the test */
#define SLOTS  1024    /* the series cache's */

static int64_t start_ms;

static void key_of(char *k, size_t len, int i)
{
    snprintf(k, len, "city:1|point:%d|range:%d", i, i * 7);
}

static void value_of(char *v, size_t len, int i)
{
    snprintf(v, len, "{\"i\":%d}", i);
}

/* Looks key i up as a request would: its key in k, the answer (malloc'd) or NULL, *mine when
 * this caller is to compute it. */
static char *lookup(int i, char k[64], int *mine, size_t *len)
{
    int64_t age;
    key_of(k, 64, i);
    return api_cache_get(API_CACHE_SERIES, k, TTL_MS, mine, &age, len);
}

/* Asks for key i: 1 when the cache served its own answer, 0 on a miss (the slot released
 * again, so that misses empty one slot only), -1 when it served anything else. */
static int ask(int i)
{
    char k[64], want[32];
    int mine;
    size_t len;
    char *got = lookup(i, k, &mine, &len);
    if (!got) {
        if (mine)
            api_cache_put_text(API_CACHE_SERIES, k, NULL, 0, api_write_generation(), 0);
        return 0;
    }
    value_of(want, sizeof want, i);
    int ok = len == strlen(want) && strcmp(got, want) == 0;
    free(got);
    return ok ? 1 : -1;
}

static void store(int i)
{
    char k[64], v[32];
    int mine;
    size_t len;
    char *got = lookup(i, k, &mine, &len);
    CHECK(!got && mine); /* a new key: this request computes it */
    free(got);
    value_of(v, sizeof v, i);
    /* made "at" start + i: the oldest is replaced first, and none expires */
    api_cache_put_text(API_CACHE_SERIES, k, v, strlen(v), api_write_generation(), start_ms + i);
}

int main(void)
{
    start_ms = srv_mono_ms();
    /* the first SLOTS keys fill the empty slots: all found, each with its own answer */
    for (int i = 0; i < SLOTS; i++)
        store(i);
    int hits = 0;
    for (int i = 0; i < SLOTS; i++) {
        int r = ask(i);
        CHECK(r >= 0);
        hits += r == 1;
    }
    CHECK(hits >= SLOTS - 1);
    /* 4 x SLOTS more keys, each replacing the oldest: the last SLOTS stored are the ones
     * found (the index entries of the replaced keys removed, the others still reachable) */
    int first = 2 * SLOTS, last = 6 * SLOTS;
    for (int i = first; i < last; i++)
        store(i);
    hits = 0;
    for (int i = last - 1; i >= last - SLOTS; i--) {
        int r = ask(i);
        CHECK(r >= 0);
        hits += r == 1;
    }
    CHECK(hits >= SLOTS - 1);
    for (int i = 0; i < first; i++) /* long replaced */
        CHECK(ask(i) == 0);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
