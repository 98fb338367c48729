-- 0110: filings stop the clocks and cover gateways (issue 14 item 1).
--
-- While an approved filing is valid the deadlines of what it covers do not run: the
-- worker extends, once per filing and item, an open alarm's acknowledge/handle deadlines
-- (alarms of the covered points; for a whole-enterprise filing also its alarms without a
-- point) and an open warning's sign/clear deadlines (whole-enterprise filings only: a
-- warning is the enterprise's) by the part of the filing after the item was raised, and
-- records the extension in filing_clock_stops.  A 复产 report that ends the filing early
-- takes back the part after its end.  Only a deadline that was still running when the
-- filing began is moved (one already missed stays missed); the escalation ladder counts
-- from the stored deadlines, so it moves with them.
--
-- A whole-enterprise filing also covers the enterprise's gateways: a silent gateway's
-- gateway_offline alarm is recorded in filing_suppressions (gateway_id, no point) instead
-- of raised, and is raised after the filing if the gateway is still silent.

CREATE TABLE filing_clock_stops (
    filing_id      bigint NOT NULL REFERENCES filings (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    alarm_id       bigint REFERENCES alarms (id),
    warning_id     bigint REFERENCES warnings (id),
    base           timestamptz NOT NULL,
    extended_by    interval NOT NULL CHECK (extended_by >= interval '0'),
    deadlines      text[] NOT NULL,
    linked_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((alarm_id IS NULL) <> (warning_id IS NULL)),
    CHECK (deadlines <@ ARRAY['ack', 'handle', 'sign', 'clear'])
);
COMMENT ON TABLE filing_clock_stops IS 'deadlines an approved filing extended (its clock stood still): one row per filing and alarm or warning';
COMMENT ON COLUMN filing_clock_stops.base IS 'when the clock stopped: the later of the filing''s start and the item''s raise/issue';
COMMENT ON COLUMN filing_clock_stops.extended_by IS 'how far the deadlines were moved: the filing''s (effective) end minus base';
COMMENT ON COLUMN filing_clock_stops.deadlines IS 'which deadlines were moved (ack, handle; sign, clear)';
COMMENT ON COLUMN filing_clock_stops.linked_at IS 'when the worker moved them';
CREATE UNIQUE INDEX filing_clock_stops_alarm_idx ON filing_clock_stops (filing_id, alarm_id) WHERE alarm_id IS NOT NULL;
CREATE UNIQUE INDEX filing_clock_stops_warning_idx ON filing_clock_stops (filing_id, warning_id) WHERE warning_id IS NOT NULL;
CREATE INDEX filing_clock_stops_a_idx ON filing_clock_stops (alarm_id) WHERE alarm_id IS NOT NULL;
CREATE INDEX filing_clock_stops_w_idx ON filing_clock_stops (warning_id) WHERE warning_id IS NOT NULL;

ALTER TABLE filing_suppressions DROP CONSTRAINT filing_suppressions_pkey;
ALTER TABLE filing_suppressions ALTER COLUMN point_id DROP NOT NULL;
ALTER TABLE filing_suppressions ADD COLUMN gateway_id bigint REFERENCES gateways (id) ON DELETE CASCADE;
ALTER TABLE filing_suppressions ADD CONSTRAINT filing_suppressions_object_check
    CHECK ((point_id IS NULL) <> (gateway_id IS NULL));
COMMENT ON COLUMN filing_suppressions.gateway_id IS 'a gateway-offline alarm suppressed (no point): the gateway';
CREATE UNIQUE INDEX filing_suppressions_point_idx ON filing_suppressions (filing_id, point_id, channel)
    WHERE point_id IS NOT NULL;
CREATE UNIQUE INDEX filing_suppressions_gateway_idx ON filing_suppressions (filing_id, gateway_id)
    WHERE gateway_id IS NOT NULL;

DO $$
DECLARE
    rule text := 'current_setting(''dw.scope'', true) = ''system'' '
                 'OR enterprise_id = (SELECT dw_focus_enterprise()) '
                 'OR (SELECT dw_scope_is_city()) '
                 'OR enterprise_id IN (SELECT e.id FROM enterprises e)';
BEGIN
    ALTER TABLE filing_clock_stops ENABLE ROW LEVEL SECURITY;
    ALTER TABLE filing_clock_stops FORCE ROW LEVEL SECURITY;
    EXECUTE format('CREATE POLICY scope ON filing_clock_stops USING (%s) WITH CHECK (%s)', rule, rule);
END
$$;
GRANT SELECT, INSERT, UPDATE ON filing_clock_stops TO dustwatch_app;

-- Whether the whole enterprise was filed at an instant: dw_filing_covers with no point and
-- no system matches only filings that list neither.  For statistics (online-rate deficits).
CREATE FUNCTION dw_enterprise_filed(ent bigint, at timestamptz)
    RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT dw_filing_covers(ent, NULL, NULL, at) IS NOT NULL
$$;
COMMENT ON FUNCTION dw_enterprise_filed(bigint, timestamptz) IS
    'an approved filing covering the whole enterprise was valid at the instant';
