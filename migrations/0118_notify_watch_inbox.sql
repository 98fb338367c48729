-- 0118: notifications to the district's watch, an in-app inbox and read receipts (issue 16).
--   * duty_shifts.phone: how the person on a watch shift (0063) is reached by SMS;
--   * a subscription (scope city, district or street) with to_watch true goes to whoever is
--     on watch in the event enterprise's district when the outbox row is written: channel
--     sms to the shift's phone, channel inapp (new) to the account's inbox in the dashboard.
--     One outbox row per person on watch (target phone or account:<id>), so the dedup key
--     stays unique per subscription and target and delivery stays at least once; nobody on
--     watch (or no phone) is target watch:none, logged as failed like duty:none;
--   * read receipts where the channel has them: the inbox marks a message read when it is
--     opened; the SMS gateway posts delivery reports (delivered, failed, read) to
--     POST /api/v1/notify/sms-report, each a row of the delivery log; a failed report puts
--     the message back in the queue (retried).

ALTER TABLE duty_shifts ADD COLUMN phone text CHECK (phone ~ '^\+?[0-9]{5,20}$');
COMMENT ON COLUMN duty_shifts.phone IS 'the phone of the person on this shift (SMS of to_watch subscriptions); NULL: in-app only';

ALTER TABLE webhook_subscriptions ADD COLUMN to_watch boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN webhook_subscriptions.to_watch IS 'sms or inapp channel: the person on watch (duty_shifts) of the event enterprise''s district at the time of the event';
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_channel_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_channel_check
    CHECK (channel IN ('webhook', 'sms', 'inapp'));
ALTER TABLE webhook_subscriptions DROP CONSTRAINT webhook_subscriptions_target_check;
ALTER TABLE webhook_subscriptions ADD CONSTRAINT webhook_subscriptions_target_check CHECK (
    ((channel = 'webhook' AND url IS NOT NULL AND phone IS NULL AND NOT to_duty AND NOT to_watch)
     OR (channel = 'sms' AND url IS NULL AND (phone IS NOT NULL)::int + to_duty::int + to_watch::int = 1)
     OR (channel = 'inapp' AND url IS NULL AND phone IS NULL AND NOT to_duty AND to_watch))
    AND NOT (to_watch AND scope_kind = 'enterprise'));
COMMENT ON COLUMN webhook_subscriptions.channel IS 'webhook (signed JSON POST to url), sms (through the SMS gateway adapter, sms_gateway_url) or inapp (the dashboard inbox of the person on watch)';

ALTER TABLE notification_outbox DROP CONSTRAINT notification_outbox_channel_check;
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_channel_check
    CHECK (channel IN ('webhook', 'sms', 'inapp'));
ALTER TABLE notification_outbox
    ADD COLUMN account_id bigint REFERENCES accounts (id),
    ADD COLUMN read_at    timestamptz;
COMMENT ON COLUMN notification_outbox.account_id IS 'to_watch rows: the account on watch it is for (its inbox for inapp)';
COMMENT ON COLUMN notification_outbox.read_at IS 'when it was read: opened in the inbox, or a read report of the SMS gateway';
CREATE INDEX notification_outbox_inbox_idx ON notification_outbox (account_id, id DESC)
    WHERE channel = 'inapp';
CREATE INDEX notification_outbox_sms_ref_idx ON notification_outbox ((dedup_key || ':' || target))
    WHERE channel = 'sms';

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_result_check;
ALTER TABLE notification_deliveries ADD CONSTRAINT notification_deliveries_result_check
    CHECK (result IN ('sent', 'failed', 'delivered', 'read'));
COMMENT ON COLUMN notification_deliveries.result IS 'sent (2xx) or failed (HTTP status, transport/TLS error, or a failed gateway report); delivered and read: receipts (SMS gateway report, inbox opened)';

-- 0051's routing, and the watch: see the header.
CREATE OR REPLACE FUNCTION dw_outbox_route() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    s webhook_subscriptions;
    lk text := coalesce(NEW.payload->>'grade', NEW.payload->>'level');
    phones text[];
    w record;
    first boolean := true;
    i int;
BEGIN
    NEW.dedup_key := coalesce(NEW.dedup_key, NEW.warning_id || ':' || NEW.event);
    IF NEW.target <> '' THEN
        RETURN NEW; -- a copy for one more phone or person, routed already
    END IF;
    SELECT * INTO s FROM webhook_subscriptions WHERE id = NEW.subscription_id;
    IF cardinality(s.levels) > 0 AND lk IS NOT NULL AND NOT lk = ANY (s.levels) THEN
        RETURN NULL;
    END IF;
    NEW.channel := s.channel;
    IF s.channel = 'webhook' THEN
        NEW.target := s.url;
    ELSIF s.to_watch THEN
        FOR w IN
            SELECT DISTINCT ON (d.account_id) d.account_id, d.phone
            FROM duty_shifts d JOIN enterprises e ON e.district_id = d.district_id
            WHERE e.id = NEW.enterprise_id AND d.starts_at <= now() AND now() < d.ends_at
              AND (s.channel = 'inapp' OR d.phone IS NOT NULL)
            ORDER BY d.account_id, d.starts_at DESC
        LOOP
            IF first THEN
                NEW.account_id := w.account_id;
                NEW.target := CASE s.channel WHEN 'sms' THEN w.phone ELSE 'account:' || w.account_id END;
                first := false;
            ELSE
                INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, alarm_id, event, payload,
                                                 dedup_key, channel, target, account_id)
                VALUES (NEW.subscription_id, NEW.enterprise_id, NEW.warning_id, NEW.alarm_id, NEW.event, NEW.payload,
                        NEW.dedup_key, s.channel,
                        CASE s.channel WHEN 'sms' THEN w.phone ELSE 'account:' || w.account_id END, w.account_id)
                ON CONFLICT DO NOTHING;
            END IF;
        END LOOP;
        IF first THEN
            NEW.target := 'watch:none'; -- delivered as failed: nobody on watch (with a phone)
        END IF;
    ELSIF NOT s.to_duty THEN
        NEW.target := s.phone;
    ELSE
        SELECT array_agg(DISTINCT r.phone ORDER BY r.phone) INTO phones FROM duty_roster r
        WHERE r.enterprise_id = NEW.enterprise_id AND r.active
          AND (r.system_id IS NULL OR r.system_id::text = NEW.payload->>'system_id');
        IF phones IS NULL THEN
            NEW.target := 'duty:none';
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

-- The inbox of one account: its inapp messages, newest first, with the unread count.
CREATE FUNCTION dw_inbox(account bigint, lim int) RETURNS json
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
    SELECT json_build_object(
        'unread', (SELECT count(*) FROM notification_outbox o WHERE o.channel = 'inapp'
                   AND o.account_id = account AND o.read_at IS NULL),
        'items', coalesce((SELECT json_agg(x ORDER BY x.id DESC) FROM (
            SELECT o.id, o.dedup_key, o.event, o.payload, o.created_at, o.read_at, o.enterprise_id
            FROM notification_outbox o WHERE o.channel = 'inapp' AND o.account_id = account
            ORDER BY o.id DESC LIMIT lim) x), '[]'::json))
$$;
COMMENT ON FUNCTION dw_inbox(bigint, int) IS 'the in-app notifications of an account (person on watch), newest first, and how many are unread';
GRANT EXECUTE ON FUNCTION dw_inbox(bigint, int) TO dustwatch_app;

-- Opening one: read_at and a 'read' row of the delivery log, once.  Returns false when the
-- message is not the account's.
CREATE FUNCTION dw_inbox_read(account bigint, oid bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    o notification_outbox;
BEGIN
    SELECT * INTO o FROM notification_outbox WHERE id = oid AND channel = 'inapp' AND account_id = account
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF o.read_at IS NULL THEN
        UPDATE notification_outbox SET read_at = now() WHERE id = oid;
        INSERT INTO notification_deliveries (outbox_id, enterprise_id, attempt, result, detail)
        VALUES (oid, o.enterprise_id, greatest(o.attempts, 1), 'read', 'opened in the inbox');
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_inbox_read(bigint, bigint) IS 'marks an inbox message of the account read (once) and logs the receipt';
GRANT EXECUTE ON FUNCTION dw_inbox_read(bigint, bigint) TO dustwatch_app;

-- A delivery report of the SMS gateway for ref (<dedup key>:<phone>, the ref the adapter
-- sent): delivered and read are receipts; failed logs the failure and queues the message
-- again (retried at once).  Returns the messages it matched.
CREATE FUNCTION dw_sms_report(ref text, status text, note text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public SET dw.scope = 'system' AS $$
DECLARE
    o notification_outbox;
    n integer := 0;
BEGIN
    IF status NOT IN ('delivered', 'failed', 'read') THEN
        RETURN 0;
    END IF;
    FOR o IN SELECT * FROM notification_outbox WHERE channel = 'sms' AND dedup_key || ':' || target = ref
             AND attempts > 0 ORDER BY id FOR UPDATE
    LOOP
        INSERT INTO notification_deliveries (outbox_id, enterprise_id, attempt, result, detail)
        VALUES (o.id, o.enterprise_id, o.attempts, status, left('gateway report: ' || status
                || CASE WHEN note <> '' THEN ': ' || note ELSE '' END, 300));
        IF status = 'read' THEN
            UPDATE notification_outbox SET read_at = coalesce(read_at, now()) WHERE id = o.id;
        ELSIF status = 'failed' AND o.read_at IS NULL THEN
            UPDATE notification_outbox SET delivered_at = NULL, next_attempt_at = now(),
                last_error = left('gateway report: failed' || CASE WHEN note <> '' THEN ': ' || note ELSE '' END, 300)
            WHERE id = o.id;
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_sms_report(text, text, text) IS 'applies an SMS gateway delivery report (delivered, failed: queued again, read) to the messages sent under ref';
GRANT EXECUTE ON FUNCTION dw_sms_report(text, text, text) TO dustwatch_app;

