/* Static files of the dashboard (api_static.h). */
#include "api_static.h"

#include "api_mhd.h"
#include "srv_config.h"

#include <ctype.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *ext, *type;
    int text; /* worth compressing: precompressed siblings are looked for */
} types[] = {
    {".html", "text/html; charset=utf-8", 1},
    {".js", "text/javascript; charset=utf-8", 1},
    {".mjs", "text/javascript; charset=utf-8", 1},
    {".css", "text/css; charset=utf-8", 1},
    {".json", "application/json", 1},
    {".geojson", "application/geo+json", 1},
    {".svg", "image/svg+xml", 1},
    {".png", "image/png", 0},
    {".jpg", "image/jpeg", 0},
    {".ico", "image/x-icon", 0},
    {".woff2", "font/woff2", 0},
    {".map", "application/json", 1},
    {".txt", "text/plain; charset=utf-8", 1},
};

static int type_index(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return (int)i;
    return -1;
}

int api_static_accepts(const char *ae, const char *coding)
{
    if (!ae)
        return 0;
    size_t cl = strlen(coding);
    int star = -1, named = -1;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *name = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t nl = (size_t)(p - name);
        int q_zero = 0;
        /* parameters up to the next comma: only q matters */
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                    const char *v = p + 2;
                    char *endp;
                    double q = strtod(v, &endp);
                    q_zero = endp == v || q <= 0.0;
                }
            } else {
                p++;
            }
        }
        if (nl == cl && strncasecmp(name, coding, cl) == 0)
            named = !q_zero;
        else if (nl == 1 && name[0] == '*')
            star = !q_zero;
    }
    return named >= 0 ? named : star > 0;
}

/* If-None-Match: a list of entity tags (weak ones compare by their opaque
 * part, RFC 9110 8.8.3.2) or "*" */
static int etag_matches(const char *inm, const char *etag)
{
    if (!inm)
        return 0;
    size_t el = strlen(etag);
    const char *p = inm;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        if (strncmp(p, etag, el) == 0 && (p[el] == '\0' || p[el] == ',' || p[el] == ' '))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

/* vendor/ (pinned packages, web-static/build.sh) and names carrying a content
 * hash (app.3f9a2c1d.js) never change under their URL */
static int immutable(const char *path)
{
    if (strncmp(path, "/vendor/", 8) == 0)
        return 1;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (const char *d = strchr(base, '.'); d; d = strchr(d + 1, '.')) {
        size_t n = 0;
        while (isxdigit((unsigned char)d[1 + n]))
            n++;
        if (n >= 8 && d[1 + n] == '.')
            return 1;
    }
    return 0;
}

static int open_regular(const char *file, struct stat *st)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static long long mtime_ns(const struct stat *st)
{
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

/* Paths with "..", hidden segments or anything outside [A-Za-z0-9._/-] are
 * refused before touching the disk. */
int api_static_serve(api_req *r, const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    size_t l = strlen(path);
    if (l > 200 || strstr(path, "..") || strstr(path, "/."))
        return api_reply_error(r, API_E_NOT_FOUND, "%s", "no such file");
    for (size_t i = 0; i < l; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '/' || c == '-'))
            return api_reply_error(r, API_E_NOT_FOUND, "%s", "no such file");
    }
    /* a request for the compressed sibling itself is not a file of the dashboard */
    if ((l > 3 && strcmp(path + l - 3, ".gz") == 0) || (l > 3 && strcmp(path + l - 3, ".br") == 0))
        return api_reply_error(r, API_E_NOT_FOUND, "%s", "no such file");
    char full[4096];
    snprintf(full, sizeof full, "%s%s", g_config.web_root, path);
    struct stat st;
    int fd = open_regular(full, &st);
    if (fd < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "%s", "no such file");
    int ti = type_index(path);
    const char *coding = NULL;
    if (ti >= 0 && types[ti].text) {
        /* a sibling older than the file is stale (the file was edited after
         * the build compressed it): the file itself is served instead */
        static const struct {
            const char *coding, *suffix;
        } sibs[] = {{"br", ".br"}, {"gzip", ".gz"}};
        const char *ae = api_req_header(r, "Accept-Encoding");
        for (size_t i = 0; i < 2 && !coding; i++) {
            if (!api_static_accepts(ae, sibs[i].coding))
                continue;
            char sib[4100];
            snprintf(sib, sizeof sib, "%s%s", full, sibs[i].suffix);
            struct stat cst;
            int cfd = open_regular(sib, &cst);
            if (cfd < 0)
                continue;
            if (mtime_ns(&cst) < mtime_ns(&st)) {
                close(cfd);
                continue;
            }
            close(fd);
            fd = cfd;
            st = cst;
            coding = sibs[i].coding;
        }
        api_reply_add_header(r, "Vary", "Accept-Encoding");
    }
    /* one tag per representation: size and modification time of the bytes sent */
    char etag[80];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s%s\"", (unsigned long long)st.st_size,
             (unsigned long long)mtime_ns(&st), coding ? "-" : "", coding ? coding : "");
    api_reply_add_header(r, "ETag", etag);
    api_reply_add_header(r, "Cache-Control",
                         immutable(path) ? "public, max-age=31536000, immutable" : "no-cache");
    if (coding)
        api_reply_add_header(r, "Content-Encoding", coding);
    if (etag_matches(api_req_header(r, "If-None-Match"), etag)) {
        close(fd);
        return api_reply_response(
            r, 304, MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT), NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (!resp) {
        close(fd);
        return api_reply_error(r, API_E_INTERNAL, "could not open file");
    }
    MHD_add_response_header(
        resp, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob: https:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'");
    return api_reply_response(r, 200, resp, ti >= 0 ? types[ti].type : "application/octet-stream");
}
