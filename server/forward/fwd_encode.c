#include "fwd_encode.h"

#include "ing_decode.h"
#include "ing_hebei.h"
#include "ing_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* our rule alarms travel as events */
static const char *wire_kind(const char *kind)
{
    return strcmp(kind, "alarms") == 0 ? "events" : kind;
}

const char *fwd_path(int mem, const char *kind)
{
    kind = wire_kind(kind);
    int r = strcmp(kind, "readings") == 0, e = strcmp(kind, "events") == 0;
    if (mem)
        return r ? "/readings" : e ? "/events" : "/videos";
    return r ? "/api/rtsData" : e ? "/api/eventsData" : "/api/videosData";
}

/* Hebei scd of an event level: the inverse of the ingest default map */
static int hebei_scd(const char *level)
{
    ing_limits lim;
    ing_limits_default(&lim);
    int want = ing_event_level_parse(level ? level : "");
    for (int i = 0; i < 16; i++)
        if (want >= 0 && lim.hebei_scd_map[i] == want)
            return i;
    return 5; /* fault */
}

static const char *quality_name(json_int_t q)
{
    return q == 1 ? "suspect" : q == 2 ? "bad" : "good";
}

/* one item in the dialect's shape (new reference) */
static json_t *item_json(int mem, const char *kind, const json_t *it)
{
    kind = wire_kind(kind);
    json_t *v = json_object_get(it, "v"), *th = json_object_get(it, "th");
    const char *p = json_string_value(json_object_get(it, "p"));
    const char *ts = json_string_value(json_object_get(it, "ts"));
    const char *c = json_string_value(json_object_get(it, "c"));
    if (strcmp(kind, "readings") == 0) {
        if (mem)
            return json_pack("{s:s?, s:s?, s:O, s:s}", "point", p, "ts", ts, "value", v, "quality",
                             quality_name(json_integer_value(json_object_get(it, "q"))));
        return json_pack("{s:s?, s:s?, s:O}", "tnm", p, "ts", ts, "val", v);
    }
    if (strcmp(kind, "events") == 0) {
        const char *level = json_string_value(json_object_get(it, "level"));
        json_t *o;
        if (mem)
            o = json_pack("{s:s?, s:s?, s:s?}", "point", p, "ts", ts, "level", level);
        else
            o = json_pack("{s:s?, s:s?, s:i, s:s}", "oname", p, "ts", ts, "scd", hebei_scd(level),
                          "content", c && *c ? c : (level ? level : ""));
        if (!o)
            return NULL;
        if (json_is_number(v))
            json_object_set(o, mem ? "value" : "avx", v);
        if (json_is_number(th))
            json_object_set(o, "threshold", th);
        if (mem && c && *c)
            json_object_set_new(o, "content", json_string(c));
        return o;
    }
    const char *cam = json_string_value(json_object_get(it, "cam"));
    const char *type = json_string_value(json_object_get(it, "type"));
    if (mem) {
        json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s}", "camera", cam, "ts", ts, "alarm_type",
                              type, "content", c ? c : "");
        const char *img = json_string_value(json_object_get(it, "img"));
        if (o && img)
            json_object_set_new(o, "image_base64", json_string(img));
        return o;
    }
    return json_pack("{s:s?, s:s?, s:s?, s:s}", "ts", ts, "videoCode", cam, "alarmType", type,
                     "content", c ? c : "");
}

/* appends one payload of items [from, to) */
static int add_payload(json_t *out, int mem, const char *kind, const char *qybm, const char *wgbm,
                       json_int_t enterprise_id, const json_t *items, size_t from, size_t to)
{
    json_t *list = json_array(), *inner = NULL;
    const char *img = NULL, *payload_kind = kind;
    kind = wire_kind(kind);
    for (size_t i = from; i < to; i++) {
        const json_t *it = json_array_get(items, i);
        json_t *x = item_json(mem, kind, it);
        if (!x || json_array_append_new(list, x) != 0) {
            json_decref(list);
            return -1;
        }
        if (!mem && strcmp(kind, "videos") == 0)
            img = json_string_value(json_object_get(it, "img"));
    }
    if (strcmp(kind, "videos") == 0 && !mem) {
        inner = json_incref(json_array_get(list, 0)); /* bare, as the V1.1 document has it */
    } else if (mem) {
        inner = json_object();
        if (wgbm && strcmp(kind, "videos") != 0)
            json_object_set_new(inner, "gateway", json_string(wgbm));
        json_object_set(inner, kind, list);
    } else {
        inner = json_pack("{s:s, s:{s:O}}", "qybm", qybm, "data",
                          strcmp(kind, "readings") == 0 ? "rts" : "events", list);
    }
    json_decref(list);
    char *text = inner ? json_dumps(inner, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(inner);
    if (!text)
        return -1;
    json_t *p = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:I, s:I}", "kind", payload_kind, "qybm",
                          qybm, "wgbm", wgbm, "inner", text, "img", img, "items",
                          (json_int_t)(to - from), "enterprise_id", enterprise_id);
    free(text);
    return p ? json_array_append_new(out, p) : -1;
}

/* the items of [from, n) that fit one request: at most step, and at most
 * FWD_MAX_INNER bytes of their JSON (a first item always fits) */
static size_t chunk_end(const json_t *items, size_t from, size_t n, size_t step)
{
    size_t bytes = 0, i = from;
    for (; i < n && i - from < step; i++) {
        const json_t *it = json_array_get(items, i);
        size_t len = json_dumpb(it, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (i > from && bytes + len > FWD_MAX_INNER)
            break;
        bytes += len;
    }
    return i;
}

json_t *fwd_encode_page(int mem, int batch_max, const json_t *page)
{
    json_t *out = json_array();
    if (!json_is_array(page) || !out) {
        json_decref(out);
        return NULL;
    }
    /* the groups (enterprise, kind) in the order of their first row; each group's
     * items in row order, so the items of one point keep their order */
    size_t n = json_array_size(page);
    char *done = calloc(n ? n : 1, 1);
    if (!done) {
        json_decref(out);
        return NULL;
    }
    for (size_t g = 0; g < n; g++) {
        const json_t *first = json_array_get(page, g);
        if (done[g])
            continue;
        const char *kind = json_string_value(json_object_get(first, "kind"));
        json_int_t ent = json_integer_value(json_object_get(first, "enterprise_id"));
        if (!kind || !json_is_array(json_object_get(first, "items")))
            goto bad;
        json_t *items = json_array();
        const char *qybm = NULL, *wgbm = NULL;
        for (size_t r = g; r < n; r++) {
            const json_t *row = json_array_get(page, r);
            const char *k = json_string_value(json_object_get(row, "kind"));
            if (done[r] || !k || strcmp(k, kind) != 0 ||
                json_integer_value(json_object_get(row, "enterprise_id")) != ent)
                continue;
            done[r] = 1;
            json_t *its = json_object_get(row, "items");
            if (json_array_size(its) > 0 && !qybm) {
                qybm = json_string_value(json_object_get(row, "qybm"));
                wgbm = json_string_value(json_object_get(row, "wgbm"));
            }
            if (!json_is_array(its) || json_array_extend(items, its) != 0) {
                json_decref(items);
                goto bad;
            }
        }
        size_t m = json_array_size(items);
        if (m > 0 && !qybm) {
            json_decref(items);
            goto bad;
        }
        size_t step = strcmp(kind, "videos") == 0 ? 1 : (size_t)(batch_max > 0 ? batch_max : 1);
        for (size_t i = 0; i < m;) {
            size_t end = chunk_end(items, i, m, step);
            if (add_payload(out, mem, kind, qybm, wgbm, ent, items, i, end) != 0) {
                json_decref(items);
                goto bad;
            }
            i = end;
        }
        json_decref(items);
    }
    free(done);
    return out;
bad:
    free(done);
    json_decref(out);
    return NULL;
}

int fwd_encode_body(const fwd_keys *k, const char *appid, const json_t *payload, char **body)
{
    const char *kind = json_string_value(json_object_get(payload, "kind"));
    const char *inner = json_string_value(json_object_get(payload, "inner"));
    const char *qybm = json_string_value(json_object_get(payload, "qybm"));
    const char *wgbm = json_string_value(json_object_get(payload, "wgbm"));
    const char *img = json_string_value(json_object_get(payload, "img"));
    if (!kind || !inner || !qybm)
        return -1;
    if (k->mem)
        return appid ? ing_mem_encode(inner, appid, k->sm4_key, k->sm4_iv, body) : -1;
    kind = wire_kind(kind);
    ing_kind ik = strcmp(kind, "readings") == 0 ? ING_KIND_READINGS
                  : strcmp(kind, "events") == 0 ? ING_KIND_EVENTS
                                                : ING_KIND_VIDEOS;
    return ing_hebei_encode(ik, inner, qybm, wgbm, k->des_key, k->des_iv, img, body);
}

fwd_verdict fwd_classify(int mem, long http_status, const char *body, size_t len, int *code,
                         char *reason, size_t reasonlen)
{
    *code = -1;
    if (http_status == 0) {
        snprintf(reason, reasonlen, "no answer");
        return FWD_RETRY;
    }
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *c = json_object_get(j, "code");
    if (json_is_integer(c))
        *code = (int)json_integer_value(c);
    const char *msg = json_string_value(json_object_get(j, "msg"));
    if (!msg)
        msg = json_string_value(json_object_get(j, "detail"));
    json_t *rejected = json_object_get(j, "rejected");
    if (!msg && json_is_array(json_object_get(j, "errors")))
        msg = json_string_value(
            json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message"));
    if (*code >= 0)
        snprintf(reason, reasonlen, "HTTP %ld, code %d%s%.300s", http_status, *code,
                 msg ? ": " : "", msg ? msg : "");
    else
        snprintf(reason, reasonlen, "HTTP %ld%s%.300s", http_status, msg ? ": " : "",
                 msg ? msg : "");
    fwd_verdict v;
    if (http_status == 408 || http_status == 429 || http_status >= 500 ||
        (*code >= 500 && *code <= 599))
        v = FWD_RETRY;
    else if (http_status < 200 || http_status > 299)
        v = FWD_REFUSED;
    else if (!mem)
        v = *code == 200 ? FWD_ACK : FWD_REFUSED;
    else
        v = (*code < 0 || *code == 200) &&
                    (!json_is_integer(rejected) || json_integer_value(rejected) == 0)
                ? FWD_ACK
                : FWD_REFUSED;
    json_decref(j);
    return v;
}
