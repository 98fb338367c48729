/* 摸排 proposals (migration 0124): enterprises and archive changes a street
 * account proposes, pending until its district confirms or returns them. */
#ifndef DW_DB_SURVEY_H
#define DW_DB_SURVEY_H

#include "db.h"

void db_survey_register(void);

/* The proposals scope s sees (city all, a district its streets', a street
 * its own), newest first, status NULL for all, as a JSON array; an update
 * carries "before": the current values of the fields it changes. */
db_status db_survey_list(db_conn *c, const db_scope *s, const char *status, json_t **out);

/* Inside the caller's transaction (a street's scope).  A new enterprise of
 * the street: *id 0 when the street is disabled.  A change of an enterprise
 * of the street: *id 0 when it is not in scope; DB_BAD (23505
 * enterprise_proposals_one_pending) when one is pending already. */
db_status db_survey_propose_create_tx(db_conn *c, const db_scope *s, const char *record,
                                      const char *by, int64_t *id);
db_status db_survey_propose_update_tx(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                      const char *record, const char *by, int64_t *id,
                                      db_diag *diag);

typedef struct {
    int found;
    char kind[8], status[12];
    int64_t enterprise_id;
    json_t *record; /* new reference */
    char district_code[16], street_code[16];
} db_survey_proposal;

/* Locks one proposal in scope for a decision or an edit (found 0: none). */
db_status db_survey_lock_tx(db_conn *c, const db_scope *s, int64_t id, db_survey_proposal *out);
/* A street edits its pending or returned proposal: pending again. */
db_status db_survey_edit_tx(db_conn *c, int64_t id, const char *record, const char *by);
/* The decision: confirmed (with the enterprise) or returned (with reason). */
db_status db_survey_decide_tx(db_conn *c, int64_t id, const char *status, const char *reason,
                              const char *by, int64_t enterprise_id);

#endif
