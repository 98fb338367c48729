/* job_filings — the worker's part of filings (migrations 0060, 0110): valid filings stop
 * the clocks of the alarms and warnings they cover (db_filings_clocks), and a stop filing
 * whose data keeps moving gets one production_during_stop alarm.  Expiry needs no job: an approved
 * filing past its end is expired when read, and the offline timers its suppressions
 * deferred fall due at its end (db_filings.h). */
#ifndef DW_JOB_FILINGS_H
#define DW_JOB_FILINGS_H

#include "db.h"

#include <stddef.h>

/* Registers the statements (before connecting). */
void job_filings_init(void);
/* One pass, each part in its own transaction; live events after the commit.  *n items
 * whose clocks stopped plus alarms raised. */
db_status job_filings_run(db_conn *c, size_t *n);

#endif
