/* One encoder for the live-event envelope (see srv_event.h): six producers
 * used to write four shapes by hand, and the page had to guess. */
#include "srv_event.h"

#include "rds.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const envelope_keys[] = {"type",        "action",    "id", "enterprise_id",
                                            "district_id", "street_id", "ts"};

static json_t *id_or_null(long long v)
{
    return v > 0 ? json_integer((json_int_t)v) : json_null();
}

static int is_envelope_key(const char *k)
{
    for (size_t i = 0; i < sizeof envelope_keys / sizeof envelope_keys[0]; i++)
        if (strcmp(k, envelope_keys[i]) == 0)
            return 1;
    return 0;
}

char *srv_event_encode(const srv_event *e, const json_t *fields)
{
    int64_t ts = e->ts_ms;
    if (ts <= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "type", json_string(e->type));
    json_object_set_new(o, "action", json_string(e->action));
    json_object_set_new(o, "id", id_or_null(e->id));
    json_object_set_new(o, "enterprise_id", id_or_null(e->enterprise_id));
    json_object_set_new(o, "district_id", id_or_null(e->district_id));
    json_object_set_new(o, "street_id", id_or_null(e->street_id));
    json_object_set_new(o, "ts", json_integer((json_int_t)ts));
    const char *k;
    json_t *v;
    /* jansson's iteration macro takes a non-const object; nothing is changed */
    json_object_foreach((json_t *)fields, k, v) if (!is_envelope_key(k)) json_object_set(o, k, v);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

void srv_event_publish(const srv_event *e, const json_t *fields)
{
    char *s = srv_event_encode(e, fields);
    if (s)
        srv_event_publish_text(s);
    free(s);
}

int srv_event_publish_now(const srv_event *e, const json_t *fields)
{
    char *s = srv_event_encode(e, fields);
    if (!s)
        return -1;
    int rc = rds_publish_now(SRV_EVENT_CHANNEL, s);
    free(s);
    return rc;
}

void srv_event_publish_text(const char *encoded)
{
    rds_publish(SRV_EVENT_CHANNEL, NULL, 0, encoded);
}
