/* Public error codes generated from errors.def. */
#ifndef DW_API_ERRORS_H
#define DW_API_ERRORS_H

typedef enum {
#define X(name, code, status, hint) API_E_##name,
#include "errors.def"
#undef X
    API_E__COUNT
} api_error;

const char *api_error_code(api_error e);
int api_error_status(api_error e);
const char *api_error_hint(api_error e);

#endif
