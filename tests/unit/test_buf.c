/* Unit tests for server/core/srv_buf: pieces appended in order, a formatted piece longer than
 * the formatter's stack buffer, JSON written by jansson, and what srv_buf_take hands over (an
 * empty string when nothing was added, NULL after a failed append). */
#include "srv_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

int main(void)
{
    srv_buf b = {0};
    srv_buf_puts(&b, "ab");
    srv_buf_putc(&b, 'c');
    srv_buf_add(&b, "dxyz", 1);
    srv_buf_printf(&b, "-%d-%s", 42, "e");
    size_t len = 99;
    char *s = srv_buf_take(&b, &len);
    CHECK(s && strcmp(s, "abcd-42-e") == 0 && len == 9);
    CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
    free(s);

    /* longer than one growth step and than srv_buf_printf's 256-byte first try */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 3; i++)
        srv_buf_printf(&b, "%s|", big);
    s = srv_buf_take(&b, &len);
    CHECK(s && len == 3 * 5000 && s[4999] == '|' && s[len - 1] == '|' && strlen(s) == len);
    free(s);

    /* JSON: compact, any value at the top (a string is escaped) */
    json_t *o = json_pack("{s:i, s:[s, n]}", "a", 1, "b", "q\"", 0);
    srv_buf_json(&b, o, JSON_COMPACT);
    json_decref(o);
    json_t *str = json_string("\x01\xe7\xb2\x89");
    srv_buf_putc(&b, ' ');
    srv_buf_json(&b, str, 0);
    json_decref(str);
    s = srv_buf_take(&b, NULL);
    CHECK(s && strcmp(s, "{\"a\":1,\"b\":[\"q\\\"\",null]} \"\\u0001\xe7\xb2\x89\"") == 0);
    free(s);

    /* nothing added: an empty string, not a failure */
    s = srv_buf_take(&b, &len);
    CHECK(s && *s == '\0' && len == 0);
    free(s);

    /* a failed append (as after an allocation failure): later appends do nothing, take says so */
    srv_buf_puts(&b, "kept until take");
    b.failed = 1;
    srv_buf_puts(&b, "dropped");
    CHECK(b.len == strlen("kept until take"));
    len = 7;
    CHECK(srv_buf_take(&b, &len) == NULL && len == 0 && b.p == NULL && !b.failed);

    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
