/* Duty watch (db_duty.h, migration 0063).  Scoped statements take the caller's scope kind
 * and id as $1 and $2 (db_scope_sql.h). */
#include "db_duty.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdlib.h>

#define OPEN_HAZARD "('reported', 'planned', 'rectified', 'rejected')"

/* One row per thing waiting for the person on watch: kind, id, enterprise, since (the
 * clock's start), deadline, detail. */
#define QUEUE_ITEMS                                                                                \
    "SELECT 'warning_unsigned' AS kind, w.id, e.id AS eid, e.name AS ename, w.issued_at AS "       \
    "since, w.sign_by AS deadline, w.grade AS detail FROM warnings w JOIN enterprises e ON e.id "  \
    "= w.enterprise_id WHERE " SCOPE_ENT(                                                          \
        "e") " AND w.status = 'issued' AND w.grade IN ('red', "                                    \
             "'orange') UNION ALL SELECT 'clearance_request', w.id, e.id, e.name, "                \
             "coalesce(w.clear_requested_at, w.issued_at), w.clear_by, w.grade FROM warnings w "   \
             "JOIN "                                                                               \
             "enterprises e ON e.id = w.enterprise_id WHERE " SCOPE_ENT(                           \
                 "e") " AND w.status = "                                                           \
                      "'clearance_requested' UNION ALL SELECT 'warning_overdue', w.id, e.id, "     \
                      "e.name, "                                                                   \
                      "w.issued_at, CASE WHEN w.status = 'issued' THEN w.sign_by ELSE w.clear_by " \
                      "END, w.grade "                                                              \
                      "FROM warnings w JOIN enterprises e ON e.id = w.enterprise_id "              \
                      "WHERE " SCOPE_ENT(                                                          \
                          "e") " AND ((w.status = 'issued' AND w.sign_by < now() AND w.grade NOT " \
                               "IN ('red', 'orange')) OR "                                         \
                               "(w.status NOT IN ('issued', 'clearance_requested', 'cleared') "    \
                               "AND w.clear_by < now())) "                                         \
                               "UNION ALL SELECT 'alarm_overdue', a.id, e.id, e.name, "            \
                               "a.raised_at, CASE WHEN a.state = "                                 \
                               "'active' THEN a.ack_deadline ELSE a.handle_deadline END, a.kind "  \
                               "FROM alarms a JOIN "                                               \
                               "enterprises e ON e.id = a.enterprise_id WHERE " SCOPE_ENT(         \
                                   "e") " AND a.state IN ('active', "                              \
                                        "'acknowledged') AND (a.ack_overdue OR a.handle_overdue) " \
                                        "UNION ALL SELECT 'hazard_due', "                          \
                                        "h.id, e.id, e.name, h.found_at, h.deadline, h.title "     \
                                        "FROM hazards h JOIN enterprises e ON "                    \
                                        "e.id = h.enterprise_id WHERE " SCOPE_ENT(                 \
                                            "e") " AND h.status IN " OPEN_HAZARD " AND "           \
                                                 "h.deadline < now() + interval '7 days' UNION "   \
                                                 "ALL SELECT 'filing_to_approve', f.id, e.id, "    \
                                                 "e.name, f.filed_at, greatest(f.starts_at, "      \
                                                 "f.filed_at + interval '1 day'), f.type FROM "    \
                                                 "filings f JOIN enterprises e ON e.id = "         \
                                                 "f.enterprise_id WHERE " SCOPE_ENT(               \
                                                     "e") " AND "                                  \
                                                          "f.status = 'submitted' AND ($1 <> "     \
                                                          "'street' OR f.approval_level = "        \
                                                          "'street') UNION ALL "                   \
                                                          "SELECT 'supervision_open', v.id, "      \
                                                          "e.id, e.name, v.created_at, "           \
                                                          "NULL::timestamptz, v.level "            \
                                                          "FROM supervisions v JOIN enterprises "  \
                                                          "e ON e.id = v.enterprise_id "           \
                                                          "WHERE " SCOPE_ENT(                      \
                                                              "e") " AND v.status <> 'closed'"

/* the districts a scope may write duty rows for: its own, or any for the city */
#define DUTY_DISTRICT(d) "(($1 = 'city') OR ($1 = 'district' AND " d " = $2::bigint))"

static const db_stmt statements[] = {
    {"duty_queue",
     "WITH q AS (" QUEUE_ITEMS ") SELECT json_build_object('now', now(), 'total', (SELECT "
     "count(*) FROM q), 'counts', coalesce((SELECT json_object_agg(kind, n) FROM (SELECT kind, "
     "count(*) AS n FROM q GROUP BY kind) k), '{}'::json), 'items', coalesce((SELECT "
     "json_agg(json_build_object('kind', kind, 'id', id, 'enterprise', json_build_object('id', "
     "eid, 'name', ename), 'since', since, 'deadline', deadline, 'overdue', coalesce(deadline < "
     "now(), false), 'detail', detail) ORDER BY since, kind, id) FROM (SELECT * FROM q ORDER BY "
     "since, kind, id LIMIT 500) x), '[]'::json))::text"},
    /* $3 enterprise */
    {"duty_todo",
     "WITH e AS (SELECT e.id, e.name FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") "), t AS (SELECT CASE a.state WHEN 'active' THEN 'alarm_acknowledge' ELSE "
              "'alarm_handle' END AS kind, a.id, a.raised_at AS since, CASE a.state WHEN "
              "'active' THEN a.ack_deadline ELSE a.handle_deadline END AS deadline, a.kind AS "
              "detail FROM alarms a, e WHERE a.enterprise_id = e.id AND a.state IN ('active', "
              "'acknowledged') UNION ALL SELECT CASE w.status WHEN 'issued' THEN 'warning_sign' "
              "ELSE 'warning_clear' END, w.id, w.issued_at, CASE w.status WHEN 'issued' THEN "
              "w.sign_by ELSE w.clear_by END, w.grade FROM warnings w, e WHERE w.enterprise_id = "
              "e.id AND w.status IN ('issued', 'signed', 'feedback', 'returned') UNION ALL SELECT "
              "'cleaning_due', a.id, to_timestamp(floor((extract(epoch FROM now()) + per.off) / "
              "per.s) * per.s - per.off), to_timestamp((floor((extract(epoch FROM now()) + "
              "per.off) / per.s) + 1) * per.s - per.off), a.name FROM cleaning_areas a CROSS "
              "JOIN LATERAL (SELECT CASE a.frequency WHEN 'per_shift' THEN 28800 WHEN 'daily' "
              "THEN 86400 ELSE 604800 END AS s, CASE a.frequency WHEN 'weekly' THEN 288000 ELSE "
              "28800 END AS off) per, e WHERE a.enterprise_id = e.id AND a.active AND NOT EXISTS "
              "(SELECT 1 FROM cleaning_checkins c WHERE c.area_id = a.id AND floor((extract(epoch "
              "FROM c.checked_at) + per.off) / per.s) = floor((extract(epoch FROM now()) + "
              "per.off) / per.s)) UNION ALL SELECT CASE h.status WHEN 'reported' THEN "
              "'hazard_plan' ELSE 'hazard_rectify' END, h.id, h.found_at, h.deadline, h.title "
              "FROM hazards h, e WHERE h.enterprise_id = e.id AND h.status IN ('reported', "
              "'planned', 'rejected') UNION ALL SELECT 'supervision_answer', v.id, v.created_at, "
              "NULL, v.level FROM supervisions v, e WHERE v.enterprise_id = e.id AND v.status IN "
              "('open', 'assigned') UNION ALL SELECT 'filing_returned', f.id, f.reviewed_at, "
              "NULL, f.review_note FROM filings f, e WHERE f.enterprise_id = e.id AND f.status = "
              "'returned' AND f.ends_at > now() UNION ALL SELECT 'spot_finding_answer', sf.id, "
              "sf.created_at, sf.deadline, sf.title FROM spot_findings sf, e WHERE "
              "sf.enterprise_id "
              "= e.id AND sf.status IN ('requested', 'rejected')) SELECT "
              "json_build_object('enterprise', (SELECT "
              "json_build_object('id', id, 'name', name) FROM e), 'now', now(), 'total', (SELECT "
              "count(*) FROM t), 'items', coalesce((SELECT json_agg(json_build_object('kind', "
              "kind, 'id', id, 'since', since, 'deadline', deadline, 'overdue', coalesce(deadline "
              "< now(), false), 'detail', detail) ORDER BY since, kind, id) FROM t), "
              "'[]'::json))::text FROM e"},
    /* $3 from $4 to */
    {"duty_roster",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('id', r.id, "
     "'district', json_build_object('id', d.id, 'name', d.name), 'account_id', r.account_id, "
     "'username', a.username, 'display_name', a.display_name, 'starts_at', r.starts_at, "
     "'ends_at', r.ends_at, 'note', r.note, 'phone', r.phone, 'on_duty_now', r.starts_at <= now() "
     "AND now() < "
     "r.ends_at) ORDER BY r.starts_at, r.id), '[]'::json))::text FROM duty_shifts r JOIN regions "
     "d ON d.id = r.district_id JOIN accounts a ON a.id = r.account_id WHERE (($1 = 'city') OR "
     "($1 = 'district' AND r.district_id = $2::bigint) OR ($1 = 'street' AND r.district_id = "
     "(SELECT parent_id FROM regions WHERE id = $2::bigint))) AND r.ends_at > "
     "coalesce($3::timestamptz, now()) AND r.starts_at < coalesce($4::timestamptz, now() + "
     "interval '7 days')"},
    /* $3 district $4 account $5 starts $6 ends $7 note $8 by $9 phone (migration 0118) */
    {"duty_roster_add",
     "INSERT INTO duty_shifts (district_id, account_id, starts_at, ends_at, note, created_by, "
     "phone) SELECT d.id, a.id, $5::timestamptz, $6::timestamptz, $7, $8::bigint, $9 FROM "
     "regions d JOIN "
     "accounts a ON a.id = $4::bigint JOIN regions ar ON ar.id = a.region_id WHERE d.id = "
     "$3::bigint AND d.level = 'district' AND " DUTY_DISTRICT(
         "d.id") " AND NOT a.disabled AND a.enterprise_id IS NULL AND (ar.id = d.id OR "
                 "ar.parent_id = d.id) RETURNING id"},
    /* $3 shift */
    {"duty_roster_delete", "DELETE FROM duty_shifts r WHERE r.id = $3::bigint AND " DUTY_DISTRICT(
                               "r.district_id") " RETURNING id"},
    {"duty_handovers",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('id', x.id, "
     "'district_id', x.district_id, 'author', x.author, 'at', x.at, 'note', x.note, "
     "'open_items', x.open_items) ORDER BY x.at DESC, x.id DESC), '[]'::json))::text FROM "
     "(SELECT * FROM duty_handovers h WHERE (($1 = 'city') OR ($1 = 'district' AND "
     "h.district_id = $2::bigint) OR ($1 = 'street' AND h.district_id = (SELECT parent_id FROM "
     "regions WHERE id = $2::bigint))) ORDER BY h.at DESC, h.id DESC LIMIT 100) x"},
    /* $3 district $4 account $5 author $6 note */
    {"duty_handover_add",
     "INSERT INTO duty_handovers (district_id, account_id, author, note, open_items) SELECT d.id, "
     "$4::bigint, $5, $6, (SELECT count(*) FROM (" QUEUE_ITEMS ") q) FROM regions d WHERE d.id = "
     "$3::bigint AND d.level = 'district' AND " DUTY_DISTRICT("d.id") " RETURNING id"},
};

void db_duty_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_duty_queue(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "duty_queue", 2, p, out);
}

db_status db_duty_todo(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "duty_todo", 3, p, out);
}

db_status db_duty_roster(db_conn *c, const db_scope *s, const char *from, const char *to,
                         json_t **out)
{
    const char *p[4] = {s->kind, s->id, from, to};
    return db_read_json(c, s, "duty_roster", 4, p, out);
}

static db_status insert_id(db_conn *c, const char *stmt, int n, const char *const *p, int64_t *id)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_duty_roster_add(db_conn *c, const db_scope *s, int64_t district_id, int64_t account_id,
                             const char *starts_at, const char *ends_at, const char *note,
                             const char *phone, int64_t by, int64_t *id)
{
    char did[24], aid[24], bid[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(did, district_id),
                        db_i64(aid, account_id),
                        starts_at,
                        ends_at,
                        note ? note : "",
                        by ? db_i64(bid, by) : NULL,
                        phone && phone[0] ? phone : NULL};
    return insert_id(c, "duty_roster_add", 9, p, id);
}

db_status db_duty_roster_delete(db_conn *c, const db_scope *s, int64_t shift_id, int *found)
{
    char sid[24];
    const char *p[3] = {s->kind, s->id, db_i64(sid, shift_id)};
    int64_t got = 0;
    db_status st = insert_id(c, "duty_roster_delete", 3, p, &got);
    *found = got != 0;
    return st;
}

db_status db_duty_handovers(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "duty_handovers", 2, p, out);
}

db_status db_duty_handover_add(db_conn *c, const db_scope *s, int64_t district_id,
                               int64_t account_id, const char *author, const char *note,
                               int64_t *id)
{
    char did[24], aid[24];
    const char *p[6] = {
        s->kind, s->id, db_i64(did, district_id), account_id ? db_i64(aid, account_id) : NULL,
        author,  note};
    return insert_id(c, "duty_handover_add", 6, p, id);
}
