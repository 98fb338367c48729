/* "Overdue" of an alarm as SQL, for the statements that count or filter by it: the alarm list
 * (its overdue filter and field) and the statistics (private to server/db). */
#ifndef DW_DB_ALARM_SQL_H
#define DW_DB_ALARM_SQL_H

/* Overdue: unfinished (active or acknowledged) and past its handle deadline, or still active
 * past its acknowledgement deadline.  The unfinished test first: most alarms are closed, and
 * the statistics evaluate this for every alarm of the period (a custom 30 days' 60,000: the
 * form "(active AND ack late) OR (unfinished AND handle late)" cost ~4 ms more, psql at 2,000
 * enterprises). */
#define ALARM_OVERDUE(a)                                                                           \
    "(" a ".state IN ('active', 'acknowledged') AND (" a ".handle_deadline < now() OR (" a         \
    ".state = 'active' AND " a ".ack_deadline < now())))"

#endif
