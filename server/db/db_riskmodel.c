/* Risk model versions (db_riskmodel.h, migration 0050). */
#include "db_riskmodel.h"

#include "db_internal.h"

#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"rmd_active", "SELECT version, model::text FROM risk_models WHERE active"},
    {"rmd_read",
     "SELECT json_build_object('active', (SELECT json_build_object('version', m.version, "
     "'model', m.model, 'created_by', m.created_by, 'created_at', m.created_at, "
     "'activated_at', m.activated_at) FROM risk_models m WHERE m.active), 'versions', "
     "coalesce((SELECT json_agg(json_build_object('id', m.id, 'version', m.version, "
     "'created_by', m.created_by, 'created_at', m.created_at, 'active', m.active, "
     "'activated_at', m.activated_at) ORDER BY m.id DESC) FROM risk_models m), "
     "'[]'::json))::text"},
    /* $1 version $2 model $3 actor */
    {"rmd_insert",
     "INSERT INTO risk_models (version, model, created_by) VALUES ($1, $2::jsonb, $3) "
     "ON CONFLICT (version) DO NOTHING RETURNING id"},
    /* $1 version $2 model: the existing row, and whether its model is the same */
    {"rmd_existing", "SELECT id, (model = $2::jsonb)::int FROM risk_models WHERE version = $1"},
    /* $1 id: first the others off (the unique index is checked row by row), then it on */
    {"rmd_deactivate", "UPDATE risk_models SET active = false WHERE active AND id <> $1::bigint"},
    {"rmd_activate",
     "UPDATE risk_models SET active = true, activated_at = now() WHERE id = $1::bigint AND "
     "NOT active"},
};

void db_riskmodel_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_riskmodel_active(db_conn *c, char version[64], char **model, int *found)
{
    *found = 0;
    *model = NULL;
    db_status st;
    PGresult *r = db_exec(c, "rmd_active", 0, NULL, &st);
    if (!r)
        return st;
    if (PQntuples(r) == 1) {
        snprintf(version, 64, "%s", PQgetvalue(r, 0, 0));
        *model = strdup(PQgetvalue(r, 0, 1));
        if (!*model) {
            PQclear(r);
            return DB_HARD;
        }
        *found = 1;
    }
    PQclear(r);
    return DB_OK;
}

db_status db_riskmodel_read(db_conn *c, const db_scope *s, json_t **out)
{
    return db_read_json(c, s, "rmd_read", 0, NULL, out);
}

db_status db_riskmodel_store(db_conn *c, const char *version, const char *model_json,
                             const char *actor, int activate, int64_t *id, int *clash)
{
    *clash = 0;
    const char *p[3] = {version, model_json, actor};
    db_status st;
    PGresult *r = db_exec(c, "rmd_insert", 3, p, &st);
    if (!r)
        return st;
    int64_t row = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    if (row == 0) {
        r = db_exec(c, "rmd_existing", 2, p, &st);
        if (!r)
            return st;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return DB_SOFT; /* deleted between the two statements: try again */
        }
        row = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        int same = strcmp(PQgetvalue(r, 0, 1), "1") == 0;
        PQclear(r);
        if (!same) {
            *clash = 1;
            return DB_OK;
        }
    }
    if (activate) {
        char b[24];
        const char *q[1] = {db_i64(b, row)};
        r = db_exec(c, "rmd_deactivate", 1, q, &st);
        if (!r)
            return st;
        PQclear(r);
        r = db_exec(c, "rmd_activate", 1, q, &st);
        if (!r)
            return st;
        PQclear(r);
    }
    *id = row;
    return DB_OK;
}
