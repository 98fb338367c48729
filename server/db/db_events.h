/* What the live event hub needs from PostgreSQL: the regions of an
 * enterprise, to filter events by scope. */
#ifndef DW_DB_EVENTS_H
#define DW_DB_EVENTS_H

#include "db.h"

#include <stdint.h>

void db_events_register(void);

/* The district and street (0 for none) of an enterprise; *found 0 when
 * there is no such enterprise.  On a connection with the "system" scope. */
db_status db_events_enterprise_region(db_conn *c, int64_t enterprise_id, int64_t *district_id,
                                      int64_t *street_id, int *found);

/* The count of enterprise moves (enterprise_region_epoch): when it changed, cached
 * regions may be stale.  0 when the row is missing. */
db_status db_events_region_epoch(db_conn *c, int64_t *epoch);

#endif
