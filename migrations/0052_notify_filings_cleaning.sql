-- 0052: notifications of filings and of cleaning due (issue 16 item 3, on 0051 and 0060).
--   * event family 'filing': dw_filing_notify_pass(), run by the worker each tick: a
--     submitted filing (0060) goes to the subscribers of the level
--     that reviews it (the city, the enterprise's district, and its street when the street
--     reviews: filings.approval_level); its approval or return goes to the subscribers of
--     the enterprise itself (scope enterprise, e.g. an sms subscription to the duty roster).
--     Dedup key filing:<id>:<submit|approve|return>.
--   * event family 'cleaning_due': dw_cleaning_due_notify(share), run by the worker each
--     tick, notifies every subscriber whose scope holds the enterprise of each active
--     cleaning area whose current period (0004: per_shift 8 h from 00:00 Beijing time,
--     daily, weekly ISO week) has no check-in while less than share of the period remains;
--     once per area and period (dedup key cleaning:<area>:<period number>).  An area created
--     after the period's due point is not due in that period.
-- The writers of filings and check-ins need no change: two worker calls.

ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_events_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_events_check CHECK (
    cardinality(events) > 0
    AND events <@ ARRAY['warning', 'alarm', 'risk', 'warning_action', 'overdue', 'filing', 'cleaning_due']);
COMMENT ON COLUMN webhook_subscriptions.events IS 'event families: warning (issue, upgrade, escalation), alarm (raise, escalation), warning_action (sign, feedback, clearance request, approve, return), overdue (alarm deadlines missed, warning escalations), filing (submitted: the reviewing level; approved/returned: the enterprise), cleaning_due (a cleaning area''s period nears its end without a check-in)';

-- Filings newly submitted, approved or returned (in the last day, not yet notified): see the
-- header.  A function the worker calls each tick, not a trigger, because 0060 (filings) comes
-- after this migration; plpgsql resolves the table when it runs.  A filing reviewed before
-- the worker saw it submitted only gets its review notification.  Returns the filings
-- notified.
CREATE FUNCTION dw_filing_notify_pass() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    f record;
    n integer := 0;
BEGIN
    FOR f IN
        SELECT x.*, CASE x.status WHEN 'submitted' THEN 'submit' WHEN 'approved' THEN 'approve'
                    ELSE 'return' END AS ev
        FROM filings x
        WHERE x.status IN ('submitted', 'approved', 'returned')
          AND coalesce(x.reviewed_at, x.filed_at) > now() - interval '1 day'
          AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.enterprise_id = x.enterprise_id
                          AND o.dedup_key = 'filing:' || x.id || ':' || CASE x.status WHEN 'submitted' THEN 'submit'
                              WHEN 'approved' THEN 'approve' ELSE 'return' END)
        ORDER BY x.id
    LOOP
        INSERT INTO notification_outbox (subscription_id, enterprise_id, event, payload, dedup_key)
        SELECT s.id, e.id, f.ev,
               jsonb_build_object('type', 'filing', 'event', f.ev, 'filing_id', f.id, 'filing_type', f.type,
                                  'status', f.status, 'approval_level', f.approval_level,
                                  'starts_at', f.starts_at, 'ends_at', f.ends_at, 'reason', f.reason,
                                  'review_note', f.review_note, 'at', coalesce(f.reviewed_at, f.filed_at),
                                  'enterprise_id', e.id, 'enterprise_code', e.code, 'enterprise_name', e.name),
               'filing:' || f.id || ':' || f.ev
        FROM enterprises e JOIN webhook_subscriptions s ON s.enabled AND 'filing' = ANY (s.events)
            AND CASE WHEN f.status = 'submitted' THEN
                    s.scope_kind = 'city' OR (s.scope_kind = 'district' AND s.scope_id = e.district_id)
                    OR (f.approval_level = 'street' AND s.scope_kind = 'street' AND s.scope_id = e.street_id)
                ELSE s.scope_kind = 'enterprise' AND s.scope_id = e.id END
        WHERE e.id = f.enterprise_id
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_filing_notify_pass() IS 'notifies filing subscribers of filings submitted (the reviewing level) or approved/returned (the enterprise) in the last day, once per filing and event';
GRANT EXECUTE ON FUNCTION dw_filing_notify_pass() TO dustwatch_app;

-- Cleaning areas due now: see the header.  Returns the areas notified.
CREATE FUNCTION dw_cleaning_due_notify(share float8) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    a record;
    n integer := 0;
BEGIN
    IF share IS NULL OR share <= 0 THEN
        RETURN 0;
    END IF;
    FOR a IN
        SELECT ca.id, ca.enterprise_id, ca.name, ca.frequency, x.p,
               to_timestamp((x.p * per.s - per.off)::float8) AS period_start,
               to_timestamp(((x.p + 1) * per.s - per.off)::float8) AS period_end
        FROM cleaning_areas ca
        CROSS JOIN LATERAL (SELECT CASE ca.frequency WHEN 'per_shift' THEN 28800 WHEN 'daily' THEN 86400
                                   ELSE 604800 END::bigint AS s,
                                   CASE ca.frequency WHEN 'weekly' THEN 288000 ELSE 28800 END::bigint AS off) per
        CROSS JOIN LATERAL (SELECT floor((extract(epoch FROM now()) + per.off) / per.s)::bigint AS p) x
        WHERE ca.active
          AND extract(epoch FROM now()) >= (x.p + 1) * per.s - per.off - least(share, 1) * per.s
          AND extract(epoch FROM ca.created_at) <= (x.p + 1) * per.s - per.off - least(share, 1) * per.s
          AND NOT EXISTS (SELECT 1 FROM cleaning_checkins c WHERE c.area_id = ca.id
                          AND c.checked_at >= to_timestamp((x.p * per.s - per.off)::float8)
                          AND c.checked_at < to_timestamp(((x.p + 1) * per.s - per.off)::float8))
          AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.enterprise_id = ca.enterprise_id
                          AND o.dedup_key = 'cleaning:' || ca.id || ':' || x.p)
    LOOP
        PERFORM dw_notify('cleaning_due', a.enterprise_id, NULL, NULL, 'due', 'cleaning:' || a.id || ':' || a.p,
                          jsonb_build_object('type', 'cleaning', 'event', 'due', 'area_id', a.id,
                                             'area_name', a.name, 'frequency', a.frequency, 'period', a.p,
                                             'period_start', a.period_start, 'period_end', a.period_end));
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_cleaning_due_notify(float8) IS 'notifies cleaning_due subscribers of each active cleaning area whose current period has no check-in while less than share of it remains; once per area and period';
GRANT EXECUTE ON FUNCTION dw_cleaning_due_notify(float8) TO dustwatch_app;
CREATE INDEX notification_outbox_dedup_key_idx ON notification_outbox (enterprise_id, dedup_key) WHERE dedup_key LIKE 'cleaning:%' OR dedup_key LIKE 'filing:%';
