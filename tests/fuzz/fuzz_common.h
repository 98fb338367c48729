/* Shared by the libFuzzer harnesses (tests/fuzz/README in tests/README.md).
 * Each harness is one LLVMFuzzerTestOneInput over the real static library;
 * a broken invariant is a crash (FUZZ_CHECK aborts with the line), so the
 * fuzzer keeps the input like any sanitizer report. */
#ifndef DW_FUZZ_COMMON_H
#define DW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A NUL-terminated copy of the input for APIs that take a C string
 * (strndup would read past the fuzzer's buffer under strict_string_checks).
 * Aborts on OOM; caller frees. */
#include <string.h>
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A fixed "now" (2026-01-01T00:00:00Z) so a crash reproduces on any day. */
#define FUZZ_NOW_US INT64_C(1767225600000000)

#endif
