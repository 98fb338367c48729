/* Onboarding (应接尽接): cohorts and their progress per street, mandatory-point conformance per
 * dust-removal system, and the worker's derivation of enterprises.connection_status. */
#ifndef DW_DB_ONBOARDING_H
#define DW_DB_ONBOARDING_H

#include "db.h"

#include <time.h>

void db_onboarding_register(void);

/* Each cohort (or only cohort_code) with its enterprises in scope, connected, online, and per
 * street the same and its laggards (in the cohort, not connected): now (at 0), or at moment at
 * from the hourly rollups (whole hours, db_onboarding_at_check; the enterprises registered by
 * then).  Strings borrowed, NULL: any.  *out a new reference. */
db_status db_onboarding_progress(db_conn *c, const db_scope *s, long window_s, time_t at,
                                 const char *cohort_code, const char *district_code,
                                 const char *street_code, json_t **out);

/* Every dust-removal system in scope against the point kinds its type requires
 * (mandatory_point_kinds): counts and the non-conforming systems with what they lack. */
db_status db_onboarding_conformance(db_conn *c, const db_scope *s, const char *district_code,
                                    const char *street_code, json_t **out);

/* Whether the state at moment at can be read back (db_onboarding_progress with at), at now */
typedef enum {
    DB_ONB_AT_OK,
    DB_ONB_AT_NOT_ENDED, /* at is not past yet */
    DB_ONB_AT_NOT_KEPT,  /* older than the hourly rollups kept (rollup_hour_retention_days) */
    DB_ONB_AT_NOT_ROLLED /* the rollups do not reach at yet (the watermark: *rolled_to) */
} db_onboarding_at_answer;

/* *answer for moment at; *rolled_to the rollup watermark (epoch s) when it was read, else 0. */
db_status db_onboarding_at_check(db_conn *c, time_t now, time_t at, db_onboarding_at_answer *answer,
                                 time_t *rolled_to);

/* Worker (system scope): sets connection_status connected / not_connected from data for every
 * enterprise not suspended whose status changed; *changed how many. */
db_status db_onboarding_refresh_connections(db_conn *c, long window_s, long *changed);

#endif
