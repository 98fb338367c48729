#include "db_events.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>

static const db_stmt statements[] = {
    {"ev_enterprise_region",
     "SELECT district_id, coalesce(street_id, 0) FROM enterprises WHERE id = $1::bigint"},
    {"ev_region_epoch", "SELECT epoch FROM enterprise_region_epoch"},
    /* the scope each session's account has now (as api_auth resolves it) */
    {"ev_session_scopes",
     "SELECT s.id, a.enterprise_id IS NOT NULL, coalesce(a.enterprise_id, a.region_id, 0) FROM "
     "sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id = ANY($1::bigint[])"},
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

db_status db_events_session_scopes(db_conn *c, const int64_t *session_ids, size_t n,
                                   db_events_scope *out, size_t *n_out)
{
    char *ids = db_i64_array(session_ids, n);
    if (!ids)
        return DB_HARD;
    const char *p[1] = {ids};
    db_status st;
    PGresult *res = db_exec(c, "ev_session_scopes", 1, p, &st);
    free(ids);
    if (!res)
        return st;
    size_t k = 0;
    for (int i = 0; i < PQntuples(res) && k < n; i++, k++) {
        out[k].session_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        out[k].enterprise = PQgetvalue(res, i, 1)[0] == 't';
        out[k].scope_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    *n_out = k;
    return DB_OK;
}
