/* The ingest listener's public errors, generated from ing_errors.def: one
 * code, HTTP status and fixed hint per error; call sites add only a detail. */
#ifndef DW_ING_ERRORS_H
#define DW_ING_ERRORS_H

typedef enum {
#define X(name, code, status, hint) ING_ERR_##name,
#include "ing_errors.def"
#undef X
    ING_ERR__COUNT
} ing_err;

const char *ing_err_code(ing_err e);
int ing_err_status(ing_err e);
const char *ing_err_hint(ing_err e);

/* The error a decoder reported by its code string (ing_error.code);
 * ING_ERR_BAD_REQUEST for NULL or a code the registry does not hold. */
ing_err ing_err_from_code(const char *code);

/* The JSON error body {"code","hint","detail"} (compact; detail NULL gives
 * "").  Returns a malloc'd string the caller frees, NULL on OOM. */
char *ing_err_json(ing_err e, const char *detail);

#endif
