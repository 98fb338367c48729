/* The survey-table CSV import's parse step (api_enterprises_csv_rows): the
 * whole input is the request body of POST /api/v1/enterprises/import. */
#include "fuzz_common.h"

#include "api_handlers.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *rows = json_array(), *errors = json_array();
    FUZZ_CHECK(rows && errors);
    const char *missing = NULL;
    int rc = api_enterprises_csv_rows((const char *)data, size, rows, errors, &missing);
    FUZZ_CHECK(rc == 0 || (rc == -1 && missing && missing[0]));
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
        FUZZ_CHECK(json_is_object(row) && json_integer_value(json_object_get(row, "_row")) >= 2);
    json_array_foreach(errors, i, row)
    {
        FUZZ_CHECK(json_integer_value(json_object_get(row, "row")) >= 2);
        FUZZ_CHECK(json_string_value(json_object_get(row, "code")) != NULL);
    }
    json_decref(rows);
    json_decref(errors);
    return 0;
}
