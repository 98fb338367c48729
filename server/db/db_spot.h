/* db_spot — online spot checks (在线抽查, migration 0106): campaigns and their selection,
 * checks, checklist answers, findings and their rectification loop, counts per inspector
 * and the figures the statistics and the monthly report add.
 *
 * Every function takes the caller's db_scope ($1/$2 of each statement, besides row-level
 * security).  Campaigns and checks belong to their owner (the campaign's district, or its
 * street for a street's own campaign, and the city); findings also to their enterprise.
 * Functions named *_tx run inside the caller's open transaction.  JSON out-parameters are
 * new references (NULL: no row). */
#ifndef DW_DB_SPOT_H
#define DW_DB_SPOT_H

#include "db.h"

#include <stdint.h>

void db_spot_register(void);

/* {items: [{code, zh, en, major_item}]}: the active checklist in order. */
db_status db_spot_checklist(db_conn *c, const db_scope *s, json_t **out);

typedef struct db_spot_campaign_new {
    const char *title, *period_from, *period_to;
    const char *rule;        /* random | grade | street | stale | list */
    const char *params_json; /* stored as the campaign's params */
    long n;                  /* at most this many enterprises (random order) */
    const char *grades;      /* csv (grade) */
    const char *street_code; /* (street) */
    long stale_days;         /* (stale) */
    const char *ids;         /* csv of enterprise ids (list) */
    int64_t actor_id;
    const char *actor;
} db_spot_campaign_new;
/* Picks the enterprises in scope by the rule and makes the campaign with one pending check
 * each; *id 0 (nothing made) when none matched.  *picked: how many. */
db_status db_spot_campaign_create_tx(db_conn *c, const db_scope *s, const db_spot_campaign_new *in,
                                     int64_t *id, int64_t *picked);
db_status db_spot_campaigns_list(db_conn *c, const db_scope *s, const char *statuses, long limit,
                                 long offset, json_t **out);
/* {campaign, checks[]} */
db_status db_spot_campaign_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);
/* open -> closed; *found 0 when not in scope, *moved 0 when it was not open. */
db_status db_spot_campaign_close_tx(db_conn *c, const db_scope *s, int64_t id, int *found,
                                    int *moved, int64_t *district_id, int64_t *street_id);

/* {check, campaign, enterprise, checklist[], findings[]} */
db_status db_spot_check_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);

typedef struct db_spot_check_row {
    char status[16], campaign_status[16], period_from[40], period_to[40];
    int64_t enterprise_id, district_id, street_id; /* the campaign's district and street */
} db_spot_check_row;
db_status db_spot_check_lock_tx(db_conn *c, const db_scope *s, int64_t id, db_spot_check_row *out,
                                int *found);
/* pending -> done with the answers (a JSON object) and note.  DB_BAD when not pending. */
db_status db_spot_check_record_tx(db_conn *c, const db_scope *s, int64_t id,
                                  const char *answers_json, const char *note, int64_t actor_id,
                                  const char *actor);

typedef struct db_spot_finding_new {
    const char *item_code; /* NULL: none */
    const char *title, *description, *deadline;
    int64_t hazard_id; /* 0: a rectification request */
    int64_t actor_id;
} db_spot_finding_new;
db_status db_spot_finding_create_tx(db_conn *c, const db_scope *s, int64_t check_id,
                                    const db_spot_finding_new *in, int64_t *id);

typedef struct db_spot_findings_filter {
    const char *statuses; /* csv */
    int64_t enterprise_id, check_id;
    int open; /* -1 any */
    long limit, offset;
} db_spot_findings_filter;
db_status db_spot_findings_list(db_conn *c, const db_scope *s, const db_spot_findings_filter *f,
                                json_t **out);
db_status db_spot_finding_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);

typedef struct db_spot_finding_row {
    char status[16], action[16];
    int64_t enterprise_id, district_id, street_id;
} db_spot_finding_row;
db_status db_spot_finding_lock_tx(db_conn *c, const db_scope *s, int64_t id,
                                  db_spot_finding_row *out, int *found);
/* Moves a locked finding by action (reply, verify, reject) from `from` to `to`, stamping
 * the action's columns with note.  DB_BAD when it was not in `from`. */
db_status db_spot_finding_move_tx(db_conn *c, const db_scope *s, int64_t id, const char *from,
                                  const char *to, const char *action, int64_t actor_id,
                                  const char *note);

/* Checks done in [from, to) per inspector: {from, to, totals, items[]} (each with checks,
 * findings, hazards, rectifications, closed). */
db_status db_spot_counts(db_conn *c, const db_scope *s, const char *from, const char *to,
                         json_t **out);

/* For /statistics and the monthly report: {checks, findings, hazards, closed} of the checks
 * done in [from, to) on enterprises in scope (district / street codes and enterprise_id
 * narrow; NULL / 0: all).  Findings count when their check is in the period; closed: closed
 * by now (a hazard finding when its hazard is closed or dismissed). */
db_status db_spot_figures(db_conn *c, const db_scope *s, const char *from, const char *to,
                          const char *district_code, const char *street_code, int64_t enterprise_id,
                          json_t **out);

/* The demo city's spot-check campaign in the district (inside the demo's transaction, scope
 * system): five enterprises, three checked with a hazard, an answered and a closed request.
 * *rows: checks and findings made. */
db_status db_spot_demo_tx(db_conn *c, int64_t district_id, int64_t *rows);

#endif
