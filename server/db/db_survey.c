#include "db_survey.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* p: an enterprise_proposals row, s: its street */
#define SCOPE_PROPOSAL(p, s)                                                                       \
    "(($1 = 'city') OR ($1 = 'district' AND " s                                                    \
    ".parent_id = $2::bigint) OR ($1 = 'street' AND " p ".street_id = $2::bigint))"

static const db_stmt statements[] = {
    {"svy_list",
     "SELECT coalesce(json_agg(json_build_object('id', p.id, 'kind', p.kind, 'status', p.status, "
     "'enterprise_id', p.enterprise_id, 'name', coalesce(e.name, p.record->>'name'), 'street', "
     "json_build_object('id', s.id, 'code', s.code, 'name', s.name), 'district', "
     "json_build_object('id', d.id, 'code', d.code, 'name', d.name), 'record', p.record, "
     "'before', CASE WHEN p.kind = 'update' THEN (SELECT jsonb_object_agg(k, to_jsonb(e) -> k) "
     "FROM jsonb_object_keys(p.record) k) END, 'reason', p.reason, 'proposed_by', "
     "p.proposed_by, 'proposed_at', p.proposed_at, 'decided_by', p.decided_by, 'decided_at', "
     "p.decided_at) ORDER BY p.id DESC), '[]'::json)::text FROM (SELECT * FROM "
     "enterprise_proposals p WHERE ($3::text IS NULL OR p.status = $3) ORDER BY p.id DESC LIMIT "
     "500) p JOIN regions s ON s.id = p.street_id JOIN regions d ON d.id = s.parent_id LEFT JOIN "
     "enterprises e ON e.id = p.enterprise_id WHERE " SCOPE_PROPOSAL("p", "s")},
    {"svy_create",
     "INSERT INTO enterprise_proposals (kind, street_id, record, proposed_by) SELECT 'create', "
     "r.id, $3::jsonb, $4 FROM regions r WHERE $1 = 'street' AND r.id = $2::bigint AND r.level = "
     "'street' AND r.disabled_at IS NULL RETURNING id"},
    {"svy_update",
     "INSERT INTO enterprise_proposals (kind, enterprise_id, street_id, record, proposed_by) "
     "SELECT 'update', e.id, e.street_id, $4::jsonb, $5 FROM enterprises e WHERE $1 = 'street' "
     "AND e.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING id"},
    {"svy_lock",
     "SELECT p.kind, p.status, p.enterprise_id, p.record::text, d.code, s.code FROM "
     "enterprise_proposals p JOIN regions s ON s.id = p.street_id JOIN regions d ON d.id = "
     "s.parent_id WHERE p.id = $3::bigint AND " SCOPE_PROPOSAL("p", "s") " FOR UPDATE OF p"},
    {"svy_edit", "UPDATE enterprise_proposals SET record = $2::jsonb, status = 'pending', reason = "
                 "NULL, proposed_by = $3, proposed_at = now(), decided_by = NULL, decided_at = "
                 "NULL WHERE id = $1::bigint"},
    {"svy_decide", "UPDATE enterprise_proposals SET status = $2, reason = $3, decided_by = $4, "
                   "decided_at = now(), enterprise_id = coalesce($5::bigint, enterprise_id) WHERE "
                   "id = $1::bigint"},
};

void db_survey_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_survey_list(db_conn *c, const db_scope *s, const char *status, json_t **out)
{
    const char *p[3] = {s->kind, s->id, status};
    return db_read_json(c, s, "svy_list", 3, p, out);
}

static db_status returning_id(PGresult *res, db_status st, int64_t *id)
{
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_survey_propose_create_tx(db_conn *c, const db_scope *s, const char *record,
                                      const char *by, int64_t *id)
{
    const char *p[4] = {s->kind, s->id, record, by};
    db_status st;
    PGresult *res = db_exec(c, "svy_create", 4, p, &st);
    return returning_id(res, st, id);
}

db_status db_survey_propose_update_tx(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                      const char *record, const char *by, int64_t *id,
                                      db_diag *diag)
{
    char eid[24];
    const char *p[5] = {s->kind, s->id, db_i64(eid, enterprise_id), record, by};
    db_status st;
    PGresult *res = db_exec_diag(c, "svy_update", 5, p, &st, diag);
    return returning_id(res, st, id);
}

db_status db_survey_lock_tx(db_conn *c, const db_scope *s, int64_t id, db_survey_proposal *out)
{
    memset(out, 0, sizeof *out);
    char pid[24];
    const char *p[3] = {s->kind, s->id, db_i64(pid, id)};
    db_status st;
    PGresult *res = db_exec(c, "svy_lock", 3, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) == 1) {
        out->found = 1;
        snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 1));
        out->enterprise_id = PQgetisnull(res, 0, 2) ? 0 : strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->record = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
        snprintf(out->district_code, sizeof out->district_code, "%s", PQgetvalue(res, 0, 4));
        snprintf(out->street_code, sizeof out->street_code, "%s", PQgetvalue(res, 0, 5));
        if (!out->record)
            st = DB_HARD;
    }
    PQclear(res);
    return st == DB_OK ? DB_OK : st;
}

db_status db_survey_edit_tx(db_conn *c, int64_t id, const char *record, const char *by)
{
    char pid[24];
    const char *p[3] = {db_i64(pid, id), record, by};
    db_status st;
    PGresult *res = db_exec(c, "svy_edit", 3, p, &st);
    if (res)
        PQclear(res);
    return res ? DB_OK : st;
}

db_status db_survey_decide_tx(db_conn *c, int64_t id, const char *status, const char *reason,
                              const char *by, int64_t enterprise_id)
{
    char pid[24], eid[24];
    const char *p[5] = {db_i64(pid, id), status, reason, by,
                        enterprise_id ? db_i64(eid, enterprise_id) : NULL};
    db_status st;
    PGresult *res = db_exec(c, "svy_decide", 5, p, &st);
    if (res)
        PQclear(res);
    return res ? DB_OK : st;
}
