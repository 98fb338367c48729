/* The risk-model loader (srv_riskmodel_parse, the text form of
 * srv_riskmodel_load): the whole input is a model file. */
#include "fuzz_common.h"

#include "srv_riskmodel.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size); /* the loader takes a C string */
    FUZZ_CHECK(text);
    risk_model m;
    char err[256];
    err[0] = '\0';
    int rc = srv_riskmodel_parse(text, &m, err, sizeof err);
    if (rc != 0)
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
    else {
        const char *why = NULL;
        FUZZ_CHECK(risk_model_validate(&m, &why) == 0); /* the loader promised a valid model */
    }
    free(text);
    return 0;
}
