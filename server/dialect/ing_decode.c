/*
 * ing_decode — batch model, safe JSON loading, time parsing and the
 * decoder for our own ingest format v1.  See ing_decode.h.
 */
#include "ing_decode.h"

#include "ing_crypto.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ING_CODE_MAX 64
#define ING_TEXT_MAX 4096 /* content, bytes */

/* ------------------------------------------------------------ reasons */

static const struct {
    const char *code;
    const char *message;
} reject_table[ING_REJ__COUNT] = {
    [ING_REJ_NONE] = {"none", "accepted"},
    [ING_REJ_MISSING_FIELD] = {"missing_field",
                               "a required field is missing or has the wrong type"},
    [ING_REJ_BAD_TIMESTAMP] = {"bad_timestamp", "the timestamp is not in the expected format"},
    [ING_REJ_FUTURE_TIMESTAMP] = {"future_timestamp", "the timestamp is too far in the future"},
    [ING_REJ_NON_NUMERIC] = {"non_numeric", "the value is not a finite number"},
    [ING_REJ_BAD_QUALITY] = {"bad_quality", "quality must be good, suspect or bad"},
    [ING_REJ_DUPLICATE_IN_BATCH] = {"duplicate_in_batch",
                                    "the same item appears earlier in this batch"},
    [ING_REJ_UNKNOWN_POINT] = {"unknown_point", "the point code is not registered"},
    [ING_REJ_FOREIGN_POINT] = {"foreign_point", "the point belongs to another enterprise"},
    [ING_REJ_OUT_OF_RANGE] = {"out_of_range", "the value is outside the point's physical range"},
    [ING_REJ_POINT_DISABLED] = {"point_disabled", "the point is disabled"},
    [ING_REJ_BAD_LEVEL] = {"bad_level", "the alarm level or status code is not known"},
    [ING_REJ_BAD_IMAGE] = {"bad_image",
                           "the image is not valid base64 of a jpeg, png or webp image"},
    [ING_REJ_UNKNOWN_CAMERA] = {"unknown_camera",
                                "the camera code is not registered for this enterprise"},
    [ING_REJ_CAMERA_DISABLED] = {"camera_disabled", "the camera is disabled"},
    [ING_REJ_IMPLAUSIBLE] = {"implausible",
                             "the value is physically implausible for the point's kind (outside "
                             "the kind's plausibility range, as the point sets no range_min or "
                             "range_max of its own; or beyond 1e12 in magnitude)"},
};

const char *ing_reject_code(ing_reject r)
{
    if ((int)r < 0 || r >= ING_REJ__COUNT)
        return "invalid";
    return reject_table[r].code;
}

const char *ing_reject_message(ing_reject r)
{
    if ((int)r < 0 || r >= ING_REJ__COUNT)
        return "invalid reject reason";
    return reject_table[r].message;
}

static const char *const level_names[] = {
    [ING_EV_CLEARED] = "cleared", [ING_EV_HIGH] = "high",       [ING_EV_HIGH_HIGH] = "high_high",
    [ING_EV_LOW] = "low",         [ING_EV_LOW_LOW] = "low_low", [ING_EV_FAULT] = "fault",
};

const char *ing_event_level_name(int level)
{
    if (level < 0 || level >= (int)(sizeof level_names / sizeof level_names[0]))
        return NULL;
    return level_names[level];
}

int ing_event_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(level_names[i], name) == 0)
            return (int)i;
    return -1;
}

void ing_limits_default(ing_limits *l)
{
    memset(l, 0, sizeof *l);
    l->max_items = 10000;
    l->max_depth = 32;
    l->max_img_bytes = 500 * 1024;
    l->max_future_us = INT64_C(5) * 60 * 1000000;
    for (size_t i = 0; i < 16; i++)
        l->hebei_scd_map[i] = -1;
    l->hebei_scd_map[0] = ING_EV_CLEARED;
    l->hebei_scd_map[1] = ING_EV_HIGH;
    l->hebei_scd_map[2] = ING_EV_LOW;
    l->hebei_scd_map[3] = ING_EV_LOW_LOW;
    l->hebei_scd_map[4] = ING_EV_HIGH_HIGH;
    l->hebei_scd_map[5] = ING_EV_FAULT;
}

void ing_error_set(ing_error *err, int http_status, const char *code, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->http_status = http_status;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
}

/* -------------------------------------------------------------- arena */

struct ing_arena {
    struct ing_arena *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

ing_batch *ing_batch_new(ing_kind kind)
{
    ing_batch *b = calloc(1, sizeof *b);
    if (b != NULL)
        b->kind = kind;
    return b;
}

void *ing_batch_alloc(ing_batch *b, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0)
        n = align;
    struct ing_arena *a = b->arena_;
    if (a == NULL || a->cap - a->used < n) {
        size_t cap = n > 8192 ? n : 8192;
        struct ing_arena *na = malloc(sizeof *na + cap);
        if (na == NULL)
            return NULL;
        na->used = 0;
        na->cap = cap;
        if (a != NULL && cap > 8192) {
            /* big one-off block: keep the current chunk at the head */
            na->next = a->next;
            a->next = na;
        } else {
            na->next = a;
            b->arena_ = na;
        }
        a = na;
    }
    void *p = a->data + a->used;
    a->used += n;
    return p;
}

char *ing_batch_strdup(ing_batch *b, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *d = ing_batch_alloc(b, n + 1);
    if (d != NULL)
        memcpy(d, s, n + 1);
    return d;
}

int ing_batch_alloc_items(ing_batch *b, size_t n)
{
    size_t m = n ? n : 1;
    switch (b->kind) {
    case ING_KIND_READINGS:
        b->readings = calloc(m, sizeof *b->readings);
        if (b->readings == NULL)
            return -1;
        b->n_readings = n;
        break;
    case ING_KIND_EVENTS:
        b->events = calloc(m, sizeof *b->events);
        if (b->events == NULL)
            return -1;
        b->n_events = n;
        break;
    case ING_KIND_VIDEOS:
        b->videos = calloc(m, sizeof *b->videos);
        if (b->videos == NULL)
            return -1;
        b->n_videos = n;
        break;
    }
    return 0;
}

void ing_batch_free(ing_batch *b)
{
    if (b == NULL)
        return;
    struct ing_arena *a = b->arena_;
    while (a != NULL) {
        struct ing_arena *next = a->next;
        free(a);
        a = next;
    }
    free(b->readings);
    free(b->events);
    free(b->videos);
    free(b);
}

/* --------------------------------------------------------- duplicates */

struct dup_key {
    const char *k1;
    int64_t ts;
    const char *k2;
    int level;
    size_t idx;
};

/* Any order that keeps equal keys together does: the instant first, so
 * that most comparisons are of integers, not of strings. */
static int dup_cmp_full(const struct dup_key *x, const struct dup_key *y)
{
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->k1, y->k1);
    if (c != 0)
        return c;
    c = strcmp(x->k2 ? x->k2 : "", y->k2 ? y->k2 : "");
    if (c != 0)
        return c;
    return (x->level > y->level) - (x->level < y->level);
}

static int dup_cmp(const void *a, const void *b)
{
    const struct dup_key *x = a, *y = b;
    int c = dup_cmp_full(x, y);
    if (c != 0)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int ing_batch_mark_duplicates(ing_batch *b)
{
    size_t n = b->kind == ING_KIND_READINGS ? b->n_readings
               : b->kind == ING_KIND_EVENTS ? b->n_events
                                            : b->n_videos;
    if (n < 2)
        return 0;
    struct dup_key *keys = malloc(n * sizeof *keys);
    if (keys == NULL)
        return -1;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        struct dup_key k = {0};
        k.idx = i;
        if (b->kind == ING_KIND_READINGS) {
            const ing_reading *r = &b->readings[i];
            if (r->reject != ING_REJ_NONE || r->point == NULL)
                continue;
            k.k1 = r->point;
            k.ts = r->ts_us;
        } else if (b->kind == ING_KIND_EVENTS) {
            const ing_event *e = &b->events[i];
            if (e->reject != ING_REJ_NONE || e->point == NULL)
                continue;
            k.k1 = e->point;
            k.ts = e->ts_us;
            k.level = e->level;
        } else {
            const ing_video *v = &b->videos[i];
            if (v->reject != ING_REJ_NONE || v->camera == NULL)
                continue;
            k.k1 = v->camera;
            k.ts = v->ts_us;
            k.k2 = v->alarm_type;
        }
        keys[m++] = k;
    }
    if (m > 1)
        qsort(keys, m, sizeof *keys, dup_cmp);
    for (size_t i = 1; i < m; i++) {
        if (dup_cmp_full(&keys[i - 1], &keys[i]) != 0)
            continue;
        size_t idx = keys[i].idx; /* sorted by idx within a run: later one */
        if (b->kind == ING_KIND_READINGS)
            b->readings[idx].reject = ING_REJ_DUPLICATE_IN_BATCH;
        else if (b->kind == ING_KIND_EVENTS)
            b->events[idx].reject = ING_REJ_DUPLICATE_IN_BATCH;
        else
            b->videos[idx].reject = ING_REJ_DUPLICATE_IN_BATCH;
    }
    free(keys);
    return 0;
}

int ing_code_valid(const char *s)
{
    if (s == NULL)
        return 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f || n >= ING_CODE_MAX)
            return 0;
    return n > 0;
}

/* --------------------------------------------------------------- JSON */

int ing_decode_force_jansson;
atomic_long ing_decode_plain_total;

json_t *ing_json_load(const char *body, size_t len, int max_depth, ing_error *err)
{
    if (body == NULL || len == 0) {
        ing_error_set(err, 400, "empty_body", "the request body is empty");
        return NULL;
    }
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\0') {
            ing_error_set(err, 400, "bad_json", "NUL byte at offset %zu", i);
            return NULL;
        }
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                ing_error_set(err, 400, "too_deep", "JSON nested deeper than %d levels", max_depth);
                return NULL;
            }
        } else if ((c == ']' || c == '}') && --depth < 0) {
            ing_error_set(err, 400, "bad_json", "unbalanced '%c' at offset %zu", c, i);
            return NULL;
        }
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        ing_error_set(err, 400, "bad_json", "line %d column %d: %s", jerr.line, jerr.column,
                      jerr.text);
        return NULL;
    }
    return root;
}

json_t *ing_json_load_object(const char *body, size_t len, int max_depth, ing_error *err)
{
    json_t *root = ing_json_load(body, len, max_depth, err);
    if (root != NULL && !json_is_object(root)) {
        ing_error_set(err, 400, "bad_envelope", "the body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

/* --------------------------------------------------------------- time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

/* "YYYY-MM-DD?HH:MM:SS[.frac]" where ? is one of seps; returns local
 * microseconds (as if UTC) and the pointer after the fraction. */
static int parse_datetime(const char *s, const char *seps, int64_t *local_us, const char **end)
{
    int Y, M, D, h, mi, sec;
    if (strlen(s) < 19)
        return -1;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || strchr(seps, s[10]) == NULL || s[10] == '\0' ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 59)
        return -1;
    if (D > mdays[M - 1] + (M == 2 && is_leap(Y)))
        return -1;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (int i = nd; i < 6; i++)
            frac *= 10;
    }
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    *local_us = ((days * 86400) + h * 3600 + mi * 60 + sec) * INT64_C(1000000) + frac;
    *end = p;
    return 0;
}

int ing_parse_rfc3339(const char *s, int64_t *ts_us)
{
    int64_t local;
    const char *p;
    if (s == NULL || parse_datetime(s, "Tt ", &local, &p) != 0)
        return -1;
    int64_t off_s;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        off_s = 0;
    } else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_s = (oh * 3600 + om * 60) * (p[0] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    *ts_us = local - off_s * INT64_C(1000000);
    return 0;
}

int ing_parse_beijing(const char *s, int64_t *ts_us)
{
    int64_t local;
    const char *p;
    if (s == NULL || parse_datetime(s, " ", &local, &p) != 0 || *p != '\0')
        return -1;
    *ts_us = local - INT64_C(8) * 3600 * 1000000;
    return 0;
}

static void split_time(int64_t ts_us, int *Y, unsigned *M, unsigned *D, int *h, int *mi, int *sec,
                       int64_t *frac)
{
    int64_t secs = ts_us / 1000000, f = ts_us % 1000000;
    if (f < 0) {
        f += 1000000;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, Y, M, D);
    *h = (int)(rem / 3600);
    *mi = (int)(rem / 60 % 60);
    *sec = (int)(rem % 60);
    *frac = f;
}

void ing_format_rfc3339(int64_t ts_us, int offset_min, char *buf, size_t cap)
{
    int Y, h, mi, sec;
    unsigned M, D;
    int64_t frac;
    split_time(ts_us + (int64_t)offset_min * 60 * 1000000, &Y, &M, &D, &h, &mi, &sec, &frac);
    char fr[16] = "", off[16] = "Z";
    if (frac != 0)
        snprintf(fr, sizeof fr, ".%06lld", (long long)frac);
    if (offset_min != 0) {
        int a = offset_min < 0 ? -offset_min : offset_min;
        snprintf(off, sizeof off, "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60 % 100, a % 60);
    }
    snprintf(buf, cap, "%04d-%02u-%02uT%02d:%02d:%02d%s%s", Y, M, D, h, mi, sec, fr, off);
}

void ing_format_beijing(int64_t ts_us, char *buf, size_t cap)
{
    int Y, h, mi, sec;
    unsigned M, D;
    int64_t frac;
    split_time(ts_us + INT64_C(8) * 3600 * 1000000, &Y, &M, &D, &h, &mi, &sec, &frac);
    snprintf(buf, cap, "%04d-%02u-%02u %02d:%02d:%02d", Y, M, D, h, mi, sec);
}

int ing_parse_number_str(const char *s, double *v)
{
    if (s == NULL)
        return -1;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    int nd = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        nd++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            nd++;
        }
    }
    if (nd == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p != '\0' || p - s > 64)
        return -1;
    errno = 0;
    char *end;
    double x = strtod(s, &end);
    if (*end != '\0' || !isfinite(x)) /* underflow to ~0 is fine */
        return -1;
    *v = x;
    return 0;
}

/* ---------------------------------------------------- native decoding */

/* Whole-batch 400 when obj has a key outside the allowed set. */
static int check_fields(json_t *obj, const char *const *allowed, const char *where, ing_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(*a, key) == 0)
                ok = 1;
        if (!ok) {
            ing_error_set(err, 400, "unknown_field", "unknown field \"%.64s\" in %s", key, where);
            return -1;
        }
    }
    return 0;
}

/* Optional string field with a length cap; -1 (batch error) if too long. */
static int text_field(ing_batch *b, json_t *item, const char *name, size_t idx, char **out,
                      ing_error *err)
{
    json_t *v = json_object_get(item, name);
    *out = NULL;
    if (v == NULL || !json_is_string(v))
        return 0;
    if (json_string_length(v) > ING_TEXT_MAX) {
        ing_error_set(err, 400, "field_too_long", "item %zu: %s longer than %d bytes", idx, name,
                      ING_TEXT_MAX);
        return -1;
    }
    *out = ing_batch_strdup(b, json_string_value(v));
    if (*out == NULL) {
        ing_error_set(err, 500, "internal", "out of memory");
        return -1;
    }
    return 0;
}

/* Code field (point/camera/alarm_type): NULL when missing or invalid. */
static int code_field(ing_batch *b, json_t *item, const char *name, char **out, ing_error *err)
{
    json_t *v = json_object_get(item, name);
    *out = NULL;
    if (!json_is_string(v) || !ing_code_valid(json_string_value(v)))
        return 0;
    *out = ing_batch_strdup(b, json_string_value(v));
    if (*out == NULL) {
        ing_error_set(err, 500, "internal", "out of memory");
        return -1;
    }
    return 0;
}

/* ts: returns the reject reason (NONE when fine). */
static ing_reject native_ts(json_t *item, const ing_limits *lim, int64_t now_us, int64_t *ts)
{
    json_t *v = json_object_get(item, "ts");
    if (v == NULL || json_is_null(v))
        return ING_REJ_MISSING_FIELD;
    if (!json_is_string(v) || ing_parse_rfc3339(json_string_value(v), ts) != 0)
        return ING_REJ_BAD_TIMESTAMP;
    if (*ts > now_us + lim->max_future_us)
        return ING_REJ_FUTURE_TIMESTAMP;
    return ING_REJ_NONE;
}

/* Optional number; returns NONE / NON_NUMERIC; *has set when present. */
static ing_reject number_field(json_t *item, const char *name, double *out, int *has)
{
    json_t *v = json_object_get(item, name);
    *has = 0;
    if (v == NULL)
        return ING_REJ_NONE;
    if (!json_is_number(v))
        return ING_REJ_NON_NUMERIC;
    double x = json_number_value(v);
    if (!isfinite(x))
        return ING_REJ_NON_NUMERIC;
    *out = x;
    *has = 1;
    return ING_REJ_NONE;
}

/* A reading's fields as found in its object, whichever parser found them. */
typedef struct {
    const char *point; /* NUL-terminated; NULL when missing or not a string */
    int ts_kind;       /* 0 missing or null, 1 a string, 2 another type */
    const char *ts;
    int value_kind; /* 0 missing, 1 a number, 2 another type */
    double value;
    int has_quality;
    const char *quality; /* NULL when present but not a string */
} reading_fields;

static void reading_from_fields(ing_batch *b, size_t i, const reading_fields *f,
                                const ing_limits *lim, int64_t now_us)
{
    ing_reading *r = &b->readings[i];
    ing_reject rej = r->point == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = ING_REJ_NONE;
    if (f->ts_kind == 0)
        t = ING_REJ_MISSING_FIELD;
    else if (f->ts_kind != 1 || ing_parse_rfc3339(f->ts, &r->ts_us) != 0)
        t = ING_REJ_BAD_TIMESTAMP;
    else if (r->ts_us > now_us + lim->max_future_us)
        t = ING_REJ_FUTURE_TIMESTAMP;
    if (rej == ING_REJ_NONE)
        rej = t;
    ing_reject nv = ING_REJ_NONE;
    int has = 0;
    if (f->value_kind == 2 || (f->value_kind == 1 && !isfinite(f->value)))
        nv = ING_REJ_NON_NUMERIC;
    else if (f->value_kind == 1) {
        r->value = f->value;
        has = 1;
    }
    if (rej == ING_REJ_NONE)
        rej = nv != ING_REJ_NONE ? nv : has ? ING_REJ_NONE : ING_REJ_MISSING_FIELD;
    r->quality = ING_Q_GOOD;
    if (f->has_quality) {
        const char *qs = f->quality ? f->quality : "";
        if (strcmp(qs, "good") == 0)
            r->quality = ING_Q_GOOD;
        else if (strcmp(qs, "suspect") == 0)
            r->quality = ING_Q_SUSPECT;
        else if (strcmp(qs, "bad") == 0)
            r->quality = ING_Q_BAD;
        else if (rej == ING_REJ_NONE)
            rej = ING_REJ_BAD_QUALITY;
    }
    r->reject = rej;
}

static int decode_reading(ing_batch *b, json_t *item, size_t i, const ing_limits *lim,
                          int64_t now_us, ing_error *err)
{
    static const char *const allowed[] = {"point", "ts", "value", "quality", NULL};
    ing_reading *r = &b->readings[i];
    char where[48];
    snprintf(where, sizeof where, "readings[%zu]", i);
    if (check_fields(item, allowed, where, err) != 0)
        return -1;
    if (code_field(b, item, "point", &r->point, err) != 0)
        return -1;
    reading_fields f = {0};
    json_t *ts = json_object_get(item, "ts");
    f.ts_kind = ts == NULL || json_is_null(ts) ? 0 : json_is_string(ts) ? 1 : 2;
    f.ts = f.ts_kind == 1 ? json_string_value(ts) : NULL;
    json_t *v = json_object_get(item, "value");
    f.value_kind = v == NULL ? 0 : json_is_number(v) ? 1 : 2;
    f.value = f.value_kind == 1 ? json_number_value(v) : 0;
    json_t *q = json_object_get(item, "quality");
    f.has_quality = q != NULL;
    f.quality = json_is_string(q) ? json_string_value(q) : NULL;
    reading_from_fields(b, i, &f, lim, now_us);
    return 0;
}

static int decode_event(ing_batch *b, json_t *item, size_t i, const ing_limits *lim, int64_t now_us,
                        ing_error *err)
{
    static const char *const allowed[] = {"point",     "ts",      "level", "value",
                                          "threshold", "content", NULL};
    ing_event *e = &b->events[i];
    char where[48];
    snprintf(where, sizeof where, "events[%zu]", i);
    if (check_fields(item, allowed, where, err) != 0)
        return -1;
    if (code_field(b, item, "point", &e->point, err) != 0 ||
        text_field(b, item, "content", i, &e->content, err) != 0)
        return -1;
    ing_reject rej = e->point == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = native_ts(item, lim, now_us, &e->ts_us);
    if (rej == ING_REJ_NONE)
        rej = t;
    json_t *lv = json_object_get(item, "level");
    e->level = json_is_string(lv) ? ing_event_level_parse(json_string_value(lv)) : -1;
    if (rej == ING_REJ_NONE && lv == NULL)
        rej = ING_REJ_MISSING_FIELD;
    if (rej == ING_REJ_NONE && e->level < 0)
        rej = ING_REJ_BAD_LEVEL;
    if (e->level < 0)
        e->level = ING_EV_FAULT;
    ing_reject nv = number_field(item, "value", &e->value, &e->has_value);
    ing_reject nt = number_field(item, "threshold", &e->threshold, &e->has_threshold);
    if (rej == ING_REJ_NONE)
        rej = nv != ING_REJ_NONE ? nv : nt;
    e->reject = rej;
    return 0;
}

const char *ing_image_type(const unsigned char *p, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (p == NULL)
        return NULL;
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return "image/jpeg";
    if (n > sizeof png && memcmp(p, png, sizeof png) == 0)
        return "image/png";
    if (n > 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

/* Decode an image; returns NONE, BAD_IMAGE, or -1 via *fatal for 413/OOM. */
static ing_reject decode_image(ing_batch *b, const char *s, size_t n, const ing_limits *lim,
                               unsigned char **img, size_t *img_len, int *fatal, ing_error *err)
{
    *img = NULL;
    *img_len = 0;
    *fatal = 0;
    /* tolerate a data URI prefix */
    const char *comma = n > 5 && strncmp(s, "data:", 5) == 0 ? memchr(s, ',', n) : NULL;
    if (comma != NULL) {
        n -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    if (n / 4 * 3 > lim->max_img_bytes + 3 + n / 76 * 2) {
        ing_error_set(err, 413, "image_too_large", "image larger than %zu bytes",
                      lim->max_img_bytes);
        *fatal = 1;
        return ING_REJ_NONE;
    }
    unsigned char *raw;
    size_t raw_len;
    if (ing_b64_decode(s, n, &raw, &raw_len) != 0)
        return ING_REJ_BAD_IMAGE;
    if (raw_len > lim->max_img_bytes) {
        free(raw);
        ing_error_set(err, 413, "image_too_large", "image larger than %zu bytes",
                      lim->max_img_bytes);
        *fatal = 1;
        return ING_REJ_NONE;
    }
    if (ing_image_type(raw, raw_len) == NULL) {
        free(raw);
        return ING_REJ_BAD_IMAGE;
    }
    *img = ing_batch_alloc(b, raw_len);
    if (*img == NULL) {
        free(raw);
        ing_error_set(err, 500, "internal", "out of memory");
        *fatal = 1;
        return ING_REJ_NONE;
    }
    memcpy(*img, raw, raw_len);
    *img_len = raw_len;
    free(raw);
    return ING_REJ_NONE;
}

int ing_video_set_image(ing_batch *b, ing_video *v, const char *b64, size_t n,
                        const ing_limits *lim, ing_error *err)
{
    int fatal;
    ing_reject r = decode_image(b, b64, n, lim, &v->img, &v->img_len, &fatal, err);
    if (fatal)
        return -1;
    if (r != ING_REJ_NONE && v->reject == ING_REJ_NONE)
        v->reject = r;
    return 0;
}

static int decode_video(ing_batch *b, json_t *item, size_t i, const ing_limits *lim, int64_t now_us,
                        ing_error *err)
{
    static const char *const allowed[] = {"camera",  "ts",           "alarm_type",
                                          "content", "image_base64", NULL};
    ing_video *v = &b->videos[i];
    char where[48];
    snprintf(where, sizeof where, "videos[%zu]", i);
    if (check_fields(item, allowed, where, err) != 0)
        return -1;
    if (code_field(b, item, "camera", &v->camera, err) != 0 ||
        code_field(b, item, "alarm_type", &v->alarm_type, err) != 0 ||
        text_field(b, item, "content", i, &v->content, err) != 0)
        return -1;
    ing_reject rej =
        v->camera == NULL || v->alarm_type == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = native_ts(item, lim, now_us, &v->ts_us);
    if (rej == ING_REJ_NONE)
        rej = t;
    v->reject = rej;
    json_t *img = json_object_get(item, "image_base64");
    if (img != NULL && !json_is_string(img)) {
        if (v->reject == ING_REJ_NONE)
            v->reject = ING_REJ_BAD_IMAGE;
    } else if (img != NULL) {
        if (ing_video_set_image(b, v, json_string_value(img), json_string_length(img), lim, err) !=
            0)
            return -1;
    }
    return 0;
}

static const char *kind_array_name(ing_kind kind)
{
    return kind == ING_KIND_READINGS ? "readings" : kind == ING_KIND_EVENTS ? "events" : "videos";
}

/* ---- the plain readings body, without a JSON tree ----
 *
 * Nearly every readings body is {"gateway": "..", "readings": [{"point": "..",
 * "ts": "..", "value": <number>, "quality": ".."}, ...]} with plain ASCII
 * strings.  fast_readings() reads exactly that shape in one pass and fills the
 * batch through the same reading_from_fields() as the jansson path; anything
 * else - another key, a key twice, an escape or a byte outside printable
 * ASCII in a string, a missing or differently typed field, a number jansson
 * would refuse or read otherwise, trailing text, too many items - and it
 * answers 0 and the body is decoded by jansson as before, which also words
 * every error.  So both paths give the same batch for any body the fast one
 * takes (tests/unit/test_ing_decode.c compares them). */
typedef struct {
    const char *p, *end;
} fcur;

static void f_ws(fcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int f_char(fcur *c, char ch)
{
    f_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string of printable ASCII without escapes, copied NUL-terminated into
 * buf (at most cap - 1 bytes); 0 for anything else. */
static int f_string(fcur *c, char *buf, size_t cap)
{
    if (!f_char(c, '"'))
        return 0;
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch >= 0x7f || ch == '\\' || n + 1 >= cap)
            return 0;
        buf[n++] = (char)ch;
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    c->p++;
    buf[n] = '\0';
    return 1;
}

/* A JSON number read as jansson reads it: an integer token (no fraction, no
 * exponent) through strtoll, any other through strtod; 0 for a token outside
 * the grammar, an integer of more than 18 digits or a real out of range. */
static int f_number(fcur *c, double *v)
{
    f_ws(c);
    const char *s = c->p, *p = c->p;
    int integer = 1;
    if (p < c->end && *p == '-')
        p++;
    if (p >= c->end || !isdigit((unsigned char)*p))
        return 0;
    if (*p == '0')
        p++;
    else
        while (p < c->end && isdigit((unsigned char)*p))
            p++;
    if (p < c->end && *p == '.') {
        integer = 0;
        p++;
        if (p >= c->end || !isdigit((unsigned char)*p))
            return 0;
        while (p < c->end && isdigit((unsigned char)*p))
            p++;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        integer = 0;
        p++;
        if (p < c->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= c->end || !isdigit((unsigned char)*p))
            return 0;
        while (p < c->end && isdigit((unsigned char)*p))
            p++;
    }
    /* a digit or letter right after the token: not a number jansson reads */
    if (p < c->end && (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+'))
        return 0;
    char tok[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof tok || (integer && n > 18))
        return 0;
    memcpy(tok, s, n);
    tok[n] = '\0';
    errno = 0;
    if (integer) {
        long long x = strtoll(tok, NULL, 10);
        if (errno != 0)
            return 0;
        *v = (double)x;
    } else {
        double x = strtod(tok, NULL);
        if (errno != 0 || !isfinite(x))
            return 0;
        *v = x;
    }
    c->p = p;
    return 1;
}

enum { F_TEXT = 64 };

/* One reading object; 0 when it is not of the plain shape. */
static int f_reading(fcur *c, ing_batch *b, size_t i, const ing_limits *lim, int64_t now_us)
{
    char key[16], point[F_TEXT], ts[F_TEXT], quality[F_TEXT];
    int seen_point = 0, seen_ts = 0, seen_value = 0, seen_quality = 0;
    reading_fields f = {0};
    if (!f_char(c, '{'))
        return 0;
    if (f_char(c, '}'))
        return 0; /* an empty object: the jansson path words its rejects */
    do {
        if (!f_string(c, key, sizeof key) || !f_char(c, ':'))
            return 0;
        if (strcmp(key, "point") == 0 && !seen_point++) {
            if (!f_string(c, point, sizeof point))
                return 0;
        } else if (strcmp(key, "ts") == 0 && !seen_ts++) {
            if (!f_string(c, ts, sizeof ts))
                return 0;
        } else if (strcmp(key, "value") == 0 && !seen_value++) {
            if (!f_number(c, &f.value))
                return 0;
        } else if (strcmp(key, "quality") == 0 && !seen_quality++) {
            if (!f_string(c, quality, sizeof quality))
                return 0;
        } else {
            return 0;
        }
    } while (f_char(c, ','));
    if (!f_char(c, '}') || !seen_point || !seen_ts || !seen_value)
        return 0;
    ing_reading *r = &b->readings[i];
    r->point = NULL;
    if (ing_code_valid(point) && (r->point = ing_batch_strdup(b, point)) == NULL)
        return -1;
    f.point = r->point;
    f.ts_kind = 1;
    f.ts = ts;
    f.value_kind = 1;
    f.has_quality = seen_quality;
    f.quality = seen_quality ? quality : NULL;
    reading_from_fields(b, i, &f, lim, now_us);
    return 1;
}

/* The number of items of the readings array at c (positioned after its '['),
 * counted by their top-level commas: an upper bound of what the array holds
 * when the body is not of the plain shape, exact when it is. */
static size_t f_count_items(const char *p, const char *end)
{
    size_t n = 1;
    int depth = 0, in_str = 0;
    for (; p < end; p++) {
        char ch = *p;
        if (in_str) {
            if (ch == '\\' && p + 1 < end)
                p++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth-- == 0)
                break;
        } else if (ch == ',' && depth == 0) {
            n++;
        }
    }
    return n;
}

/* 1: *out decoded; 0: not the plain shape (decode with jansson); -1: out of
 * memory (err set). */
static int fast_readings(const char *body, size_t len, const ing_limits *lim, int64_t now_us,
                         ing_batch **out, ing_error *err)
{
    fcur c = {body, body + len};
    char key[16], gateway[F_TEXT];
    int seen_gateway = 0, seen_readings = 0;
    ing_batch *b = NULL;
    if (lim->max_depth < 3 || !f_char(&c, '{'))
        return 0;
    do {
        if (!f_string(&c, key, sizeof key) || !f_char(&c, ':'))
            goto plain_not;
        if (strcmp(key, "gateway") == 0 && !seen_gateway++) {
            if (!f_string(&c, gateway, sizeof gateway) || !ing_code_valid(gateway))
                goto plain_not;
        } else if (strcmp(key, "readings") == 0 && !seen_readings++) {
            if (!f_char(&c, '['))
                goto plain_not;
            f_ws(&c);
            size_t n = f_count_items(c.p, c.end);
            if (n > lim->max_items)
                goto plain_not;
            b = ing_batch_new(ING_KIND_READINGS);
            if (b == NULL || ing_batch_alloc_items(b, n) != 0)
                goto oom;
            size_t i = 0;
            do {
                if (i == n)
                    goto plain_not;
                int rc = f_reading(&c, b, i++, lim, now_us);
                if (rc < 0)
                    goto oom;
                if (rc == 0)
                    goto plain_not;
            } while (f_char(&c, ','));
            if (!f_char(&c, ']') || i != n)
                goto plain_not;
        } else {
            goto plain_not;
        }
    } while (f_char(&c, ','));
    if (!f_char(&c, '}') || !seen_readings)
        goto plain_not;
    f_ws(&c);
    if (c.p != c.end)
        goto plain_not;
    if (seen_gateway && (b->gateway_code = ing_batch_strdup(b, gateway)) == NULL)
        goto oom;
    if (ing_batch_mark_duplicates(b) != 0)
        goto oom;
    *out = b;
    return 1;
plain_not:
    ing_batch_free(b);
    return 0;
oom:
    ing_batch_free(b);
    ing_error_set(err, 500, "internal", "out of memory");
    return -1;
}

static int decode_native(ing_kind kind, const char *body, size_t len, const ing_limits *lim,
                         int64_t now_us, ing_batch **out, ing_error *err);

int ing_decode_native(ing_kind kind, const char *body, size_t len, const ing_limits *lim,
                      int64_t now_us, ing_batch **out, ing_error *err)
{
    *out = NULL;
    if (kind == ING_KIND_READINGS && body != NULL && !ing_decode_force_jansson) {
        int rc = fast_readings(body, len, lim, now_us, out, err);
        if (rc > 0)
            atomic_fetch_add_explicit(&ing_decode_plain_total, 1, memory_order_relaxed);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }
    return decode_native(kind, body, len, lim, now_us, out, err);
}

static int decode_native(ing_kind kind, const char *body, size_t len, const ing_limits *lim,
                         int64_t now_us, ing_batch **out, ing_error *err)
{
    *out = NULL;
    json_t *root = ing_json_load_object(body, len, lim->max_depth, err);
    if (root == NULL)
        return -1;
    const char *arr_name = kind_array_name(kind);
    const char *allowed[] = {"gateway", arr_name, NULL};
    ing_batch *b = NULL;
    if (check_fields(root, allowed, "the body", err) != 0)
        goto fail;
    json_t *arr = json_object_get(root, arr_name);
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        ing_error_set(err, 400, "bad_envelope", "\"%s\" must be a non-empty array", arr_name);
        goto fail;
    }
    size_t n = json_array_size(arr);
    if (n > lim->max_items) {
        ing_error_set(err, 413, "too_many_items", "%zu items, at most %zu per batch", n,
                      lim->max_items);
        goto fail;
    }
    json_t *gw = json_object_get(root, "gateway");
    if (gw != NULL && (!json_is_string(gw) || !ing_code_valid(json_string_value(gw)))) {
        ing_error_set(err, 400, "bad_envelope",
                      "\"gateway\" must be a code of 1..64 printable characters");
        goto fail;
    }
    b = ing_batch_new(kind);
    if (b == NULL || ing_batch_alloc_items(b, n) != 0 ||
        (gw != NULL && (b->gateway_code = ing_batch_strdup(b, json_string_value(gw))) == NULL)) {
        ing_error_set(err, 500, "internal", "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(arr, i);
        if (!json_is_object(item)) {
            ing_error_set(err, 400, "bad_envelope", "%s[%zu] is not an object", arr_name, i);
            goto fail;
        }
        int rc = kind == ING_KIND_READINGS ? decode_reading(b, item, i, lim, now_us, err)
                 : kind == ING_KIND_EVENTS ? decode_event(b, item, i, lim, now_us, err)
                                           : decode_video(b, item, i, lim, now_us, err);
        if (rc != 0)
            goto fail;
    }
    if (ing_batch_mark_duplicates(b) != 0) {
        ing_error_set(err, 500, "internal", "out of memory");
        goto fail;
    }
    json_decref(root);
    *out = b;
    return 0;
fail:
    ing_batch_free(b);
    json_decref(root);
    return -1;
}

int ing_kind_for_route(const char *path, const char *const routes[3], ing_kind *kind)
{
    static const ing_kind kinds[] = {ING_KIND_READINGS, ING_KIND_EVENTS, ING_KIND_VIDEOS};
    if (path == NULL)
        return -1;
    size_t n = strcspn(path, "?");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *r = routes[kinds[i]];
        if (strlen(r) == n && strncmp(path, r, n) == 0) {
            *kind = kinds[i];
            return 0;
        }
    }
    return -1;
}

int ing_native_kind_for_path(const char *path, ing_kind *kind)
{
    static const char *const routes[] = {
        [ING_KIND_READINGS] = "/ingest/v1/readings",
        [ING_KIND_EVENTS] = "/ingest/v1/events",
        [ING_KIND_VIDEOS] = "/ingest/v1/videos",
    };
    return ing_kind_for_route(path, routes, kind);
}
