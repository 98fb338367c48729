/* The overview's counts: enterprises, connections, points online, by
 * status, dust kind, street and district. */
#ifndef DW_DB_OVERVIEW_H
#define DW_DB_OVERVIEW_H

#include "db.h"

void db_overview_register(void);

/* Inside the caller's scoped transaction: the counts for scope s as one JSON
 * object (*out a new reference, NULL only if PostgreSQL answered no row).
 * "connected" is derived from data: every enabled mandatory point sent data
 * within connected_window_s (as the statistics count it). */
db_status db_overview_get(db_conn *c, const db_scope *s, long connected_window_s, json_t **out);

#endif
