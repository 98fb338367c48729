/* The demo city as `dustwatch demo seed` writes it: regions, enterprises
 * with their archive facts, dust-removal systems, points, gateways (the
 * gateways' credentials go through db_admin_credential_create, like every
 * other credential), and the counts of its summary line.
 *
 * All inside the caller's transaction, on an owner connection in scope
 * "system".  Out-parameters are written only on DB_OK; string parameters and
 * structs are borrowed. */
#ifndef DW_DB_DEMO_H
#define DW_DB_DEMO_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Registers this area's statements (prepared on first use when registered
 * after the connection was made).  Call after db_demo_schema_ready(). */
void db_demo_register(void);

/* *ready = 1 when every table the seeder writes exists (regions,
 * enterprises, dust_systems, points, gateways, ingest_credentials,
 * audit_log), 0 when the database was not migrated.  Runs before any other
 * statement is registered, so a database without tables is reported as such
 * instead of as a failed prepare.  On failure diag (may be NULL; zeroed
 * first) holds what PostgreSQL said. */
db_status db_demo_schema_ready(db_conn *c, int *ready, db_diag *diag);

typedef enum {
    DB_DEMO_EMPTY,  /* no city at all: the demo may go in */
    DB_DEMO_LOADED, /* the demo city is there (its marker region exists) */
    DB_DEMO_OTHER,  /* some other city: leave it alone */
} db_demo_state;

/* Takes the seeders' transaction-scoped advisory lock, so two seeders
 * serialise instead of both finding an empty database, then says what the
 * database holds; marker_region is the code of a region only the demo has. */
db_status db_demo_lock_state(db_conn *c, const char *marker_region, db_demo_state *out);

/* parent_id 0 for the city itself; *id is the new region's. */
db_status db_demo_region_create(db_conn *c, const char *code, const char *name, const char *level,
                                const char *kind, int64_t parent_id, int64_t *id);

typedef struct db_demo_enterprise {
    const char *code, *uscc, *name;
    int64_t district_id, street_id;
    const char *address;
    double longitude, latitude;
    const char *industry_code, *status;
    /* archive facts the risk engine reads */
    const char *const *dust_kinds;
    size_t n_dust_kinds;
    int dust_workers;
    const char *building_storeys; /* "single" | "multi" */
} db_demo_enterprise;

db_status db_demo_enterprise_create(db_conn *c, const db_demo_enterprise *e, int64_t *id);

typedef struct db_demo_system {
    const char *code, *name, *workshop, *collector_type;
    int airflow_m3h;
    /* flags, 0 or 1 */
    int wet, central, positive_pressure, indoor, has_venting, has_isolation, has_suppression,
        has_inerting, has_airlock, has_spark_detection;
} db_demo_system;

db_status db_demo_system_create(db_conn *c, int64_t enterprise_id, const db_demo_system *s,
                                int64_t *id);

typedef struct db_demo_point {
    const char *code, *kind, *name, *unit, *param_class;
    double range_min, range_max, deadband;
    /* NULL: no such limit */
    const double *limit_high, *limit_high_high, *limit_low, *limit_low_low, *rate_limit;
    int min_duration_s, expected_interval_s;
} db_demo_point;

db_status db_demo_point_create(db_conn *c, int64_t enterprise_id, int64_t system_id,
                               const db_demo_point *p);

db_status db_demo_gateway_create(db_conn *c, int64_t enterprise_id, const char *code,
                                 const char *name, const char *dialect);

/* *matches = 1 when every one of these enterprise, gateway and point codes
 * is in the database: a fleet file for them can be issued. */
db_status db_demo_matches(db_conn *c, const char *const *enterprises, size_t n_enterprises,
                          const char *const *gateways, size_t n_gateways, const char *const *points,
                          size_t n_points, int *matches);

/* Revokes the enterprise's live credentials labelled label (the demo
 * gateway's); *revoked is how many. */
db_status db_demo_credentials_revoke(db_conn *c, int64_t enterprise_id, const char *label,
                                     long long *revoked);

typedef struct db_demo_counts {
    long long districts, streets, enterprises, in_marker_district, systems, points, gateways;
    long long api_key, hebei_des, mem_sm4; /* live credentials */
} db_demo_counts;

db_status db_demo_counts_read(db_conn *c, const char *marker_district, db_demo_counts *out);

/* Supervision workflows on a fresh demo city (issue 14): in the marker district an
 * approved stop filing (its enterprise keeps sending data: the production alarm), a filing
 * to review, hazards at several steps of their loop, an overdue warning with its open
 * supervision order and a published notice.  *district_id: the marker district (0 when
 * absent: nothing added). */
db_status db_demo_supervision(db_conn *c, const char *marker_district, int64_t *district_id);

/* *filed = 1 when the enterprise of this code has an approved stop filing in effect now:
 * the simulator runs that plant round the clock, so its data moves while it is "stopped". */
db_status db_demo_stop_filed(db_conn *c, const char *enterprise_code, int *filed);

#endif
