/* The live-event envelope: the one shape every producer publishes on the
 * Redis channel dw:events (after its commit) and GET /api/v1/events relays.
 *
 *   {"type": "alarm", "action": "raise", "id": 812, "enterprise_id": 17,
 *    "district_id": 3, "street_id": 9, "ts": 1764745200000, ...type's own fields}
 *
 * type/action/id/enterprise_id/district_id/street_id/ts are always present
 * (ids null when unknown; ts in milliseconds since the epoch); the fields of
 * each type are listed in schema/live-event.schema.json.  The SSE hub fills
 * district_id/street_id from enterprise_id when a producer does not know them. */
#ifndef DW_SRV_EVENT_H
#define DW_SRV_EVENT_H

#include <jansson.h>
#include <stdint.h>

/* The Redis channel the envelopes travel on: publishers here, the SSE hub's
 * SUBSCRIBE (api/resources/events.c) and the integration tests. */
#define SRV_EVENT_CHANNEL "dw:events"

typedef struct srv_event {
    const char *type;   /* "alarm", "warning", "risk", "ingest", "cleaning", ... */
    const char *action; /* "raise", "issue", "escalate", "accepted", ... */
    long long id;       /* the object's id (alarm, warning, ...); 0: none */
    long long enterprise_id, district_id, street_id; /* 0: unknown */
    int64_t ts_ms;                                   /* when it happened; 0: now */
} srv_event;

/* The envelope of e with the type's own fields (borrowed, may be NULL;
 * envelope keys in it are ignored) as compact JSON text: malloc'd, the
 * caller frees; NULL when out of memory. */
char *srv_event_encode(const srv_event *e, const json_t *fields);

/* Encodes and hands the text to the Redis publisher (never blocks; best
 * effort, PostgreSQL holds the facts). */
void srv_event_publish(const srv_event *e, const json_t *fields);

/* Publishes at once (rds_publish_now): for an envelope that must reach every
 * subscriber before anything published after this call returns — the move of an
 * enterprise (type SRV_EVENT_MOVE_TYPE, action SRV_EVENT_MOVE_ACTION, enterprise_id, or
 * 0 for "some enterprises moved"), which makes every live-event hub drop its cached
 * region of that enterprise.  0, or -1 when Redis did not take it now (it is queued). */
int srv_event_publish_now(const srv_event *e, const json_t *fields);
#define SRV_EVENT_MOVE_TYPE   "enterprise"
#define SRV_EVENT_MOVE_ACTION "move"

/* Hands text already made by srv_event_encode (borrowed) to the Redis
 * publisher, for producers that encode inside their transaction and publish
 * after its commit (alarm_rules). */
void srv_event_publish_text(const char *encoded);

#endif
