#include "ing_errors.h"

#include "srv_http.h"

#include <jansson.h>
#include <string.h>

static const struct {
    const char *code;
    int status;
    const char *hint;
} registry[] = {
#define X(name, code, status, hint) {code, status, hint},
#include "ing_errors.def"
#undef X
};

const char *ing_err_code(ing_err e)
{
    return registry[e].code;
}

int ing_err_status(ing_err e)
{
    return registry[e].status;
}

const char *ing_err_hint(ing_err e)
{
    return registry[e].hint;
}

ing_err ing_err_from_code(const char *code)
{
    for (int e = 0; code && e < ING_ERR__COUNT; e++)
        if (strcmp(registry[e].code, code) == 0)
            return (ing_err)e;
    return ING_ERR_BAD_REQUEST;
}

char *ing_err_json(ing_err e, const char *detail)
{
    json_t *body = srv_error_body(registry[e].code, registry[e].hint, detail);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return s;
}
