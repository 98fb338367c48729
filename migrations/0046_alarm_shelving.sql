-- 0046: shelving (搁置) of alarms (issue 16 item 1).  A person shelves an alarm
-- that is not closed with a reason and an expiry: until then its repeats fold
-- into it whatever the episode window (no new alarm) and publish no live
-- event; after the expiry it behaves as before.  Shelving and unshelving are
-- alarm_events rows (who, when, why) and audited by the API.

ALTER TABLE alarms
    ADD COLUMN shelved_at timestamptz,
    ADD COLUMN shelved_until timestamptz,
    ADD COLUMN shelved_by bigint REFERENCES accounts (id),
    ADD COLUMN shelve_reason text CHECK (length(shelve_reason) BETWEEN 1 AND 1000),
    ADD CONSTRAINT alarms_shelved_check CHECK ((shelved_at IS NULL) = (shelved_until IS NULL)
        AND (shelved_at IS NULL) = (shelve_reason IS NULL) AND (shelved_until IS NULL OR shelved_until > shelved_at));
COMMENT ON COLUMN alarms.shelved_at IS 'when the alarm was shelved (搁置); NULL: not shelved';
COMMENT ON COLUMN alarms.shelved_until IS 'shelved until then: repeats fold into it silently; after it the alarm is unshelved by itself';
COMMENT ON COLUMN alarms.shelved_by IS 'account that shelved it (NULL for an API key)';
COMMENT ON COLUMN alarms.shelve_reason IS 'why it was shelved';

ALTER TABLE alarm_events DROP CONSTRAINT alarm_events_action_check;
ALTER TABLE alarm_events ADD CONSTRAINT alarm_events_action_check CHECK (action IN ('raise', 'escalate', 'deescalate', 'clear',
    'acknowledge', 'handle', 'close', 'ack_overdue', 'handle_overdue', 'comment', 'retrigger', 'point_offline',
    'point_back', 'shelve', 'unshelve'));
