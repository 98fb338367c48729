#include "srv_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(srv_buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void srv_buf_add(srv_buf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void srv_buf_puts(srv_buf *b, const char *s)
{
    srv_buf_add(b, s, strlen(s));
}

void srv_buf_putc(srv_buf *b, char c)
{
    srv_buf_add(b, &c, 1);
}

void srv_buf_printf(srv_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        srv_buf_add(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static int json_piece(const char *s, size_t n, void *data)
{
    srv_buf *b = data;
    srv_buf_add(b, s, n);
    return b->failed ? -1 : 0;
}

void srv_buf_json(srv_buf *b, const json_t *v, size_t flags)
{
    if (!b->failed && json_dump_callback(v, json_piece, b, flags | JSON_ENCODE_ANY) != 0)
        b->failed = 1;
}

char *srv_buf_take(srv_buf *b, size_t *len)
{
    char *p = NULL;
    if (b->failed)
        free(b->p);
    else
        p = b->p ? b->p : calloc(1, 1); /* nothing was added: still a string */
    if (len)
        *len = p ? b->len : 0;
    *b = (srv_buf){0};
    return p;
}

void srv_buf_free(srv_buf *b)
{
    free(b->p);
    *b = (srv_buf){0};
}
