/* Invariants every ingest decoder promises (ing_decode.h), checked on each
 * result the harnesses get: a failure fills a 4xx/5xx error and no batch, a
 * success gives a batch whose items all have a known reject reason and whose
 * accepted items carry a valid code and their strings. */
#ifndef DW_FUZZ_INGEST_CHECK_H
#define DW_FUZZ_INGEST_CHECK_H

#include "fuzz_common.h"
#include "ing_decode.h"

#include <string.h>

static inline void fuzz_check_result(int rc, ing_batch *b, const ing_error *err)
{
    if (rc != 0) {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(b == NULL);
        FUZZ_CHECK(err->http_status >= 400 && err->http_status <= 599);
        FUZZ_CHECK(err->code != NULL && err->code[0] != '\0');
        FUZZ_CHECK(memchr(err->detail, '\0', sizeof err->detail) != NULL);
        return;
    }
    FUZZ_CHECK(b != NULL);
    for (size_t i = 0; i < b->n_readings; i++) {
        const ing_reading *r = &b->readings[i];
        FUZZ_CHECK(r->reject < ING_REJ__COUNT);
        if (r->reject == ING_REJ_NONE) {
            FUZZ_CHECK(r->point && ing_code_valid(r->point));
            FUZZ_CHECK(r->quality >= ING_Q_GOOD && r->quality <= ING_Q_BAD);
            FUZZ_CHECK(r->value == r->value); /* finite numbers only, never NaN */
        }
    }
    for (size_t i = 0; i < b->n_events; i++) {
        const ing_event *e = &b->events[i];
        FUZZ_CHECK(e->reject < ING_REJ__COUNT);
        if (e->reject == ING_REJ_NONE) {
            FUZZ_CHECK(e->point && ing_code_valid(e->point));
            FUZZ_CHECK(ing_event_level_name(e->level) != NULL);
            if (e->content)
                (void)strlen(e->content);
        }
    }
    for (size_t i = 0; i < b->n_videos; i++) {
        const ing_video *v = &b->videos[i];
        FUZZ_CHECK(v->reject < ING_REJ__COUNT);
        if (v->reject == ING_REJ_NONE) {
            FUZZ_CHECK(v->camera && ing_code_valid(v->camera));
            FUZZ_CHECK(v->alarm_type != NULL);
            if (v->img)
                FUZZ_CHECK(ing_image_type(v->img, v->img_len) != NULL);
        }
    }
    ing_batch_free(b);
}

#endif
