/* Our JSON format v1 (ing_decode_native): byte 0 picks readings, events or
 * videos; the rest is the HTTP body as the ingest listener hands it over. */
#include "fuzz_common.h"
#include "fuzz_ingest_check.h"

#include <stdlib.h>
#include <string.h>

/* Readings bodies of the plain shape are read without jansson
 * (ing_decode_native's fast_readings); whatever the body, the outcome must be
 * the one jansson's path gives. */
static void same_as_jansson(int rc, const ing_batch *a, const ing_error *ea, const uint8_t *data,
                            size_t size, const ing_limits *lim)
{
    ing_batch *b = NULL;
    ing_error eb = {0};
    ing_decode_force_jansson = 1;
    int rb =
        ing_decode_native(ING_KIND_READINGS, (const char *)data, size, lim, FUZZ_NOW_US, &b, &eb);
    ing_decode_force_jansson = 0;
    if (rb != rc)
        abort();
    if (rc != 0) {
        if (ea->http_status != eb.http_status || !ea->code || !eb.code ||
            strcmp(ea->code, eb.code) != 0 || strcmp(ea->detail, eb.detail) != 0)
            abort();
        return;
    }
    if (a->n_readings != b->n_readings || (a->gateway_code == NULL) != (b->gateway_code == NULL) ||
        (a->gateway_code && strcmp(a->gateway_code, b->gateway_code) != 0))
        abort();
    for (size_t i = 0; i < a->n_readings; i++) {
        const ing_reading *x = &a->readings[i], *y = &b->readings[i];
        if ((x->point == NULL) != (y->point == NULL) ||
            (x->point && strcmp(x->point, y->point) != 0) || x->reject != y->reject ||
            x->quality != y->quality)
            abort();
        if (x->reject == ING_REJ_NONE &&
            (x->ts_us != y->ts_us || memcmp(&x->value, &y->value, sizeof x->value) != 0))
            abort();
    }
    ing_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ing_kind kind = (ing_kind)(data[0] % 3);
    ing_limits lim;
    ing_limits_default(&lim);
    ing_batch *b = NULL;
    ing_error err = {0};
    int rc = ing_decode_native(kind, (const char *)data + 1, size - 1, &lim, FUZZ_NOW_US, &b, &err);
    if (kind == ING_KIND_READINGS)
        same_as_jansson(rc, b, &err, data + 1, size - 1, &lim);
    fuzz_check_result(rc, b, &err);
    return 0;
}
