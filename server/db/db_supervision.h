/* db_supervision — supervision orders (督办), enforcement referrals (执法移交) and public
 * notices (警示通报) as people work them (migration 0062): lists, details, locks and
 * transitions, notice drafts from overdue warnings and hazards.
 *
 * Every function takes the caller's db_scope ($1/$2 of each statement, besides
 * row-level security).  JSON out-parameters are new references (NULL: no row). */
#ifndef DW_DB_SUPERVISION_H
#define DW_DB_SUPERVISION_H

#include "db.h"

#include <stdint.h>

void db_supervision_register(void);

typedef struct db_supervision_filter {
    db_list_filter list; /* district, street, enterprise, open, limit, offset */
    const char *levels, *statuses;
    int64_t assigned_to; /* 0: anyone */
} db_supervision_filter;

/* which: "sv" supervisions, "rf" enforcement referrals, "nt" notices (levels unused) */
db_status db_supervision_list(db_conn *c, const db_scope *s, const char *which,
                              const db_supervision_filter *f, json_t **out);
db_status db_supervision_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);
db_status db_referral_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);
db_status db_notice_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);

typedef struct db_work_row {
    char status[16];
    char level[16]; /* supervisions: street / district / city */
    int64_t enterprise_id, district_id, street_id, assigned_to;
} db_work_row;
/* Locks one row (FOR UPDATE) when in scope; which as above. */
db_status db_work_lock(db_conn *c, const db_scope *s, const char *which, int64_t id,
                       db_work_row *out, int *found);

/* Whether account_id is an enabled government account of a region in the caller's scope. */
db_status db_supervision_assignee_ok(db_conn *c, const db_scope *s, int64_t account_id, int *ok);

/* Moves a locked supervision: assign (assignee), respond (text = response), close (text =
 * result).  DB_BAD when it was not in `from`. */
db_status db_supervision_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                              const char *to, const char *action, int64_t actor_id,
                              const char *text, int64_t assignee);

typedef struct db_referral_outcome {
    const char *decision_no;    /* NULL: none */
    const char *penalty_amount; /* decimal text, NULL: none */
    const char *decided_on;     /* YYYY-MM-DD */
} db_referral_outcome;
/* accept / reject (text = note or reason) / close (text = outcome, with o). */
db_status db_referral_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                           const char *to, const char *action, int64_t actor_id, const char *text,
                           const db_referral_outcome *o);

/* A draft notice about an enterprise, from a warning or a hazard of it (either may be 0);
 * title/body NULL: drafted from the warning's or hazard's facts.  *id 0 when the
 * enterprise, warning or hazard is not in scope or do not belong together. */
db_status db_notice_create(db_conn *c, const db_scope *s, int64_t enterprise_id, int64_t warning_id,
                           int64_t hazard_id, const char *title, const char *body,
                           int64_t region_id, int64_t actor_id, int64_t *id);
/* approve (draft → approved) / publish (approved → published). */
db_status db_notice_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                         const char *to, int64_t actor_id);
/* Overdue warnings and hazards in scope that no notice concerns yet. */
db_status db_notice_candidates(db_conn *c, const db_scope *s, json_t **out);

#endif
