/* A growable byte buffer for text built piece by piece (CSV, metrics, JSON answers).
 *
 * A failed allocation marks the buffer failed and later appends do nothing, so a writer checks
 * once at the end (srv_buf_take) instead of after every piece.  The text is always
 * NUL-terminated.  The buffer owns its bytes until srv_buf_take hands them over. */
#ifndef SRV_BUF_H
#define SRV_BUF_H

#include <jansson.h>
#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} srv_buf;

void srv_buf_add(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_putc(srv_buf *b, char c);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v (borrowed) serialised by jansson with flags (JSON_ENCODE_ANY is added) */
void srv_buf_json(srv_buf *b, const json_t *v, size_t flags);
/* The text (malloc'd, *len bytes without the NUL; len may be NULL), or NULL when an append
 * failed; either way the buffer is left empty. */
char *srv_buf_take(srv_buf *b, size_t *len);
void srv_buf_free(srv_buf *b);

#endif
