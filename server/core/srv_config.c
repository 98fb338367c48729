#include "srv_config.h"

#include "dw_config.h"
#include "srv_net.h"
#include "srv_totp.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

srv_config g_config;

typedef enum { T_STR, T_ADDR, T_PATH, T_INT, T_SIZE } cfg_type;

typedef struct {
    const char *name;
    cfg_type type;
    const char *def;
    const char *help;
    size_t offset;
} cfg_entry;

static const cfg_entry entries[] = {
#define X(name, type, def, help) {#name, T_##type, def, help, offsetof(srv_config, name)},
#include "srv_config.def"
#undef X
};
#define N_ENTRIES (sizeof entries / sizeof entries[0])

static const cfg_entry *find_entry(const char *name)
{
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

int srv_config_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -1;
        h = addr + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - addr);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

/* 1 when dir is root or below it (both absolute, root without symlinks). */
static int is_under(const char *dir, const char *root)
{
    size_t n = strlen(root);
    return strncmp(dir, root, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* Where relative PATH values point: the installed data files.  A binary in
 * its build tree (tests, run-local.sh) reads the source tree; any other sits
 * in <prefix>/bin and reads <prefix>/share/dustwatch (DW_BIN_TO_DATA), found
 * from its own location so a DESTDIR or a moved install works as well; the
 * configured prefix is the last resort.  Computed once, at the first load. */
static const char *data_dir(void)
{
    static char dir[PATH_MAX];
    if (dir[0])
        return dir;
    char exe[PATH_MAX], build[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        const char *rel = DW_BIN_TO_DATA;
        if (realpath(DW_BUILD_DIR, build) && is_under(exe, build)) {
            snprintf(dir, sizeof dir, "%s", DW_SOURCE_DIR);
        } else if (slash && rel[0]) {
            while (strncmp(rel, "../", 3) == 0) {
                char *up = strrchr(exe, '/');
                if (up)
                    *up = '\0';
                rel += 3;
            }
            if ((size_t)snprintf(dir, sizeof dir, "%s/%s", exe, rel) >= sizeof dir)
                dir[0] = '\0';
        }
    }
    if (!dir[0])
        snprintf(dir, sizeof dir, "%s", DW_DATA_DIR);
    return dir;
}

static int set_value(const cfg_entry *e, const char *value, const char *origin, char *err,
                     size_t errlen)
{
    char *base = (char *)&g_config + e->offset;
    char path[PATH_MAX + 256];
    if (e->type == T_PATH && value[0] && value[0] != '/') {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", data_dir(), value) >= sizeof path) {
            snprintf(err, errlen, "value for \"%s\" in %s is too long", e->name, origin);
            return -1;
        }
        value = path;
    }
    switch (e->type) {
    case T_ADDR: {
        char host[256];
        int port;
        if (srv_config_split_addr(value, host, sizeof host, &port) != 0) {
            snprintf(err, errlen,
                     "invalid value for \"%s\" in %s: \"%s\" (expected host:port, e.g. "
                     "127.0.0.1:8080)",
                     e->name, origin, value);
            return -1;
        }
    }
        /* fall through */
    case T_PATH:
    case T_STR: {
        char **slot = (char **)(void *)base;
        char *copy = strdup(value);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        free(*slot);
        *slot = copy;
        return 0;
    }
    case T_INT:
    case T_SIZE: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10), unit = 1;
        if (e->type == T_SIZE && end != value) {
            if (*end == 'k' || *end == 'K')
                unit = 1024, end++;
            else if (*end == 'm' || *end == 'M')
                unit = 1024 * 1024, end++;
        }
        /* bounded before scaling: a huge count of MiB used to wrap around
         * to a small valid size (found by tests/fuzz/fuzz_config) */
        if (errno || end == value || *end || v < 0 || v > INT_MAX / unit) {
            snprintf(err, errlen,
                     "invalid value for \"%s\" in %s: \"%s\" (expected a non-negative integer)",
                     e->name, origin, value);
            return -1;
        }
        *(long *)(void *)base = v * unit;
        return 0;
    }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "could not open config file \"%s\": %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        char origin[512];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        if (!eq) {
            snprintf(err, errlen, "syntax error in %s: expected \"key = value\"", origin);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        const cfg_entry *e = find_entry(key);
        if (!e) {
            snprintf(err, errlen, "unknown key \"%s\" in %s", key, origin);
            rc = -1;
            break;
        }
        rc = set_value(e, value, origin, err, errlen);
    }
    fclose(f);
    return rc;
}

void srv_config_free(void)
{
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (entries[i].type == T_STR || entries[i].type == T_ADDR || entries[i].type == T_PATH) {
            char **slot = (char **)(void *)((char *)&g_config + entries[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

/* DUSTWATCH_<KEY>_FILE: the value is the content of the file it names (Docker
 * and systemd secrets), so a password in database_url or redis_url need not be
 * in the environment.  One line: trailing newlines and blanks are dropped; an
 * empty file, a NUL or a line break inside is refused.  malloc'd; NULL with
 * err set on failure. */
#define SECRET_FILE_MAX 65536

static char *read_secret_file(const char *var, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "re");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open %s: %s", var, file, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, f) : 0;
    int bad_read = ferror(f);
    fclose(f);
    if (!buf || bad_read || n > SECRET_FILE_MAX) {
        snprintf(err, errlen, "%s: %s is unreadable or larger than %d bytes", var, file,
                 SECRET_FILE_MAX);
        free(buf);
        return NULL;
    }
    while (n > 0 &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    const char *why = n == 0                         ? "is empty"
                      : memchr(buf, '\0', n)         ? "holds a NUL byte"
                      : strpbrk(buf, "\r\n") != NULL ? "holds more than one line"
                                                     : NULL;
    if (why) {
        snprintf(err, errlen, "%s: %s %s", var, file, why);
        sodium_memzero(buf, n);
        free(buf);
        return NULL;
    }
    return buf;
}

int srv_config_load(const char *path, char *err, size_t errlen)
{
    srv_config_free();
    for (size_t i = 0; i < N_ENTRIES; i++)
        if (set_value(&entries[i], entries[i].def, "defaults", err, errlen) != 0)
            return -1;
    if (path && load_file(path, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        char envname[128] = "DUSTWATCH_";
        size_t o = strlen(envname);
        for (const char *p = entries[i].name; *p && o < sizeof envname - 1; p++)
            envname[o++] = (char)toupper((unsigned char)*p);
        envname[o] = '\0';
        const char *v = getenv(envname);
        char fileenv[140];
        snprintf(fileenv, sizeof fileenv, "%s_FILE", envname);
        const char *file = getenv(fileenv);
        if (v && file) {
            snprintf(err, errlen, "%s and %s are both set: use one", envname, fileenv);
            return -1;
        }
        if (file) {
            char *fv = read_secret_file(fileenv, file, err, errlen);
            if (!fv)
                return -1;
            int rc = set_value(&entries[i], fv, fileenv, err, errlen);
            sodium_memzero(fv, strlen(fv));
            free(fv);
            if (rc != 0)
                return -1;
        } else if (v && set_value(&entries[i], v, envname, err, errlen) != 0)
            return -1;
    }
    /* cross-field checks that would otherwise surface as odd run-time failures */
    if (g_config.ingest_max_items < 1 || g_config.ingest_max_body < 1024) {
        snprintf(err, errlen, "ingest_max_items must be >= 1 and ingest_max_body >= 1024");
        return -1;
    }
    if (g_config.db_pool_size < 1 || g_config.api_threads < 1) {
        snprintf(err, errlen, "db_pool_size and api_threads must be >= 1");
        return -1;
    }
    if (g_config.ingest_header_timeout_s < 1 || g_config.ingest_body_timeout_s < 1 ||
        g_config.api_header_timeout_s < 1 || g_config.api_body_timeout_s < 1 ||
        g_config.ingest_max_connections < 1 || g_config.ingest_per_ip_limit < 1 ||
        g_config.api_connection_limit < 1 || g_config.api_per_ip_limit < 1) {
        snprintf(err, errlen, "connection deadlines and limits must be >= 1");
        return -1;
    }
    if (g_config.event_stream_check_s < 1 || g_config.event_stream_check_s > 14) {
        /* a revoked credential must not outlive a keep-alive (15 s) */
        snprintf(err, errlen, "event_stream_check_s must be between 1 and 14");
        return -1;
    }
    srv_net nets[SRV_CONFIG_MAX_PROXIES];
    size_t n_nets;
    char why[160];
    if (srv_net_list_parse(g_config.trusted_proxies, nets, SRV_CONFIG_MAX_PROXIES, &n_nets, why,
                           sizeof why) != 0) {
        snprintf(err, errlen, "trusted_proxies: %s", why);
        return -1;
    }
    if (srv_net_list_parse(g_config.metrics_allow, nets, SRV_CONFIG_MAX_PROXIES, &n_nets, why,
                           sizeof why) != 0) {
        snprintf(err, errlen, "metrics_allow: %s", why);
        return -1;
    }
    if (g_config.public_url[0] && strncasecmp(g_config.public_url, "https://", 8) != 0 &&
        strncasecmp(g_config.public_url, "http://", 7) != 0) {
        snprintf(err, errlen, "public_url must start with https:// or http://");
        return -1;
    }
    {
        /* an IANA name (Asia/Shanghai, UTC, America/Argentina/Buenos_Aires):
         * the browser's Intl rejects anything else, so refuse it here */
        const char *z = g_config.display_time_zone;
        int ok = z[0] != '\0' && strlen(z) < 64 && !strstr(z, "..") && z[0] != '/';
        for (const char *c = z; ok && *c; c++)
            ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                 *c == '/' || *c == '_' || *c == '-' || *c == '+';
        if (!ok) {
            snprintf(err, errlen,
                     "display_time_zone must be an IANA time zone name such as Asia/Shanghai");
            return -1;
        }
    }
    if (!srv_totp_key_valid(g_config.totp_key)) {
        snprintf(err, errlen, "totp_key must be empty or 64 hex digits (openssl rand -hex 32)");
        return -1;
    }
    if (g_config.login_ip_burst < 0 || g_config.login_ip_per_minute < 1) {
        snprintf(err, errlen, "login_ip_burst must be >= 0 and login_ip_per_minute >= 1");
        return -1;
    }
    /* OWASP's floor for argon2id at t = 2; above 4 GiB one login would not fit a server */
    if (g_config.password_hash_memory_kib < 19456 || g_config.password_hash_memory_kib > 4194304) {
        snprintf(err, errlen, "password_hash_memory_kib must be 19456..4194304");
        return -1;
    }
    /* a fill of the four periods took 0.7-1.0 s at 2,000 enterprises (admin refresh-statistics):
     * not every second */
    if (g_config.stats_snapshot_s != 0 &&
        (g_config.stats_snapshot_s < 5 || g_config.stats_snapshot_s > 86400)) {
        snprintf(err, errlen, "stats_snapshot_s must be 0 or 5..86400");
        return -1;
    }
    if (g_config.connected_window_h < 1 || g_config.connected_window_h > 8760) {
        snprintf(err, errlen, "connected_window_h must be 1..8760");
        return -1;
    }
    return 0;
}

void srv_config_write_example(FILE *out)
{
    fprintf(out, "# dustwatch configuration: every key with its default.\n"
                 "# Format: `key = value` per line, # starts a comment.  Each key can be\n"
                 "# overridden by the environment variable DUSTWATCH_<KEY> (upper case),\n"
                 "# or by DUSTWATCH_<KEY>_FILE naming a file that holds the value (secrets).\n"
                 "# Relative paths of web_root, migrations_dir, openapi_file and risk_model\n"
                 "# are under the data directory: <prefix>/share/dustwatch beside an\n"
                 "# installed <prefix>/bin/dustwatch, the source tree for a build-tree binary.\n");
    for (size_t i = 0; i < N_ENTRIES; i++)
        fprintf(out, "\n# %s\n%s = %s\n", entries[i].help, entries[i].name, entries[i].def);
}
