/* Monitoring points as the API reads and changes them: an enterprise's
 * points with their latest values, one point, its limit changes, and its
 * time series (raw or bucketed, from the rollups where they are complete).
 *
 * Reads run under a db_scope in one round trip; the *_tx functions run
 * inside the caller's open transaction (api_tx) and filter by the scope's
 * kind and id themselves.  Strings and json_t * parameters are borrowed;
 * returned json_t * are new references the caller json_decref()s. */
#ifndef DW_DB_POINTS_H
#define DW_DB_POINTS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Before the first connection (api_points_init). */
void db_points_register(void);

/* The enterprise's points (system_id 0: all), each with its latest value and
 * online flag: a JSON array; *out NULL when the enterprise is not in scope. */
db_status db_points_of_enterprise(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                  int64_t system_id, json_t **out);
/* The same as {"items": [...]} with latest null and online false, for when
 * the values come from Redis; *out NULL when the enterprise is not in scope. */
db_status db_points_of_enterprise_bare(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                       int64_t system_id, json_t **out);
/* Every latest value of the enterprise, whatever a list's filter: an array
 * of [code, epoch microseconds, value, quality]. */
db_status db_points_latest_of_enterprise(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                         json_t **out);

/* One point as the API shows it; *out NULL when it is not in scope. */
db_status db_points_get(db_conn *c, const db_scope *s, int64_t point_id, json_t **out);
/* The same inside the caller's transaction. */
db_status db_points_get_tx(db_conn *c, const db_scope *s, int64_t point_id, json_t **out);

/* One column to change: column is one of name, limit_high, limit_high_high,
 * limit_low, limit_low_low, deadband, min_duration_s, rate_limit,
 * rate_window_s, range_min, range_max, expected_interval_s, enabled,
 * param_class (any other is our bug: DB_HARD, logged); value is the checked
 * JSON (string, number, boolean, or null for SQL NULL). */
typedef struct db_points_change {
    const char *column;
    json_t *value;
} db_points_change;
/* Sets the columns of a point in scope, inside the caller's transaction.
 * *found is 0 when the point is not in scope.  DB_BAD when the table's rules
 * refused the values; diag (always zeroed first) says which. */
db_status db_points_update_limits_tx(db_conn *c, const db_scope *s, int64_t point_id,
                                     const db_points_change *changes, size_t n, int *found,
                                     db_diag *diag);

/* A point's readings in [from, to): bucket_s 0 answers the raw readings, otherwise buckets of
 * bucket_s seconds from Beijing midnight with min, max, mean and count.  The statement is
 * chosen by range and bucket (raw readings, minute or hour rollups); all give the same
 * numbers.
 * The answer comes in one round trip, as JSON text (*answer, malloc'd, *len bytes; the
 * caller frees it): {"point_id", "bucket_s", "items"} with the members "filings"
 * (as db_filings_point_periods answers them), "point" (as db_points_get answers it), "from" and
 * "to" (the RFC 3339 UTC forms of from and to) added, and *enterprise_id the point's enterprise.
 * s->focus may name that enterprise when the caller knows it; otherwise it is looked up first,
 * under the caller's scope.  DB_OK with *answer NULL: no such point in scope.  DB_BAD: the point's
 * stored readings in the range cannot be aggregated.  On any failure *answer is NULL. */
db_status db_points_series_answer(db_conn *c, const db_scope *s, int64_t point_id, time_t from,
                                  time_t to, long bucket_s, char **answer, size_t *len,
                                  int64_t *enterprise_id);

#endif
