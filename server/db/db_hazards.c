/* Hazards (db_hazards.h, migration 0061).  Scoped statements take the caller's scope kind
 * and id as $1 and $2 (db_scope_sql.h). */
#include "db_hazards.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN_STATUSES "('reported', 'planned', 'rectified', 'rejected')"

#define HAZARD_JSON                                                                                \
    "json_build_object('id', h.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'kind', h.kind, "    \
    "'major_item', h.major_item, 'title', h.title, 'description', h.description, 'found_by', "     \
    "h.found_by, 'found_at', h.found_at, 'found_how', h.found_how, 'derived_rule', "               \
    "h.derived_rule, 'warning_id', h.warning_id, 'photo', CASE WHEN h.photo IS NULL THEN NULL "    \
    "ELSE json_build_object('type', h.photo_type, 'bytes', octet_length(h.photo), 'href', "        \
    "'/api/v1/hazards/' || h.id || '/photo') END, 'status', h.status, 'open', h.status "           \
    "IN " OPEN_STATUSES ", 'deadline', h.deadline, 'overdue', h.status IN " OPEN_STATUSES          \
    " AND h.deadline < now(), 'age_days', floor(extract(epoch FROM coalesce(h.closed_at, now()) "  \
    "- h.found_at) / 86400)::int, 'plan', h.plan, 'planned_at', h.planned_at, 'report', "          \
    "h.report, 'rectified_at', h.rectified_at, 'verified_by', h.verified_by, 'verified_at', "      \
    "h.verified_at, 'verify_note', h.verify_note, 'closed_at', h.closed_at, 'created_at', "        \
    "h.created_at)"

#define CSV_MATCH(col, n) "($" n "::text IS NULL OR " col " = ANY(string_to_array($" n ", ',')))"

static const db_stmt statements[] = {
    /* $3 district $4 street $5 enterprise $6 statuses $7 kinds $8 how $9 overdue $10 open
     * $11 from $12 to $13 limit $14 offset $15 industry $16 dust kind $17 risk grade.  Oldest
     * first: the list is a work queue. */
    {"hz_list",
     "WITH q AS (SELECT h.id, h.found_at FROM hazards h JOIN enterprises e ON e.id = "
     "h.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "
     "e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR "
              "e.id = $5::bigint) AND " CSV_MATCH("h.status", "6") " AND " CSV_MATCH(
                  "h.kind",
                  "7") " AND " CSV_MATCH("h.found_how",
                                         "8") " AND ($9::boolean IS NULL OR (h.status "
                                              "IN " OPEN_STATUSES " AND h.deadline < now()) = "
                                              "$9::boolean) AND ($10::boolean IS NULL OR (h.status "
                                              "IN " OPEN_STATUSES ") = $10::boolean) "
                                              "AND ($11::timestamptz IS NULL OR h.found_at >= "
                                              "$11::timestamptz) AND ($12::timestamptz IS "
                                              "NULL OR h.found_at < $12::timestamptz) "
                                              "AND " ENT_CLASS(
                                                  "e", "15", "16",
                                                  "17") ") SELECT "
                                                        "json_build_object('total', (SELECT "
                                                        "count(*) "
                                                        "FROM q), 'limit', $13::int, 'offset', "
                                                        "$14::int, "
                                                        "'items', coalesce((SELECT "
                                                        "json_agg(" HAZARD_JSON
                                                        " ORDER BY h.found_at, h.id) FROM (SELECT "
                                                        "id FROM q "
                                                        "ORDER BY found_at, id LIMIT $13::int "
                                                        "OFFSET $14::int) pg JOIN hazards h ON "
                                                        "h.id = pg.id "
                                                        "JOIN enterprises e ON e.id = "
                                                        "h.enterprise_id), '[]'::json))::text"},
    {"hz_get",
     "SELECT json_build_object('hazard', " HAZARD_JSON
     ", 'events', coalesce((SELECT json_agg(json_build_object('id', v.id, 'at', v.at, 'action', "
     "v.action, 'from_status', v.from_status, 'to_status', v.to_status, 'actor', v.actor, "
     "'actor_id', v.actor_id, 'note', v.note) ORDER BY v.id) FROM hazard_events v WHERE "
     "v.hazard_id = h.id), '[]'::json))::text FROM hazards h JOIN enterprises e ON e.id = "
     "h.enterprise_id WHERE h.id = $3::bigint AND " SCOPE_ENT("e")},
    /* $3 enterprise $4 kind $5 item $6 title $7 description $8 found_by $9 found_at
     * $10 how $11 deadline $12 warning $13 photo (binary) $14 type $15 actor id $16 actor */
    {"hz_create",
     "WITH e AS (SELECT e.id FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") " AND ($12::bigint IS NULL OR EXISTS (SELECT 1 FROM warnings w WHERE w.id = "
              "$12::bigint AND "
              "w.enterprise_id = e.id))), h AS (INSERT INTO hazards (enterprise_id, kind, "
              "major_item, "
              "title, description, found_by, found_at, found_how, warning_id, photo, photo_type, "
              "status, "
              "deadline, created_by) SELECT e.id, $4, $5::smallint, $6, $7, $8, "
              "coalesce($9::timestamptz, "
              "now()), $10, $12::bigint, $13::bytea, $14, 'reported', $11::timestamptz, "
              "$15::bigint FROM "
              "e RETURNING id, enterprise_id), ev AS (INSERT INTO hazard_events (hazard_id, "
              "enterprise_id, action, to_status, actor_id, actor, note) SELECT id, enterprise_id, "
              "'report', 'reported', $15::bigint, $16, $6 FROM h) SELECT id FROM h"},
    {"hz_lock",
     "SELECT h.status, h.enterprise_id, e.district_id, coalesce(e.street_id, 0) FROM hazards h "
     "JOIN enterprises e ON e.id = h.enterprise_id WHERE h.id = $3::bigint AND " SCOPE_ENT(
         "e") " FOR UPDATE OF h"},
    /* $3 hazard $4 from $5 to $6 action $7 actor id $8 actor $9 note */
    {"hz_move",
     "WITH u AS (UPDATE hazards h SET status = $5, plan = CASE WHEN $6 = 'plan' THEN $9 ELSE "
     "h.plan END, planned_at = CASE WHEN $6 = 'plan' THEN now() ELSE h.planned_at END, report = "
     "CASE WHEN $6 = 'rectify' THEN $9 ELSE h.report END, rectified_at = CASE WHEN $6 = "
     "'rectify' THEN now() ELSE h.rectified_at END, verified_by = CASE WHEN $6 IN ('verify', "
     "'reject', 'dismiss', 'confirm') THEN $7::bigint ELSE h.verified_by END, verified_at = CASE "
     "WHEN $6 IN ('verify', 'reject', 'dismiss', 'confirm') THEN now() ELSE h.verified_at END, "
     "verify_note = CASE WHEN $6 IN ('verify', 'reject', 'dismiss') THEN $9 ELSE h.verify_note "
     "END, closed_at = CASE WHEN $5 IN ('closed', 'dismissed') THEN now() ELSE h.closed_at END, "
     "deadline = CASE WHEN $6 = 'confirm' THEN coalesce(h.deadline, now() + CASE h.kind WHEN "
     "'major' THEN interval '60 days' ELSE interval '30 days' END) ELSE h.deadline END FROM "
     "enterprises e WHERE e.id = h.enterprise_id AND h.id = $3::bigint AND h.status = $4 "
     "AND " SCOPE_ENT("e") " RETURNING h.id, h.enterprise_id) INSERT INTO hazard_events "
                           "(hazard_id, enterprise_id, action, from_status, to_status, actor_id, "
                           "actor, note) SELECT id, enterprise_id, $6, $4, $5, $7::bigint, $8, $9 "
                           "FROM u RETURNING id"},
    {"hz_photo",
     "SELECT h.photo_type, encode(h.photo, 'base64') FROM hazards h JOIN enterprises e ON e.id = "
     "h.enterprise_id WHERE h.id = $3::bigint AND h.photo IS NOT NULL AND " SCOPE_ENT("e")},
    /* $3 enterprise (NULL: all in scope).  The archive's and the asset registry's obvious
     * major hazards (domain.md §4.1 items 1, 3, 4, 5, 6); a proposal once dismissed for the
     * same rule is not made again. */
    {"hz_derive",
     "WITH e AS (SELECT e.id, e.building_storeys, e.building_frame, e.gathering_rooms, "
     "coalesce(ep.dust_class, 'other') AS dust_class FROM enterprises e LEFT JOIN "
     "enterprise_profiles ep ON ep.enterprise_id = e.id WHERE " SCOPE_ENT(
         "e") " AND ($3::bigint IS NULL OR e.id = $3::bigint)), c AS (SELECT e.id, "
              "'archive.non_frame_multi_storey' AS rule, 1 AS item, "
              "'粉尘爆炸危险场所设在非框架结构的多层"
              "建筑内' AS title FROM e WHERE e.building_storeys = 'multi' AND e.building_frame = "
              "'non_frame' UNION ALL SELECT e.id, 'archive.gathering_rooms', 1, "
              "'粉尘爆炸危险场所内设有人"
              "员聚集场所（' || e.gathering_rooms || ' 处）' FROM e WHERE e.gathering_rooms > 0 "
              "UNION ALL "
              "SELECT e.id, 'system.no_explosion_protection:' || d.code, 3, '干式除尘系统 ' || "
              "d.name || "
              "'（' || d.code || '）未采取泄爆、抑爆、隔爆、惰化任一种措施' FROM e JOIN "
              "dust_systems d ON "
              "d.enterprise_id = e.id WHERE NOT d.wet AND NOT (d.has_venting OR d.has_suppression "
              "OR "
              "d.has_isolation OR d.has_inerting) UNION ALL SELECT e.id, "
              "'system.positive_pressure:' || "
              "d.code, 4, '除尘系统 ' || d.name || '（' || d.code || "
              "'）正压吹送粉尘，未设火花探测消除装置' "
              "FROM e JOIN dust_systems d ON d.enterprise_id = e.id WHERE d.positive_pressure AND "
              "NOT "
              "d.has_spark_detection UNION ALL SELECT e.id, 'system.settling_chamber:' || d.code, "
              "5, '除尘"
              "系统 ' || d.name || '（' || d.code || '）采用重力沉降室除尘' FROM e JOIN "
              "dust_systems d ON "
              "d.enterprise_id = e.id WHERE d.collector_type = 'settling' UNION ALL SELECT e.id, "
              "'system.no_airlock:' || d.code, 6, '铝镁/木质粉尘干式除尘系统 ' || d.name || '（' "
              "|| d.code "
              "|| '）未设置锁气卸灰装置' FROM e JOIN dust_systems d ON d.enterprise_id = e.id "
              "WHERE NOT "
              "d.wet AND NOT d.has_airlock AND e.dust_class IN ('metal_al_mg', 'wood')), ins AS "
              "(INSERT "
              "INTO hazards (enterprise_id, kind, major_item, title, found_by, found_how, "
              "derived_rule, "
              "status) SELECT c.id, 'major', c.item, c.title, '系统推导', 'derived', c.rule, "
              "'proposed' "
              "FROM c WHERE NOT EXISTS (SELECT 1 FROM hazards x WHERE x.enterprise_id = c.id AND "
              "x.derived_rule = c.rule AND x.status = 'dismissed') ON CONFLICT DO NOTHING "
              "RETURNING id, "
              "enterprise_id), ev AS (INSERT INTO hazard_events (hazard_id, enterprise_id, action, "
              "to_status, actor) SELECT id, enterprise_id, 'propose', 'proposed', 'derived' FROM "
              "ins) "
              "SELECT count(*) FROM ins"},
    {"hz_ageing",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('street', CASE WHEN "
     "x.sid IS NULL THEN NULL ELSE json_build_object('id', x.sid, 'code', x.scode, 'name', "
     "x.sname) END, 'district_id', x.did, 'open', x.n, 'major', x.major, 'ordinary', "
     "x.ordinary, 'overdue', x.overdue, 'age_lt_7d', x.a7, 'age_7_30d', x.a30, 'age_gt_30d', "
     "x.aold, 'oldest_found_at', x.oldest) ORDER BY x.overdue DESC, x.n DESC, x.scode), "
     "'[]'::json))::text FROM (SELECT s.id AS sid, s.code AS scode, s.name AS sname, "
     "e.district_id AS did, count(*) AS n, count(*) FILTER (WHERE h.kind = 'major') AS major, "
     "count(*) FILTER (WHERE h.kind = 'ordinary') AS ordinary, count(*) FILTER (WHERE "
     "h.deadline < now()) AS overdue, count(*) FILTER (WHERE h.found_at > now() - interval '7 "
     "days') AS a7, count(*) FILTER (WHERE h.found_at <= now() - interval '7 days' AND "
     "h.found_at > now() - interval '30 days') AS a30, count(*) FILTER (WHERE h.found_at <= "
     "now() - interval '30 days') AS aold, min(h.found_at) AS oldest FROM hazards h JOIN "
     "enterprises e ON e.id = h.enterprise_id LEFT JOIN regions s ON s.id = e.street_id WHERE "
     "h.status IN " OPEN_STATUSES " AND " SCOPE_ENT("e") " GROUP BY s.id, s.code, s.name, "
                                                         "e.district_id) x"},
};

void db_hazards_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_hazards_list(db_conn *c, const db_scope *s, const db_hazards_filter *f, json_t **out)
{
    char eid[24], lim[24], off[24];
    const char *p[17] = {s->kind,
                         s->id,
                         f->list.district_code,
                         f->list.street_code,
                         f->list.enterprise_id ? db_i64(eid, f->list.enterprise_id) : NULL,
                         f->statuses,
                         f->kinds,
                         f->how,
                         db_tristate(f->list.overdue),
                         db_tristate(f->list.open),
                         f->list.from,
                         f->list.to,
                         db_i64(lim, f->list.limit),
                         db_i64(off, f->list.offset),
                         f->list.industry_code,
                         f->list.dust_kind,
                         f->list.risk_grade};
    return db_read_json(c, s, "hz_list", 17, p, out);
}

db_status db_hazards_get(db_conn *c, const db_scope *s, int64_t hazard_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, hazard_id)};
    return db_read_json(c, s, "hz_get", 3, p, out);
}

db_status db_hazards_create(db_conn *c, const db_scope *s, const db_hazard_new *in, int64_t *id)
{
    char eid[24], item[24], wid[24], aid[24];
    const char *p[16] = {s->kind,
                         s->id,
                         db_i64(eid, in->enterprise_id),
                         in->kind,
                         in->major_item ? db_i64(item, in->major_item) : NULL,
                         in->title,
                         in->description,
                         in->found_by,
                         in->found_at,
                         in->found_how,
                         in->deadline,
                         in->warning_id ? db_i64(wid, in->warning_id) : NULL,
                         (const char *)in->photo,
                         in->photo ? in->photo_type : NULL,
                         in->actor_id ? db_i64(aid, in->actor_id) : NULL,
                         in->actor};
    int lengths[16] = {0}, formats[16] = {0};
    lengths[12] = (int)in->photo_len;
    formats[12] = 1;
    db_status st;
    PGresult *res = db_exec_bin(c, "hz_create", 16, p, lengths, formats, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_hazards_lock(db_conn *c, const db_scope *s, int64_t hazard_id, db_hazard_row *out,
                          int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, hazard_id)};
    db_status st;
    PGresult *res = db_exec(c, "hz_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_hazards_move(db_conn *c, const db_scope *s, int64_t hazard_id, const char *from,
                          const char *to, const char *action, int64_t actor_id, const char *actor,
                          const char *note)
{
    char id[24], aid[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(id, hazard_id),
                        from,
                        to,
                        action,
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        actor,
                        note ? note : ""};
    db_status st;
    PGresult *res = db_exec(c, "hz_move", 9, p, &st);
    if (!res)
        return st;
    int moved = PQntuples(res) == 1;
    PQclear(res);
    return moved ? DB_OK : DB_BAD;
}

/* base64 as PostgreSQL's encode() writes it (76-character lines) to bytes */
static unsigned char *from_b64(const char *b64, size_t *len)
{
    size_t n = strlen(b64), k = 0;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; buf && i < n; i++) {
        const char ch = b64[i];
        int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                : ch >= '0' && ch <= '9' ? ch - '0' + 52
                : ch == '+'              ? 62
                : ch == '/'              ? 63
                                         : -1;
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (unsigned char)(acc >> bits);
        }
    }
    *len = k;
    return buf;
}

db_status db_hazards_photo(db_conn *c, const db_scope *s, int64_t hazard_id, char type[32],
                           unsigned char **data, size_t *len)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, hazard_id)};
    PGresult *res = NULL;
    db_status st = db_read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, "hz_photo", 3, p, &res);
    if (st != DB_OK)
        return st;
    *data = NULL;
    *len = 0;
    if (PQntuples(res) == 1) {
        snprintf(type, 32, "%s", PQgetvalue(res, 0, 0));
        *data = from_b64(PQgetvalue(res, 0, 1), len);
        if (!*data) {
            PQclear(res);
            return DB_HARD;
        }
    }
    PQclear(res);
    return DB_OK;
}

db_status db_hazards_derive(db_conn *c, const db_scope *s, int64_t enterprise_id, int64_t *n)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, enterprise_id ? db_i64(eid, enterprise_id) : NULL};
    db_status st;
    PGresult *res = db_exec(c, "hz_derive", 3, p, &st);
    if (!res)
        return st;
    *n = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_hazards_ageing(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "hz_ageing", 2, p, out);
}
