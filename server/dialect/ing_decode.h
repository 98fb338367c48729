/*
 * ing_decode — the dialect-neutral ingest batch and our own format v1.
 *
 * Pure: no DB, no network, no global state.  Every decoder turns one HTTP
 * body into an ing_batch of readings, events or videos.  Whole-batch
 * problems (bad JSON, wrong shape, unknown fields, too many items, too deep)
 * make the decoder return -1 and fill an ing_error with the HTTP status to
 * answer.  Per-item problems never fail the batch: the item stays in the
 * array, in input order (so index i in the batch == index i in the body),
 * with its `reject` field set; the server later fills the server-side
 * reasons (unknown_point, foreign_point, out_of_range, point_disabled,
 * unknown_camera, camera_disabled).
 *
 * Memory: an ing_batch owns all its strings and images (one private arena)
 * and its item arrays.  Everything is released by ing_batch_free().  Strings
 * inside a rejected item may be NULL (e.g. the point when it was missing).
 *
 * Thread-safety: all functions are reentrant; a batch must not be shared
 * between threads while it is being written.
 *
 * Own format v1 (JSON Schemas in schema/ingest-*.schema.json):
 *   readings: {"gateway"?: str, "readings": [{"point", "ts", "value", "quality"?}]}
 *   events:   {"gateway"?: str, "events":   [{"point", "ts", "level", "value"?, "threshold"?,
 * "content"?}]} videos:   {"gateway"?: str, "videos":   [{"camera", "ts", "alarm_type", "content"?,
 * "image_base64"?}]} ts is RFC 3339 with a mandatory offset ("Z" or ±hh:mm), optional fraction.
 */
#ifndef DW_ING_DECODE_H
#define DW_ING_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <stdatomic.h>

typedef enum { ING_KIND_READINGS, ING_KIND_EVENTS, ING_KIND_VIDEOS } ing_kind;

typedef enum {
    ING_REJ_NONE = 0,
    ING_REJ_MISSING_FIELD,      /* a required field is missing, null, or of the wrong type */
    ING_REJ_BAD_TIMESTAMP,      /* ts not parseable in the dialect's format */
    ING_REJ_FUTURE_TIMESTAMP,   /* ts later than now + max_future_us */
    ING_REJ_NON_NUMERIC,        /* value (or threshold) not a finite number */
    ING_REJ_BAD_QUALITY,        /* quality not good|suspect|bad */
    ING_REJ_DUPLICATE_IN_BATCH, /* same key as an earlier accepted item of this batch */
    /* server fills these later: */
    ING_REJ_UNKNOWN_POINT,
    ING_REJ_FOREIGN_POINT,
    ING_REJ_OUT_OF_RANGE,
    ING_REJ_POINT_DISABLED,
    /* additions (decoder-side): */
    ING_REJ_BAD_LEVEL, /* event level / Hebei scd not known */
    ING_REJ_BAD_IMAGE, /* video image not valid Base64 or not a JPEG, PNG or WebP */
    /* server-side, video alarms (as the point ones above: the writer decides) */
    ING_REJ_UNKNOWN_CAMERA,  /* no camera of that code registered for the enterprise */
    ING_REJ_CAMERA_DISABLED, /* the camera is registered but disabled */
    /* server-side: outside the point kind's physical plausibility range (the
     * point sets no range of its own), or beyond what any sensor reports */
    ING_REJ_IMPLAUSIBLE,
    ING_REJ__COUNT
} ing_reject;

/* Stable snake_case code ("unknown_point") and a short lower-case english
 * sentence.  Out-of-range values give "invalid" / "invalid reject reason". */
const char *ing_reject_code(ing_reject r);
const char *ing_reject_message(ing_reject r);

/* Event levels (ing_event.level). */
enum {
    ING_EV_CLEARED = 0,
    ING_EV_HIGH = 1,
    ING_EV_HIGH_HIGH = 2,
    ING_EV_LOW = 3,
    ING_EV_LOW_LOW = 4,
    ING_EV_FAULT = 5
};
/* "cleared", "high", "high_high", "low", "low_low", "fault"; NULL if unknown. */
const char *ing_event_level_name(int level);
/* Inverse; -1 if unknown. */
int ing_event_level_parse(const char *name);

/* Quality (ing_reading.quality). */
enum { ING_Q_GOOD = 0, ING_Q_SUSPECT = 1, ING_Q_BAD = 2 };

typedef struct {
    char *point;   /* point code */
    int64_t ts_us; /* UTC microseconds since the epoch */
    double value;
    int quality; /* ING_Q_* */
    ing_reject reject;
} ing_reading;

typedef struct {
    char *point;
    int64_t ts_us;
    int level; /* ING_EV_* */
    double value;
    double threshold;
    int has_value, has_threshold;
    char *content;     /* may be NULL */
    char *source_code; /* dialect's raw status code (Hebei scd as text), else NULL */
    ing_reject reject;
} ing_event;

typedef struct {
    char *camera;
    int64_t ts_us;
    char *alarm_type;
    char *content;      /* may be NULL */
    unsigned char *img; /* decoded JPEG, PNG or WebP, or NULL */
    size_t img_len;
    ing_reject reject;
} ing_video;

struct ing_arena; /* private */

typedef struct ing_batch {
    ing_kind kind;
    char *enterprise_code; /* qybm if the dialect names one, else NULL */
    char *gateway_code;    /* may be NULL */
    ing_reading *readings;
    size_t n_readings;
    ing_event *events;
    size_t n_events;
    ing_video *videos;
    size_t n_videos;
    struct ing_arena *arena_; /* private: owns every string and image above */
} ing_batch;

void ing_batch_free(ing_batch *b); /* NULL-safe */

typedef struct {
    size_t max_items;      /* default 10000 */
    int max_depth;         /* default 32 */
    size_t max_img_bytes;  /* default 500 KiB (512000) of decoded image */
    int64_t max_future_us; /* default 5 min */
    /* Hebei scd -> ING_EV_*, -1 = unknown (item rejected bad_level).
     * Defaults: 0 cleared, 1 high, 2 low, 3 low_low, 4 high_high, 5 fault;
     * 0 and 4 are verified against the Hebei V1.1 document, the others are
     * our inference (domain.md §2.3) and should be configured per province. */
    int hebei_scd_map[16];
} ing_limits;

void ing_limits_default(ing_limits *l);

typedef struct {
    int http_status;  /* 400, 413, 500 ... */
    const char *code; /* static string, see below */
    char detail[256];
} ing_error;
/* Error codes used by the decoders:
 *   400 empty_body, bad_json, too_deep, bad_envelope, unknown_field,
 *       field_too_long, bad_encoding (hex/Base64), decrypt_failed,
 *       enterprise_mismatch (Hebei inner qybm != outer qybm)
 *   413 too_many_items, image_too_large
 *   500 internal (out of memory), unknown_inner_decoder */

/* Our format v1.  Returns 0 and *out (caller frees with ing_batch_free) or
 * -1 and *err (then *out is NULL).  now_us for the future check. */
int ing_decode_native(ing_kind kind, const char *body, size_t len, const ing_limits *lim,
                      int64_t now_us, ing_batch **out, ing_error *err);

/* Map "/ingest/v1/readings", ".../events", ".../videos" to a kind.  0 / -1. */
int ing_native_kind_for_path(const char *path, ing_kind *kind);

/* ---- Helpers shared by the ing_ dialect modules and the simulator ---- */

/* The kind a request path names: the path up to any '?' is exactly one of
 * routes[ING_KIND_READINGS], routes[ING_KIND_EVENTS], routes[ING_KIND_VIDEOS].
 * 0 and *kind set, or -1 (also for a NULL path). */
int ing_kind_for_route(const char *path, const char *const routes[3], ing_kind *kind);

/* Fill *err (NULL-safe). */
void ing_error_set(ing_error *err, int http_status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Safe JSON load: rejects empty bodies, NUL bytes, nesting deeper than
 * max_depth (scanned before jansson sees it), duplicate keys, invalid UTF-8,
 * numbers out of range, trailing garbage.  Returns a new reference or NULL
 * with *err set. */
json_t *ing_json_load(const char *body, size_t len, int max_depth, ing_error *err);

/* Tests only: nonzero makes ing_decode_native decode every readings body
 * with jansson, never with its plain-shape reader (to compare the two);
 * ing_decode_plain_total counts the bodies the plain-shape reader decoded. */
extern int ing_decode_force_jansson;
extern atomic_long ing_decode_plain_total;
/* The same for a gateway's envelope, which must be an object (else 400
 * bad_envelope "the body must be a JSON object"). */
json_t *ing_json_load_object(const char *body, size_t len, int max_depth, ing_error *err);

/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)" ('T' may be 't' or a
 * space, 'Z' may be 'z').  Fraction truncated to microseconds.  0 / -1. */
int ing_parse_rfc3339(const char *s, int64_t *ts_us);
/* Parse Beijing local time "yyyy-MM-dd HH:mm:ss[.fff]" (UTC+8 always, no DST,
 * independent of the process TZ).  0 / -1. */
int ing_parse_beijing(const char *s, int64_t *ts_us);
/* Format as RFC 3339 with the given UTC offset in minutes (0 => "Z");
 * microseconds are printed only when non-zero.  buf >= 40 bytes. */
void ing_format_rfc3339(int64_t ts_us, int offset_min, char *buf, size_t cap);
/* Format as Beijing local "yyyy-MM-dd HH:mm:ss" (seconds truncated). */
void ing_format_beijing(int64_t ts_us, char *buf, size_t cap);

/* Strict decimal number in a string ("-12.5", "1e3"; no hex, inf, nan,
 * spaces).  Must be finite.  0 / -1. */
int ing_parse_number_str(const char *s, double *v);

/* Batch construction for dialect decoders. */
ing_batch *ing_batch_new(ing_kind kind);
/* Allocate n zeroed items of the batch's kind (sets the array and count). */
int ing_batch_alloc_items(ing_batch *b, size_t n);
/* Copy into the batch arena (NUL-terminated); NULL on OOM or NULL input. */
char *ing_batch_strdup(ing_batch *b, const char *s);
void *ing_batch_alloc(ing_batch *b, size_t n);
/* Mark later duplicates (reject == NONE only) as duplicate_in_batch.
 * Keys: readings (point, ts); events (point, ts, level);
 * videos (camera, ts, alarm_type). */
int ing_batch_mark_duplicates(ing_batch *b);
/* Decode a Base64 image (a "data:...;base64," prefix is tolerated) into the
 * batch arena and attach it to v.  Not Base64 / not a JPEG, PNG or WebP by its
 * magic bytes (ing_image_type) => item rejected bad_image (returns 0); larger
 * than lim->max_img_bytes => -1 with a 413 image_too_large error. */
/* The content type of an image by its magic bytes: "image/jpeg" (FF D8 FF),
 * "image/png" (the 8-byte PNG signature), "image/webp" (RIFF....WEBP), else
 * NULL. */
const char *ing_image_type(const unsigned char *p, size_t n);
int ing_video_set_image(ing_batch *b, ing_video *v, const char *b64, size_t n,
                        const ing_limits *lim, ing_error *err);
/* Printable ASCII code of 1..64 bytes (point, camera, alarm type). */
int ing_code_valid(const char *s);

#endif /* DW_ING_DECODE_H */
