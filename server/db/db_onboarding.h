/* Onboarding (应接尽接): cohorts and their progress per street, mandatory-point conformance per
 * dust-removal system, and the worker's derivation of enterprises.connection_status. */
#ifndef DW_DB_ONBOARDING_H
#define DW_DB_ONBOARDING_H

#include "db.h"

#include <time.h>

void db_onboarding_register(void);

/* Each cohort (or only cohort_code) with its enterprises in scope, connected, online, and per
 * street the same and its laggards (in the cohort, not connected): now (at 0), or at moment at
 * from the hourly rollups (whole hours, at or below the rollup watermark: db_onboarding_rolled_to;
 * the registry as it is now).  Strings borrowed, NULL: any.  *out a new reference. */
db_status db_onboarding_progress(db_conn *c, const db_scope *s, long window_s, time_t at,
                                 const char *cohort_code, const char *district_code,
                                 const char *street_code, json_t **out);

/* Every dust-removal system in scope against the point kinds its type requires
 * (mandatory_point_kinds): counts and the non-conforming systems with what they lack. */
db_status db_onboarding_conformance(db_conn *c, const db_scope *s, const char *district_code,
                                    const char *street_code, json_t **out);

/* Whether the hourly rollups of moment at are still kept at now (rollup_hour_retention_days):
 * older, every enterprise would read as silent. */
int db_onboarding_at_kept(time_t now, time_t at);

/* The rollup watermark (rollup_state.rolled_to, epoch s) into *rolled_to: every reading before
 * it is in the hourly rollups, which db_onboarding_progress at a past moment reads. */
db_status db_onboarding_rolled_to(db_conn *c, time_t *rolled_to);

/* Worker (system scope): sets connection_status connected / not_connected from data for every
 * enterprise not suspended whose status changed; *changed how many. */
db_status db_onboarding_refresh_connections(db_conn *c, long window_s, long *changed);

#endif
