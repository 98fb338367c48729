#include "db_events.h"

#include "db_internal.h"

#include <stdlib.h>

static const db_stmt statements[] = {
    {"ev_enterprise_region",
     "SELECT district_id, coalesce(street_id, 0) FROM enterprises WHERE id = $1::bigint"},
    {"ev_region_epoch", "SELECT epoch FROM enterprise_region_epoch"},
};

void db_events_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_events_enterprise_region(db_conn *c, int64_t enterprise_id, int64_t *district_id,
                                      int64_t *street_id, int *found)
{
    char eid[24];
    const char *p[1] = {db_i64(eid, enterprise_id)};
    db_status st;
    PGresult *res = db_exec(c, "ev_enterprise_region", 1, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        *district_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *street_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_events_region_epoch(db_conn *c, int64_t *epoch)
{
    db_status st;
    PGresult *res = db_exec(c, "ev_region_epoch", 0, NULL, &st);
    if (!res)
        return st;
    *epoch = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}
