-- 0051: notifications that reach people (issue 16).  Built on 0004's webhook subscriptions
-- and outbox rather than beside them:
--   * a subscription has a channel (webhook, or sms through the configured SMS gateway), a
--     target (the webhook URL, a phone, or the enterprise's duty roster), event families and
--     levels (alarm levels 1/2, warning grades; empty = all);
--   * events: warning (issue, upgrade, escalation: as before), alarm (raise, escalation),
--     warning_action (sign, feedback, clearance request, approve, return), overdue (alarm
--     acknowledge/handle deadlines missed, warning escalations);
--   * outbox rows carry a dedup key (the X-Dustwatch-Delivery header; receivers deduplicate
--     on it, delivery is at least once), the channel and the target; one row per target
--     phone for duty-roster subscriptions;
--   * every delivery attempt is a row of notification_deliveries (sent / failed, HTTP
--     status or transport error) so the API and the dashboard show each message's history;
--   * duty_roster: per enterprise (and optionally per dust-removal system) the people on
--     duty with their phones.
-- Rows are routed by triggers, so the writers of alarms and warning events need no change;
-- the routing functions run as the system scope (SET dw.scope) because a subscription of the
-- city must hear of a warning an enterprise account signs.

CREATE TABLE duty_roster (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    system_id      bigint REFERENCES dust_systems (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    phone          text NOT NULL CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    duty           text NOT NULL DEFAULT 'duty' CHECK (duty IN ('duty', 'safety_manager', 'principal')),
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE duty_roster IS 'people on duty per enterprise (system_id NULL) or per dust-removal system, with their phones; sms subscriptions with to_duty send to them';
COMMENT ON COLUMN duty_roster.duty IS 'duty (值班), safety_manager (安全管理员), principal (主要负责人)';
CREATE INDEX duty_roster_enterprise_idx ON duty_roster (enterprise_id) WHERE active;
ALTER TABLE duty_roster ENABLE ROW LEVEL SECURITY;
ALTER TABLE duty_roster FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON duty_roster USING (dw_visible_enterprise(enterprise_id))
    WITH CHECK (dw_visible_enterprise(enterprise_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON duty_roster TO dustwatch_app;

ALTER TABLE webhook_subscriptions
    ADD COLUMN name       text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    ADD COLUMN channel    text NOT NULL DEFAULT 'webhook' CHECK (channel IN ('webhook', 'sms')),
    ADD COLUMN phone      text CHECK (phone ~ '^\+?[0-9]{5,20}$'),
    ADD COLUMN to_duty    boolean NOT NULL DEFAULT false,
    ADD COLUMN levels     text[] NOT NULL DEFAULT '{}'
        CHECK (levels <@ ARRAY['1', '2', 'blue', 'yellow', 'orange', 'red']),
    ADD COLUMN created_by text NOT NULL DEFAULT '';
ALTER TABLE webhook_subscriptions ALTER COLUMN url DROP NOT NULL;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_target_check CHECK (
    (channel = 'webhook' AND url IS NOT NULL AND phone IS NULL AND NOT to_duty)
    OR (channel = 'sms' AND url IS NULL AND (phone IS NOT NULL) <> to_duty));
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_events_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_events_check CHECK (
    cardinality(events) > 0 AND events <@ ARRAY['warning', 'alarm', 'risk', 'warning_action', 'overdue']);
COMMENT ON COLUMN webhook_subscriptions.url IS 'webhook channel: http or https URL (https verified against the system CAs or notify_ca_file)';
COMMENT ON COLUMN webhook_subscriptions.events IS 'event families: warning (issue, upgrade, escalation), alarm (raise, escalation), warning_action (sign, feedback, clearance request, approve, return), overdue (alarm deadlines missed, warning escalations)';
COMMENT ON COLUMN webhook_subscriptions.channel IS 'webhook (signed JSON POST to url) or sms (through the SMS gateway adapter, sms_gateway_url)';
COMMENT ON COLUMN webhook_subscriptions.phone IS 'sms channel: the phone';
COMMENT ON COLUMN webhook_subscriptions.to_duty IS 'sms channel: the active duty roster of the event''s enterprise (and system) instead of one phone';
COMMENT ON COLUMN webhook_subscriptions.levels IS 'alarm levels (1, 2) and warning grades delivered; empty: all';

ALTER TABLE notification_outbox
    ADD COLUMN dedup_key text,
    ADD COLUMN channel   text NOT NULL DEFAULT 'webhook' CHECK (channel IN ('webhook', 'sms')),
    ADD COLUMN target    text NOT NULL DEFAULT '',
    ADD COLUMN alarm_id  bigint REFERENCES alarms (id);
ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_subscription_id_warning_id_event_key;
CREATE UNIQUE INDEX notification_outbox_dedup_idx ON notification_outbox (subscription_id, dedup_key, target);
COMMENT ON COLUMN notification_outbox.dedup_key IS 'what the message is about (<warning id>:<event> as in 0004, warning:<id>:<action>:<event id>, alarm:<id>:raise, ...): X-Dustwatch-Delivery; unique per subscription and target';
COMMENT ON COLUMN notification_outbox.target IS 'the URL or phone it goes to (filled from the subscription at insert)';

CREATE TABLE notification_deliveries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id      bigint NOT NULL REFERENCES notification_outbox (id) ON DELETE CASCADE,
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    attempt        integer NOT NULL CHECK (attempt >= 1),
    at             timestamptz NOT NULL DEFAULT now(),
    result         text NOT NULL CHECK (result IN ('sent', 'failed')),
    http_status    integer,
    detail         text NOT NULL DEFAULT '' CHECK (length(detail) <= 300),
    duration_ms    integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE notification_deliveries IS 'every delivery attempt of an outbox row: sent (2xx) or failed (HTTP status or transport/TLS error; retried with back-off)';
CREATE INDEX notification_deliveries_outbox_idx ON notification_deliveries (outbox_id);
ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE notification_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON notification_deliveries USING (dw_visible_enterprise(enterprise_id))
    WITH CHECK (dw_visible_enterprise(enterprise_id));
GRANT SELECT, INSERT ON notification_deliveries TO dustwatch_app;

-- Routing of every outbox row at insert: the subscription's channel and target, the level
-- filter, the dedup key of 0004's warning rows, and one row per duty phone.
CREATE FUNCTION dw_outbox_route() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    s webhook_subscriptions;
    lk text := coalesce(NEW.payload->>'grade', NEW.payload->>'level');
    phones text[];
    i int;
BEGIN
    -- warning rows keep 0004's key, <warning id>:<event>, which receivers already see
    NEW.dedup_key := coalesce(NEW.dedup_key, NEW.warning_id || ':' || NEW.event);
    IF NEW.target <> '' THEN
        RETURN NEW; -- a duty phone's copy, routed already
    END IF;
    SELECT * INTO s FROM webhook_subscriptions WHERE id = NEW.subscription_id;
    IF cardinality(s.levels) > 0 AND lk IS NOT NULL AND NOT lk = ANY (s.levels) THEN
        RETURN NULL;
    END IF;
    NEW.channel := s.channel;
    IF s.channel = 'webhook' THEN
        NEW.target := s.url;
    ELSIF NOT s.to_duty THEN
        NEW.target := s.phone;
    ELSE
        SELECT array_agg(DISTINCT r.phone ORDER BY r.phone) INTO phones FROM duty_roster r
        WHERE r.enterprise_id = NEW.enterprise_id AND r.active
          AND (r.system_id IS NULL OR r.system_id::text = NEW.payload->>'system_id');
        IF phones IS NULL THEN
            NEW.target := 'duty:none'; -- delivered as failed: nobody on the roster
            RETURN NEW;
        END IF;
        FOR i IN 2 .. cardinality(phones) LOOP
            INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, alarm_id, event, payload,
                                             dedup_key, channel, target)
            VALUES (NEW.subscription_id, NEW.enterprise_id, NEW.warning_id, NEW.alarm_id, NEW.event, NEW.payload,
                    NEW.dedup_key, 'sms', phones[i])
            ON CONFLICT DO NOTHING;
        END LOOP;
        NEW.target := phones[1];
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER notification_outbox_route BEFORE INSERT ON notification_outbox
    FOR EACH ROW EXECUTE FUNCTION dw_outbox_route();

-- Outbox rows of one event for every enabled subscription of the family whose scope holds
-- the enterprise.
CREATE FUNCTION dw_notify(family text, eid bigint, wid bigint, aid bigint, ev text, key text, body jsonb)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
BEGIN
    INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, alarm_id, event, payload, dedup_key)
    SELECT s.id, e.id, wid, aid, ev, body || jsonb_build_object('enterprise_id', e.id, 'enterprise_code', e.code,
                                                               'enterprise_name', e.name),
           key
    FROM enterprises e JOIN webhook_subscriptions s ON s.enabled AND family = ANY (s.events)
        AND (s.scope_kind = 'city' OR (s.scope_kind = 'district' AND s.scope_id = e.district_id)
             OR (s.scope_kind = 'street' AND s.scope_id = e.street_id)
             OR (s.scope_kind = 'enterprise' AND s.scope_id = e.id))
    WHERE e.id = eid
    ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION dw_notify(text, bigint, bigint, bigint, text, text, jsonb) IS 'outbox rows of one event for the subscriptions of its family whose scope holds the enterprise';

CREATE FUNCTION dw_alarm_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    body jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND NOT (NEW.level > OLD.level AND NEW.cleared_at IS NULL) THEN
        RETURN NULL;
    END IF;
    body := jsonb_build_object('type', 'alarm', 'event', CASE TG_OP WHEN 'INSERT' THEN 'raise' ELSE 'escalate' END,
        'alarm_id', NEW.id, 'kind', NEW.kind, 'level', NEW.level::text, 'reason', NEW.reason, 'value', NEW.value,
        'threshold', NEW.threshold, 'raised_at', NEW.raised_at,
        'point_code', (SELECT p.code FROM points p WHERE p.id = NEW.point_id),
        'point_name', (SELECT p.name FROM points p WHERE p.id = NEW.point_id),
        'system_id', (SELECT p.system_id FROM points p WHERE p.id = NEW.point_id));
    PERFORM dw_notify('alarm', NEW.enterprise_id, NULL, NEW.id,
                      CASE TG_OP WHEN 'INSERT' THEN 'raise' ELSE 'escalate:' || NEW.level END,
                      'alarm:' || NEW.id || CASE TG_OP WHEN 'INSERT' THEN ':raise' ELSE ':escalate:' || NEW.level END,
                      body);
    RETURN NULL;
END
$$;
CREATE TRIGGER alarms_notify AFTER INSERT OR UPDATE OF level ON alarms
    FOR EACH ROW EXECUTE FUNCTION dw_alarm_notify();

CREATE FUNCTION dw_alarm_event_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
BEGIN
    PERFORM dw_notify('overdue', NEW.enterprise_id, NULL, NEW.alarm_id, NEW.action,
                      'alarm:' || NEW.alarm_id || ':' || NEW.action,
                      jsonb_build_object('type', 'alarm', 'event', NEW.action, 'alarm_id', NEW.alarm_id,
                                         'at', NEW.at));
    RETURN NULL;
END
$$;
CREATE TRIGGER alarm_events_notify AFTER INSERT ON alarm_events
    FOR EACH ROW WHEN (NEW.action IN ('ack_overdue', 'handle_overdue')) EXECUTE FUNCTION dw_alarm_event_notify();

CREATE FUNCTION dw_warning_event_notify() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
BEGIN
    PERFORM dw_notify(CASE WHEN NEW.action = 'escalate' THEN 'overdue' ELSE 'warning_action' END,
                      NEW.enterprise_id, NEW.warning_id, NULL, NEW.action || ':' || NEW.id,
                      'warning:' || NEW.warning_id || ':' || NEW.action || ':' || NEW.id,
                      jsonb_build_object('type', 'warning', 'event', NEW.action, 'warning_id', NEW.warning_id,
                                         'actor', NEW.actor, 'note', NEW.note, 'at', NEW.at,
                                         'status', NEW.to_status, 'current_level', NEW.level));
    RETURN NULL;
END
$$;
CREATE TRIGGER warning_events_notify AFTER INSERT ON warning_events
    FOR EACH ROW WHEN (NEW.action IN ('sign', 'feedback', 'request_clearance', 'approve', 'return', 'escalate'))
    EXECUTE FUNCTION dw_warning_event_notify();
