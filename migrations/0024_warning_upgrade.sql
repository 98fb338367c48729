-- 0024: a grade rise upgrades the open warning (issue 12 item 2).  One warning per
-- enterprise and cause stays open (warnings_open_idx); when the grade rises above it
-- the worker re-issues that warning in place at the new grade: the new grade's
-- deadlines counted from upgraded_at, its supervising level, city information and
-- notifications, the enterprise signs again.  The escalation ladder of the new grade
-- starts at upgraded_at and goes on numbering its steps after ladder_base.  A fall
-- never lowers the grade or the deadlines of an open warning; it is recorded.

ALTER TABLE warnings
    ADD COLUMN upgraded_at timestamptz,
    ADD COLUMN ladder_base integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT warnings_upgraded_check CHECK (upgraded_at IS NULL OR (upgraded_at >= issued_at AND sign_by >= upgraded_at)),
    ADD CONSTRAINT warnings_ladder_base_check CHECK (ladder_base >= 0 AND ladder_base <= escalations_done);
COMMENT ON COLUMN warnings.grade IS 'grade of the warning: at issue, raised by upgrades, never lowered while open; picks the deadlines';
COMMENT ON COLUMN warnings.sign_by IS 'sign (签收) deadline, inclusive; after an upgrade counted from upgraded_at';
COMMENT ON COLUMN warnings.clear_by IS 'clearance-request deadline, inclusive; after an upgrade counted from upgraded_at';
COMMENT ON COLUMN warnings.upgraded_at IS 'last time a grade rise upgraded the open warning (NULL: never); its deadlines and escalation ladder count from here';
COMMENT ON COLUMN warnings.ladder_base IS 'escalation steps applied before the last upgrade; the current grade''s ladder numbers its steps after them';

ALTER TABLE warning_events
    DROP CONSTRAINT warning_events_action_check,
    ADD CONSTRAINT warning_events_action_check CHECK (action IN ('issue', 'sign', 'feedback', 'request_clearance', 'approve', 'return',
                                                                 'escalate', 'comment', 'upgrade', 'grade_fall')),
    ADD COLUMN from_grade text CHECK (from_grade IN ('blue', 'yellow', 'orange', 'red')),
    ADD COLUMN to_grade text CHECK (to_grade IN ('blue', 'yellow', 'orange', 'red'));
COMMENT ON COLUMN warning_events.from_grade IS 'upgrade, grade_fall: the warning''s grade before';
COMMENT ON COLUMN warning_events.to_grade IS 'issue: the grade issued; upgrade: the new grade; grade_fall: the enterprise''s new, lower grade (the warning keeps its own)';

-- issue events of existing warnings: the grade they were issued with (no upgrade existed before)
SELECT set_config('dw.scope', 'system', true);
UPDATE warning_events v SET to_grade = w.grade FROM warnings w WHERE w.id = v.warning_id AND v.action = 'issue';
