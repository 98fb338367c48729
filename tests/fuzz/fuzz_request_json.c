/* The REST API's request JSON reader (api_json_parse_object, the pure step
 * of api_req_json): the whole input is a request body. */
#include "fuzz_common.h"

#include "api.h"

#include <jansson.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[256];
    why[0] = '\0';
    json_t *j = api_json_parse_object((const char *)data, size, why, sizeof why);
    if (!j) {
        FUZZ_CHECK(why[0] != '\0' && memchr(why, '\0', sizeof why) != NULL);
        return 0;
    }
    FUZZ_CHECK(json_is_object(j));
    /* what handlers do next: strict field lists, then a serialised echo */
    char *s = json_dumps(j, JSON_COMPACT);
    FUZZ_CHECK(s != NULL);
    free(s);
    json_decref(j);
    return 0;
}
