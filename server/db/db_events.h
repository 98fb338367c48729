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

/* The scope the account of each session has now: an enterprise (enterprise = 1,
 * scope_id its id) or a region (scope_id the region id; its level never changes).
 * out has room for n; *n_out rows, one per session found, in no particular order. */
typedef struct db_events_scope {
    int64_t session_id;
    int enterprise;
    int64_t scope_id;
} db_events_scope;
db_status db_events_session_scopes(db_conn *c, const int64_t *session_ids, size_t n,
                                   db_events_scope *out, size_t *n_out);

#endif
