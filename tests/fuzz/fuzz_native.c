/* Our JSON format v1 (ing_decode_native): byte 0 picks readings, events or
 * videos; the rest is the HTTP body as the ingest listener hands it over. */
#include "fuzz_common.h"
#include "fuzz_ingest_check.h"

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
    fuzz_check_result(rc, b, &err);
    return 0;
}
