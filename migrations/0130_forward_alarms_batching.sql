-- 0130: upward forwarding, second part (issue 18).
--
-- 1. dustwatch's own rule alarms go upward as events: an alarm_events row that
--    raises, escalates, de-escalates or clears an alarm of our engine (source
--    'rule') on a point becomes, through a statement trigger in the same
--    transaction, an outbox row of kind 'alarms'; the forwarder sends it to the
--    dialect's events endpoint (Hebei eventsData with scd 0 for the clear, MEM
--    our format's events with level "cleared").  Alarms without a point (an
--    enterprise's data interruption) have no code the dialects could name and
--    stay home.  A target selects them with the kind 'alarms'; targets that
--    forwarded gateway events forward them from now on.
-- 2. batching: the forwarder combines the outbox rows of one page (several
--    ingest batches) into requests per enterprise and kind of at most batch_max
--    items.  The end of the page being delivered is kept here (inflight_*), so
--    after a restart the same page is rebuilt into the same requests under the
--    same idempotency keys; it is cleared when the watermark moves past it.
-- Numbers 0130-0133 were assigned to this branch.

ALTER TABLE forward_targets DROP CONSTRAINT forward_targets_kinds_check;
ALTER TABLE forward_targets ADD CONSTRAINT forward_targets_kinds_check
    CHECK (kinds <@ ARRAY['readings', 'events', 'videos', 'alarms'] AND cardinality(kinds) >= 1);
ALTER TABLE forward_targets ALTER COLUMN kinds SET DEFAULT '{readings,events,videos,alarms}';
UPDATE forward_targets SET kinds = kinds || '{alarms}'::text[] WHERE 'events' = ANY (kinds);
COMMENT ON COLUMN forward_targets.kinds IS 'what to forward: readings, events (gateway alarm raise/clear), videos (video alarms with their snapshot), alarms (our rule engine''s alarm raise/escalate/clear, sent as events)';

ALTER TABLE forward_targets
    ADD COLUMN inflight_xid xid8,
    ADD COLUMN inflight_id bigint,
    ADD CONSTRAINT forward_targets_inflight_check CHECK ((inflight_xid IS NULL) = (inflight_id IS NULL));
COMMENT ON COLUMN forward_targets.inflight_xid IS 'with inflight_id: the last outbox position of the page being delivered (NULL: none); the page is read up to it again after a restart, so its requests and their idempotency keys are the same';
COMMENT ON COLUMN forward_targets.inflight_id IS 'see inflight_xid';

ALTER TABLE forward_outbox DROP CONSTRAINT forward_outbox_kind_check;
ALTER TABLE forward_outbox ADD CONSTRAINT forward_outbox_kind_check
    CHECK (kind IN ('readings', 'events', 'videos', 'alarms'));
COMMENT ON COLUMN forward_outbox.ref_ids IS 'events: gateway_events.id; videos: video_alarms.id; alarms: alarm_events.id';
ALTER TABLE forward_dead_letters DROP CONSTRAINT forward_dead_letters_kind_check;
ALTER TABLE forward_dead_letters ADD CONSTRAINT forward_dead_letters_kind_check
    CHECK (kind IN ('readings', 'events', 'videos', 'alarms'));
ALTER TABLE forward_daily DROP CONSTRAINT forward_daily_kind_check;
ALTER TABLE forward_daily ADD CONSTRAINT forward_daily_kind_check
    CHECK (kind IN ('readings', 'events', 'videos', 'alarms'));

CREATE FUNCTION dw_forward_outbox_alarms() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM forward_targets) THEN
        INSERT INTO forward_outbox (enterprise_id, kind, ref_ids)
        SELECT n.enterprise_id, 'alarms', array_agg(n.id ORDER BY n.id)
        FROM new_rows n JOIN alarms a ON a.id = n.alarm_id
        WHERE n.action IN ('raise', 'escalate', 'deescalate', 'clear') AND a.source = 'rule'
          AND a.point_id IS NOT NULL
        GROUP BY n.enterprise_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_forward_outbox_alarms() IS 'statement trigger: the raise/escalate/deescalate/clear rows of rule alarms on points into forward_outbox (kind alarms), one row per enterprise';

CREATE TRIGGER alarm_events_forward_outbox AFTER INSERT ON alarm_events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION dw_forward_outbox_alarms();
