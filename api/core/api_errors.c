#include "api_errors.h"

static const struct {
    const char *code;
    int status;
    const char *hint;
} registry[] = {
#define X(name, code, status, hint) {code, status, hint},
#include "errors.def"
#undef X
};

const char *api_error_code(api_error e)
{
    return registry[e].code;
}

int api_error_status(api_error e)
{
    return registry[e].status;
}

const char *api_error_hint(api_error e)
{
    return registry[e].hint;
}
