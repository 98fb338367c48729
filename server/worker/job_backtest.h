/* job_backtest — grades under a candidate risk model over a period (what `dustwatch risk
 * backtest` prints and POST /api/v1/risk/backtest answers).
 *
 * The latest stored score of every enterprise inside [from, to) is scored again under the
 * candidate from the engine inputs stored with it (job_risk_inputs_from_json).  What is
 * approximated, on purpose: only stored snapshots are replayed (scores are stored on every
 * change and at least hourly), so a grade that lived between two snapshots is not seen; the
 * inputs do not depend on the model, so the recomputation is exact for those snapshots;
 * warnings and escalations the candidate would have caused are not simulated, only grades. */
#ifndef DW_JOB_BACKTEST_H
#define DW_JOB_BACKTEST_H

#include "db.h"
#include "risk_model.h"

#include <jansson.h>

/* *out (new reference, on DB_OK): {"from", "to", "model_version" (the candidate's),
 * "enterprises" (snapshots read), "stored_versions": [...], "stored": {blue, yellow,
 * orange, red}, "candidate": {...}, "changed": [{enterprise_id, code, name, from, r_from
 * (text as stored), to, r_to, override_reason|null}], "unreadable"} with changed in
 * enterprise id order.  On failure PostgreSQL's message is in err. */
db_status job_backtest_run(db_conn *c, const risk_model *m, const char *from, const char *to,
                           json_t **out, char *err, size_t errlen);

#endif
