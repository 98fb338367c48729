/* risk_test.h — minimal assertion helpers shared by the risk unit tests. Each test binary
 * includes it once; failures are counted and reported, and main() returns non-zero. */
#ifndef DW_RISK_TEST_H
#define DW_RISK_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int rt_checks;
static int rt_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        rt_checks++;                                                                               \
        if (!(cond)) {                                                                             \
            rt_failures++;                                                                         \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, eps, what)                                                                \
    CHECK(fabs((double)(a) - (double)(b)) <= (eps), "%s: got %.6f want %.6f", (what), (double)(a), \
          (double)(b))

#define CHECK_STR(a, b, what)                                                                      \
    CHECK(strcmp((a), (b)) == 0, "%s:\n  got  \"%s\"\n  want \"%s\"", (what), (a), (b))

static inline int rt_report(const char *name)
{
    printf("%s: %d checks, %d failures\n", name, rt_checks, rt_failures);
    return rt_failures ? 1 : 0;
}

#endif
