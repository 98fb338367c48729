/* Statistics for the 专项工作组's monthly figures: per period and scope, grouped by district,
 * street, industry, dust kind or risk grade, computed in one set-based statement over the hourly
 * rollups (raw readings for what is not rolled up yet), alarms, warnings and cleaning records. */
#ifndef DW_DB_STATS_H
#define DW_DB_STATS_H

#include "db.h"

#include <stdint.h>
#include <time.h>

void db_stats_register(void);

/* The figures a ranking may sort by: X(name, lowest_first), named as the answer's members
 * (alarms: alarms.total, alarms_overdue: alarms.overdue, hazards_open: hazards.open).  Counts
 * rank the most first, rates the lowest first. */
#define DB_STATS_SORT_KEYS(X)                                                                      \
    X(alarms, 0)                                                                                   \
    X(alarms_overdue, 0)                                                                           \
    X(warnings, 0)                                                                                 \
    X(escalations, 0)                                                                              \
    X(interruptions, 0)                                                                            \
    X(online_rate, 1)                                                                              \
    X(handled_on_time_rate, 1)                                                                     \
    X(cleared_on_time_rate, 1)                                                                     \
    X(hazards_open, 0)
/* What one statistics request asks for.  Strings are borrowed; NULL matches everything.
 * from must be on a whole hour; to is exclusive. */
typedef struct db_stats_query {
    time_t from, to;
    int64_t enterprise_id; /* 0: any */
    const char *district_code, *street_code, *industry_code, *dust_kind, *grade;
    const char *group; /* district | street | enterprise | industry | dust_kind | grade | none */
    long connected_window_s;
    int raw; /* 1: count every rollup row of the period (no day rollup), the benchmark's baseline */
    /* 1: the online figures only (points, point-hours, interruptions, hazards); alarms,
     * warnings, escalations and cleaning answer 0 (the data-quality ranking) */
    int online_only;
    /* NULL: group rows by key; else one of DB_STATS_SORT_KEYS, the rows of db_stats_get_rows
     * and db_stats_get ordered by that figure, rows without a value last, ties by key */
    const char *sort;
    /* > 0: read from a snapshot (migration 0152) of exactly this period when one is at most
     * this many seconds old and was computed after snapshot_after (epoch s: the caller's last
     * write); otherwise, and always with raw or online_only,
     * counted live.  0: always live. */
    int snapshot_max_age_s;
    int64_t snapshot_after;
} db_stats_query;

/* The figures as one JSON object ({from, to, computed_to, group, connected_window_s, totals,
 * rows}; *out a new reference), read under scope s. */
db_status db_stats_get(db_conn *c, const db_scope *s, const db_stats_query *q, json_t **out);

/* The same answer as PostgreSQL wrote it, for writing it out without parsing every row (by
 * enterprise, 2,000 rows): the head (everything but rows) and each row's figures as JSON text.
 * *out is the caller's (db_stats_rows_free); the strings of a row live as long as it.  spare
 * (borrowed, may be NULL): a second idle connection to the same server as c; with it half the
 * figures are counted on it at the same time, over c's snapshot (on its failure, all on c). */
typedef struct db_stats_rows db_stats_rows;
typedef struct {
    const char *figures; /* a JSON object: key, code, name and the figures */
    const char *key;     /* the group key (a region or enterprise id, a code, a grade) */
    const char *code;    /* the group's code (NULL: none) */
    const char *kinds;   /* the alarm kinds counted in the row, a JSON array of strings */
} db_stats_row;
db_status db_stats_get_rows(db_conn *c, db_conn *spare, const db_scope *s, const db_stats_query *q,
                            db_stats_rows **out);
/* the head as a new reference (NULL: invalid JSON, logged) */
json_t *db_stats_rows_head(db_stats_rows *r);
size_t db_stats_rows_count(const db_stats_rows *r);
/* 1: summed from a snapshot (q's snapshot_max_age_s), which may be older than writes of other
 * callers than the asking one */
int db_stats_rows_from_snapshot(const db_stats_rows *r);
/* group row i in the answer's order; its text is written on first use: -1 out of memory */
int db_stats_rows_row(db_stats_rows *r, size_t i, db_stats_row *row);
void db_stats_rows_free(db_stats_rows *r);

/* Counts the last 30 days by enterprise on c for nothing but its side effect: a new
 * connection's backend loads the catalog caches a statistic needs (db_pool_warm's warm). */
void db_stats_warm(db_conn *c);

/* Data quality of the same period and filters: interruption records (the latest limit, with
 * start, end, hours in the period, cause if filed), gateways offline, frozen and out-of-range
 * alarms, conflicting readings, and per enterprise the same counts.  *out a new reference. */
db_status db_stats_quality(db_conn *c, const db_scope *s, const db_stats_query *q, long limit,
                           json_t **out);

/* Alarms raised per city day (UTC+8) and level over the last days days, today included, in
 * scope s: {days: [{date, from, levels: {"0", "1", "2"}}]}.  *out a new reference. */
db_status db_stats_alarm_trend(db_conn *c, const db_scope *s, long days, json_t **out);

/* The worker's step for the day rollup (migration 0114, dw_stats_day_advance): recomputes
 * stale days and counts the hours rolled up since its watermark, at most max_days days.
 * *days_done -1 when another node holds the rollup lock; *covered_s the watermark (0: none). */
db_status db_stats_day_advance(db_conn *c, int max_days, int *days_done, int64_t *covered_s);

/* The worker's step for the alarms' and warnings' running totals (migrations 0155, 0156:
 * dw_stats_event_day_advance): recounts them from the first stale day and counts the whole days
 * before today, at most max_days days past the watermark.  *days_done -1 when an alarm or
 * warning write or another node holds the lock (the next step tries again). */
db_status db_stats_event_day_advance(db_conn *c, int max_days, int *days_done);

/* Snapshots (migration 0152): counts the dashboard's periods (the city's today, this week,
 * this month, last month) for every enterprise with connected_window_s, each replacing the
 * period's last count in a transaction of its own, as the system scope.  *filled: how many
 * periods were stored. */
db_status db_stats_snapshot_refresh(db_conn *c, long connected_window_s, int *filled);

#endif
