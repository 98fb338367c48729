/* db_gateway_offline — gateway-offline alarms (migration 0022), for the worker.
 *
 * A gateway that was heard from (gateways.last_seen_at, kept by the ingest
 * writers) and has been silent for longer than the threshold gets one alarm:
 * source rule, channel and kind gateway_offline, level 0, no point, raised at
 * the moment it became overdue (last_seen_at + threshold).  It is cleared when
 * the gateway is heard from again (or deleted), and closed then if it was
 * handled, as a point alarm is.  While an approved filing covers the whole
 * enterprise the alarm is not raised but recorded once per filing in
 * filing_suppressions (migration 0110).  Both statements run in the worker's
 * transaction and write their alarm_events rows. */
#ifndef DW_DB_GATEWAY_OFFLINE_H
#define DW_DB_GATEWAY_OFFLINE_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

void db_gateway_offline_register(void);

typedef struct db_gateway_offline_change {
    int64_t alarm_id, enterprise_id;
    int64_t ts_s;   /* raised_at (raise) or cleared_at (clear, close) */
    char action[8]; /* "raise", "clear" or "close" */
} db_gateway_offline_change;

/* Raises the alarm of up to limit overdue gateways and clears those heard
 * from again within threshold_s.  *changes (malloc'd, caller frees; NULL when
 * none) lists what happened, *n of them. */
db_status db_gateway_offline_check(db_conn *c, long threshold_s, long ack_within_s,
                                   long handle_within_s, int limit,
                                   db_gateway_offline_change **changes, size_t *n);

#endif
