/*
 * sim_fleet — fleet file, sampling schedule, dialect request building.
 * See sim_fleet.h.
 */
#include "sim_fleet.h"

#include "ing_crypto.h"
#include "ing_decode.h"
#include "ing_hebei.h"
#include "ing_mem.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_S INT64_C(1000000)

static const char *const dialect_names[] = {"native", "hebei", "mem"};

const char *sim_dialect_name(sim_dialect d)
{
    return (int)d >= 0 && (int)d < 3 ? dialect_names[d] : "unknown";
}

int sim_dialect_parse(const char *s)
{
    for (int i = 0; s != NULL && i < 3; i++)
        if (strcmp(dialect_names[i], s) == 0)
            return i;
    return -1;
}

static char *opt_strdup(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static double opt_number(json_t *obj, const char *key, double dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static int parse_hex_exact(const char *hex, unsigned char *dst, size_t n)
{
    unsigned char *b;
    size_t len;
    if (hex == NULL || ing_hex_decode(hex, strlen(hex), &b, &len) != 0)
        return -1;
    int ok = len == n;
    if (ok)
        memcpy(dst, b, n);
    free(b);
    return ok ? 0 : -1;
}

static int parse_enterprise(json_t *je, sim_enterprise *e, size_t idx, char *err, size_t errlen)
{
    e->code = opt_strdup(je, "code");
    if (e->code == NULL || e->code[0] == '\0') {
        snprintf(err, errlen, "enterprises[%zu]: \"code\" missing", idx);
        return -1;
    }
    json_t *jd = json_object_get(je, "dialect");
    int d = jd == NULL           ? SIM_D_NATIVE
            : json_is_string(jd) ? sim_dialect_parse(json_string_value(jd))
                                 : -1;
    if (d < 0) {
        snprintf(err, errlen, "%s: unknown dialect", e->code);
        return -1;
    }
    e->dialect = (sim_dialect)d;
    e->gateway = opt_strdup(je, "gateway");
    if (e->gateway == NULL && asprintf(&e->gateway, "%s01", e->code) < 0) {
        e->gateway = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->api_key = opt_strdup(je, "api_key");
    const char *des = json_string_value(json_object_get(je, "des_key"));
    const char *des_iv = json_string_value(json_object_get(je, "des_iv"));
    if (des != NULL) {
        if (strlen(des) != 8 || (des_iv != NULL && strlen(des_iv) != 8)) {
            snprintf(err, errlen, "%s: des_key/des_iv must be 8 characters", e->code);
            return -1;
        }
        memcpy(e->des_key, des, 8);
        memcpy(e->des_iv, des_iv != NULL ? (const unsigned char *)des_iv : ING_HEBEI_DEFAULT_IV, 8);
        e->has_des = 1;
    }
    e->appid = opt_strdup(je, "appid");
    e->appsecret = opt_strdup(je, "appsecret");
    const char *kh = json_string_value(json_object_get(je, "sm4_key_hex"));
    const char *ih = json_string_value(json_object_get(je, "sm4_iv_hex"));
    if (kh != NULL || ih != NULL) {
        if (parse_hex_exact(kh, e->sm4_key, 16) != 0 || parse_hex_exact(ih, e->sm4_iv, 16) != 0) {
            snprintf(err, errlen, "%s: sm4_key_hex/sm4_iv_hex must be 32 hex digits", e->code);
            return -1;
        }
        e->has_sm4 = 1;
    }
    json_t *js = json_object_get(je, "scenario");
    int sc = js == NULL ? SIM_SC_NONE : sim_scenario_parse(json_string_value(js));
    if (sc < 0) {
        snprintf(err, errlen, "%s: unknown scenario", e->code);
        return -1;
    }
    e->plan.scenario = (sim_scenario)sc;
    e->scenario_delay_us = (int64_t)(opt_number(je, "scenario_delay_s", 120) * US_PER_S);
    e->plan.ramp_us = (int64_t)(opt_number(je, "scenario_ramp_s", 600) * US_PER_S);
    e->plan.outage_us = (int64_t)(opt_number(je, "outage_s", 900) * US_PER_S);
    const char *shift = json_string_value(json_object_get(je, "shift"));
    if (shift != NULL && strcmp(shift, "round_the_clock") != 0 && strcmp(shift, "day") != 0) {
        snprintf(err, errlen, "%s: \"shift\" must be \"day\" or \"round_the_clock\"", e->code);
        return -1;
    }
    e->plan.round_the_clock = shift != NULL && strcmp(shift, "round_the_clock") == 0;

    json_t *jp = json_object_get(je, "points");
    if (!json_is_array(jp)) {
        snprintf(err, errlen, "%s: \"points\" must be an array", e->code);
        return -1;
    }
    e->n_points = json_array_size(jp);
    e->points = calloc(e->n_points ? e->n_points : 1, sizeof *e->points);
    if (e->points == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < e->n_points; i++) {
        json_t *p = json_array_get(jp, i);
        sim_fpoint *fp = &e->points[i];
        fp->code = opt_strdup(p, "code");
        int k = sim_kind_parse(json_string_value(json_object_get(p, "kind")));
        if (fp->code == NULL || k < 0) {
            snprintf(err, errlen, "%s: points[%zu] needs \"code\" and a known \"kind\"", e->code,
                     i);
            return -1;
        }
        fp->sig.kind = (sim_kind)k;
        double normal, noise;
        sim_kind_defaults(fp->sig.kind, &normal, &noise);
        fp->sig.normal = opt_number(p, "normal", normal);
        fp->sig.noise = fabs(opt_number(p, "noise", noise));
        double iv = opt_number(p, "interval_s", 10);
        fp->interval_s = iv >= 1 && iv <= 86400 ? (int)iv : 10;
    }
    return 0;
}

int sim_fleet_parse(const char *json, size_t len, sim_fleet *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "fleet file: line %d: %s", jerr.line, jerr.text);
        return -1;
    }
    json_t *ents = json_object_get(root, "enterprises");
    if (!json_is_array(ents)) {
        snprintf(err, errlen, "fleet file: \"enterprises\" must be an array");
        json_decref(root);
        return -1;
    }
    f->ingest_url = opt_strdup(root, "ingest_url");
    f->n_ents = json_array_size(ents);
    f->ents = calloc(f->n_ents ? f->n_ents : 1, sizeof *f->ents);
    int rc = f->ents != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < f->n_ents; i++)
        rc = parse_enterprise(json_array_get(ents, i), &f->ents[i], i, err, errlen);
    json_decref(root);
    if (rc != 0)
        sim_fleet_free(f);
    return rc;
}

int sim_fleet_load(const char *path, sim_fleet *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            if (cap > (size_t)64 << 20)
                break; /* 64 MiB is plenty for a fleet */
            char *nb = realloc(buf, cap + 65536);
            if (nb == NULL)
                break;
            buf = nb;
            cap += 65536;
        }
        size_t r = fread(buf + len, 1, cap - len, fp);
        len += r;
        if (r == 0)
            break;
    }
    int bad = ferror(fp) || !feof(fp);
    fclose(fp);
    if (bad || buf == NULL) {
        free(buf);
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    int rc = sim_fleet_parse(buf, len, f, err, errlen);
    free(buf);
    return rc;
}

void sim_fleet_free(sim_fleet *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; f->ents != NULL && i < f->n_ents; i++) {
        sim_enterprise *e = &f->ents[i];
        free(e->code);
        free(e->gateway);
        free(e->api_key);
        free(e->appid);
        free(e->appsecret);
        for (size_t k = 0; e->points != NULL && k < e->n_points; k++)
            free(e->points[k].code);
        free(e->points);
        sim_samples_free(e->backlog, e->n_backlog);
    }
    free(f->ents);
    free(f->ingest_url);
    memset(f, 0, sizeof *f);
}

int sim_enterprise_can(const sim_enterprise *e, sim_dialect d)
{
    switch (d) {
    case SIM_D_NATIVE:
        return e->api_key != NULL;
    case SIM_D_HEBEI:
        return e->has_des;
    case SIM_D_MEM:
        return e->has_sm4 && e->appid != NULL && e->appsecret != NULL;
    }
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h;
}

void sim_fleet_start(sim_fleet *f, int64_t sim_start_us, uint64_t seed)
{
    int64_t aligned = sim_start_us - sim_start_us % US_PER_S;
    for (size_t i = 0; i < f->n_ents; i++) {
        sim_enterprise *e = &f->ents[i];
        sim_rng_seed(&e->rng, seed ^ fnv1a(e->code));
        e->plan.start_us = aligned + e->scenario_delay_us;
        for (size_t k = 0; k < e->n_points; k++) {
            sim_fpoint *p = &e->points[k];
            /* spread first samples over the interval so batches mix points */
            int64_t off = (int64_t)(sim_rng_next(&e->rng) % (uint64_t)p->interval_s) * US_PER_S;
            p->next_us = aligned + off;
            p->sig.initialized = 0;
            p->sig.last_us = 0;
            p->sig.base = 0;
            p->sig.drift = 0;
        }
    }
}

void sim_samples_free(sim_sample *s, size_t n)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        free(s[i].point);
    free(s);
}

static int push_sample(sim_sample **arr, size_t *n, size_t *cap, const char *point, int64_t ts,
                       double v, int digital)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        sim_sample *na = realloc(*arr, nc * sizeof *na);
        if (na == NULL)
            return -1;
        *arr = na;
        *cap = nc;
    }
    char *p = strdup(point);
    if (p == NULL)
        return -1;
    (*arr)[(*n)++] = (sim_sample){p, ts, v, digital};
    return 0;
}

static int sample_cmp(const void *a, const void *b)
{
    const sim_sample *x = a, *y = b;
    if (x->ts_us != y->ts_us)
        return x->ts_us < y->ts_us ? -1 : 1;
    return strcmp(x->point, y->point);
}

int sim_enterprise_collect(sim_enterprise *e, int64_t sim_now_us, int force, size_t max,
                           sim_sample **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    int64_t now_s = sim_now_us - sim_now_us % US_PER_S;
    for (size_t k = 0; k < e->n_points; k++) {
        sim_fpoint *p = &e->points[k];
        int dig = sim_kind_is_digital(p->sig.kind);
        if (force) {
            double v = sim_signal_next(&p->sig, &e->plan, now_s, &e->rng);
            if (push_sample(out, n, &cap, p->code, now_s, v, dig) != 0)
                goto oom;
            p->next_us = now_s + p->interval_s * US_PER_S;
            continue;
        }
        while (p->next_us <= sim_now_us && *n < max) {
            double v = sim_signal_next(&p->sig, &e->plan, p->next_us, &e->rng);
            if (push_sample(out, n, &cap, p->code, p->next_us, v, dig) != 0)
                goto oom;
            p->next_us += p->interval_s * US_PER_S;
        }
    }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, sample_cmp);
    return 0;
oom:
    sim_samples_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

int sim_backlog_push(sim_enterprise *e, sim_sample *s, size_t n)
{
    if (e->n_backlog + n > e->cap_backlog) {
        size_t nc = e->cap_backlog ? e->cap_backlog : 256;
        while (nc < e->n_backlog + n)
            nc *= 2;
        sim_sample *na = realloc(e->backlog, nc * sizeof *na);
        if (na == NULL)
            return -1;
        e->backlog = na;
        e->cap_backlog = nc;
    }
    memcpy(e->backlog + e->n_backlog, s, n * sizeof *s);
    e->n_backlog += n;
    return 0;
}

int sim_backlog_take(sim_enterprise *e, size_t max, sim_sample **out, size_t *n)
{
    size_t k = e->n_backlog < max ? e->n_backlog : max;
    *out = NULL;
    *n = 0;
    if (k == 0)
        return 0;
    *out = malloc(k * sizeof **out);
    if (*out == NULL)
        return -1;
    memcpy(*out, e->backlog, k * sizeof **out);
    memmove(e->backlog, e->backlog + k, (e->n_backlog - k) * sizeof *e->backlog);
    e->n_backlog -= k;
    *n = k;
    return 0;
}

/* ------------------------------------------------------------ requests */

static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

static char *native_json(const sim_enterprise *e, const sim_sample *s, size_t n)
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:s, s:o}", "gateway", e->gateway, "readings", arr);
    if (root == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ts[48];
        ing_format_rfc3339(s[i].ts_us, 480, ts, sizeof ts);
        json_t *v =
            s[i].digital ? json_integer((json_int_t)s[i].value) : json_real(round3(s[i].value));
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:o}", "point", s[i].point, "ts", ts, "value", v));
    }
    char *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

static char *hebei_inner_json(const sim_enterprise *e, const sim_sample *s, size_t n)
{
    json_t *rts = json_array();
    json_t *root = json_pack("{s:s, s:{s:o}}", "qybm", e->code, "data", "rts", rts);
    if (root == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char ts[32], val[64];
        ing_format_beijing(s[i].ts_us, ts, sizeof ts);
        if (s[i].digital)
            snprintf(val, sizeof val, "%d", (int)s[i].value);
        else
            snprintf(val, sizeof val, "%.2f", s[i].value);
        json_array_append_new(
            rts, json_pack("{s:s, s:s, s:s}", "tnm", s[i].point, "ts", ts, "val", val));
    }
    char *out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return out;
}

static int set_header(sim_request *r, int i, const char *name, const char *value)
{
    r->hdr_name[i] = strdup(name);
    r->hdr_value[i] = strdup(value);
    return r->hdr_name[i] != NULL && r->hdr_value[i] != NULL ? 0 : -1;
}

int sim_build_readings(const sim_enterprise *e, sim_dialect d, const sim_sample *s, size_t n,
                       const char *idem_key, sim_request *req)
{
    memset(req, 0, sizeof *req);
    if (!sim_enterprise_can(e, d) || n == 0)
        return -1;
    int rc = 0;
    char *inner = NULL;
    switch (d) {
    case SIM_D_NATIVE:
        req->path = strdup("/ingest/v1/readings");
        req->body = native_json(e, s, n);
        rc = set_header(req, 0, "X-Api-Key", e->api_key);
        break;
    case SIM_D_HEBEI:
        req->path = strdup("/rabbitmqfcsb/api/rtsData");
        inner = hebei_inner_json(e, s, n);
        if (inner == NULL || ing_hebei_encode(ING_KIND_READINGS, inner, e->code, e->gateway,
                                              e->des_key, e->des_iv, NULL, &req->body) != 0)
            rc = -1;
        break;
    case SIM_D_MEM:
        req->path = strdup("/mem/v1/readings");
        inner = native_json(e, s, n);
        if (inner == NULL ||
            ing_mem_encode(inner, e->appid, e->sm4_key, e->sm4_iv, &req->body) != 0)
            rc = -1;
        rc = rc || set_header(req, 0, "appsecret", e->appsecret);
        break;
    }
    free(inner);
    int next = req->hdr_name[0] != NULL ? 1 : 0;
    if (rc == 0 && idem_key != NULL)
        rc = set_header(req, next, "Idempotency-Key", idem_key);
    if (rc != 0 || req->path == NULL || req->body == NULL) {
        sim_request_free(req);
        return -1;
    }
    return 0;
}

void sim_request_free(sim_request *r)
{
    if (r == NULL)
        return;
    free(r->path);
    free(r->body);
    for (int i = 0; i < 3; i++) {
        free(r->hdr_name[i]);
        free(r->hdr_value[i]);
    }
    memset(r, 0, sizeof *r);
}
