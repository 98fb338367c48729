/* Unit tests for server/core/srv_config: DUSTWATCH_<KEY>_FILE reads a setting
 * from a file (Docker/systemd secrets), one line, trailing newline dropped; a
 * variable set both ways, an empty, multi-line or missing file is refused with
 * the variable's name in the message. */
#include "srv_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_check.h"

static char dir[] = "/tmp/dw-test-config-XXXXXX";

static const char *write_file(const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    return path;
}

/* loads with only the given variable set (plus DUSTWATCH_REDIS_URL when both) */
static int load(char *err, size_t len)
{
    return srv_config_load(NULL, err, len);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    char err[512];
    unsetenv("DUSTWATCH_REDIS_URL");
    unsetenv("DUSTWATCH_DATABASE_URL");

    /* the value is the file's one line, trailing newline dropped */
    setenv("DUSTWATCH_REDIS_URL_FILE", write_file("redis", "redis://:s3cret@redis:6379/0\n"), 1);
    CHECK(load(err, sizeof err) == 0);
    CHECK(g_config.redis_url && strcmp(g_config.redis_url, "redis://:s3cret@redis:6379/0") == 0);

    /* CRLF and trailing blanks too */
    setenv("DUSTWATCH_DATABASE_URL_FILE",
           write_file("db", "postgresql://dw_server:pw@postgres/dustwatch \r\n"), 1);
    CHECK(load(err, sizeof err) == 0);
    CHECK(strcmp(g_config.database_url, "postgresql://dw_server:pw@postgres/dustwatch") == 0);
    unsetenv("DUSTWATCH_DATABASE_URL_FILE");

    /* both ways at once: refused, naming both */
    setenv("DUSTWATCH_REDIS_URL", "redis://other:6379/0", 1);
    CHECK(load(err, sizeof err) != 0);
    CHECK(strstr(err, "DUSTWATCH_REDIS_URL and DUSTWATCH_REDIS_URL_FILE") != NULL);
    unsetenv("DUSTWATCH_REDIS_URL");

    /* empty, two lines, missing */
    setenv("DUSTWATCH_REDIS_URL_FILE", write_file("empty", "\n"), 1);
    CHECK(load(err, sizeof err) != 0 && strstr(err, "is empty") != NULL);
    setenv("DUSTWATCH_REDIS_URL_FILE", write_file("two", "redis://a:1/0\nredis://b:1/0\n"), 1);
    CHECK(load(err, sizeof err) != 0 && strstr(err, "more than one line") != NULL);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    setenv("DUSTWATCH_REDIS_URL_FILE", missing, 1);
    CHECK(load(err, sizeof err) != 0 &&
          strstr(err, "DUSTWATCH_REDIS_URL_FILE: cannot open") != NULL);

    /* an integer setting from a file is checked like any other value */
    unsetenv("DUSTWATCH_REDIS_URL_FILE");
    setenv("DUSTWATCH_DB_POOL_SIZE_FILE", write_file("pool", "12\n"), 1);
    CHECK(load(err, sizeof err) == 0 && g_config.db_pool_size == 12);
    setenv("DUSTWATCH_DB_POOL_SIZE_FILE", write_file("pool", "twelve\n"), 1);
    CHECK(load(err, sizeof err) != 0 && strstr(err, "DUSTWATCH_DB_POOL_SIZE_FILE") != NULL);
    unsetenv("DUSTWATCH_DB_POOL_SIZE_FILE");

    srv_config_free();
    const char *names[] = {"redis", "db", "empty", "two", "pool"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
