-- 0060: production-stop / maintenance / disable filings (停产/检修/停用 报备).
--
-- An enterprise files a period; the street or the district approves or returns it (the
-- district chooses which: regions.filing_approval_level).  While an approved filing is
-- valid, offline and limit alarms of the points it covers are not raised but recorded in
-- filing_suppressions, the risk recompute counts those points as online and their open
-- alarms' deadlines as stopped, and a stop filing whose data keeps moving raises one
-- alarm of kind production_during_stop.  Expiry is not a stored transition: an approved
-- filing past ends_at is expired (the API answers state 'expired').

ALTER TABLE regions ADD COLUMN filing_approval_level text NOT NULL DEFAULT 'district'
    CHECK (filing_approval_level IN ('street', 'district'));
COMMENT ON COLUMN regions.filing_approval_level IS
    'on a district: which level approves its enterprises'' filings (street: the enterprise''s street, '
    'the district above it may too; an enterprise without a street goes to the district)';
GRANT UPDATE (filing_approval_level) ON regions TO dustwatch_app;

CREATE TABLE filings (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id        bigint NOT NULL REFERENCES enterprises (id),
    type                 text NOT NULL CHECK (type IN ('stop', 'maintenance', 'disable')),
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL,
    system_ids           bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(system_ids) <= 200),
    point_ids            bigint[] NOT NULL DEFAULT '{}' CHECK (cardinality(point_ids) <= 2000),
    reason               text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    evidence             bytea CHECK (octet_length(evidence) <= 2097152),
    evidence_type        text CHECK (evidence_type IN ('image/jpeg', 'image/png', 'application/pdf')),
    status               text NOT NULL DEFAULT 'submitted'
                         CHECK (status IN ('submitted', 'approved', 'returned', 'withdrawn', 'ended')),
    approval_level       text NOT NULL CHECK (approval_level IN ('street', 'district')),
    filed_by             bigint REFERENCES accounts (id),
    filed_at             timestamptz NOT NULL DEFAULT now(),
    reviewed_by          bigint REFERENCES accounts (id),
    reviewed_at          timestamptz,
    review_note          text NOT NULL DEFAULT '' CHECK (length(review_note) <= 2000),
    ended_at             timestamptz,
    end_note             text NOT NULL DEFAULT '' CHECK (length(end_note) <= 2000),
    production_alarm_id  bigint REFERENCES alarms (id),
    CHECK (ends_at > starts_at AND ends_at <= starts_at + interval '366 days'),
    CHECK ((evidence IS NULL) = (evidence_type IS NULL)),
    CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
    CHECK (status IN ('submitted', 'withdrawn') OR reviewed_at IS NOT NULL)
);
COMMENT ON TABLE filings IS 'production-stop (停产), maintenance (检修) and disable (停用) filings of an enterprise';
COMMENT ON COLUMN filings.type IS 'stop (停产), maintenance (检修) or disable (设备停用)';
COMMENT ON COLUMN filings.starts_at IS 'start of the period filed';
COMMENT ON COLUMN filings.ends_at IS 'end of the period filed; an approved filing past it is expired';
COMMENT ON COLUMN filings.system_ids IS 'dust-removal systems covered; with point_ids both empty the whole enterprise is';
COMMENT ON COLUMN filings.point_ids IS 'points covered besides those of system_ids';
COMMENT ON COLUMN filings.reason IS 'why (the enterprise''s words)';
COMMENT ON COLUMN filings.evidence IS 'optional attachment (photo or PDF of the production plan, work order)';
COMMENT ON COLUMN filings.evidence_type IS 'its media type';
COMMENT ON COLUMN filings.status IS 'submitted, approved, returned (to be filed again), withdrawn by the enterprise, ended early (复产)';
COMMENT ON COLUMN filings.approval_level IS 'the level that reviews it, from the district''s setting when filed';
COMMENT ON COLUMN filings.filed_by IS 'the account that filed it (NULL: an API key)';
COMMENT ON COLUMN filings.filed_at IS 'when filed';
COMMENT ON COLUMN filings.reviewed_by IS 'who approved or returned it';
COMMENT ON COLUMN filings.reviewed_at IS 'when';
COMMENT ON COLUMN filings.review_note IS 'the reviewer''s note or the reason for returning it';
COMMENT ON COLUMN filings.ended_at IS 'when production resumed (复产) before ends_at';
COMMENT ON COLUMN filings.end_note IS 'the enterprise''s resumption report';
COMMENT ON COLUMN filings.production_alarm_id IS 'the production_during_stop alarm raised for it (at most one per filing)';
CREATE INDEX filings_enterprise_idx ON filings (enterprise_id, starts_at DESC);
CREATE INDEX filings_valid_idx ON filings (enterprise_id) WHERE status IN ('approved', 'ended');
CREATE INDEX filings_pending_idx ON filings (filed_at) WHERE status = 'submitted';

CREATE TABLE filing_suppressions (
    filing_id      bigint NOT NULL REFERENCES filings (id),
    enterprise_id  bigint NOT NULL REFERENCES enterprises (id),
    point_id       bigint NOT NULL REFERENCES points (id) ON DELETE CASCADE,
    channel        text NOT NULL,
    kind           text NOT NULL,
    level          smallint NOT NULL CHECK (level BETWEEN 0 AND 2),
    first_at       timestamptz NOT NULL,
    last_at        timestamptz NOT NULL,
    count          integer NOT NULL DEFAULT 1 CHECK (count >= 1),
    PRIMARY KEY (filing_id, point_id, channel),
    CHECK (last_at >= first_at)
);
COMMENT ON TABLE filing_suppressions IS 'alarms not raised because an approved filing covered the point: recorded, not dropped';
COMMENT ON COLUMN filing_suppressions.channel IS 'the alarm channel (offline, limit)';
COMMENT ON COLUMN filing_suppressions.kind IS 'the alarm kind it would have had (the latest)';
COMMENT ON COLUMN filing_suppressions.level IS 'its level (the highest)';
COMMENT ON COLUMN filing_suppressions.first_at IS 'first suppressed trigger';
COMMENT ON COLUMN filing_suppressions.last_at IS 'latest suppressed trigger';
COMMENT ON COLUMN filing_suppressions.count IS 'triggers suppressed';

DO $$
DECLARE
    t text;
    rule text := 'current_setting(''dw.scope'', true) = ''system'' '
                 'OR enterprise_id = (SELECT dw_focus_enterprise()) '
                 'OR (SELECT dw_scope_is_city()) '
                 'OR enterprise_id IN (SELECT e.id FROM enterprises e)';
BEGIN
    FOREACH t IN ARRAY ARRAY['filings', 'filing_suppressions'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (%s) WITH CHECK (%s)', t, rule, rule);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON filings, filing_suppressions TO dustwatch_app;

-- The approved filing covering a point at an instant (an ended one up to its end), the
-- lowest id when several do; NULL when none.
CREATE FUNCTION dw_filing_covers(ent bigint, point bigint, sys bigint, at timestamptz)
    RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT f.id FROM filings f
    WHERE f.enterprise_id = ent AND f.status IN ('approved', 'ended') AND f.starts_at <= at
      AND at < least(f.ends_at, coalesce(f.ended_at, 'infinity'))
      AND ((cardinality(f.point_ids) = 0 AND cardinality(f.system_ids) = 0)
           OR point = ANY (f.point_ids) OR sys = ANY (f.system_ids))
    ORDER BY f.id LIMIT 1
$$;
COMMENT ON FUNCTION dw_filing_covers(bigint, bigint, bigint, timestamptz) IS
    'the approved filing that covers the point (of the system) of the enterprise at the instant, or NULL';

-- production during a stop filing: one alarm per filing, instantaneous (cleared when raised)
ALTER TABLE alarms DROP CONSTRAINT alarms_channel_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_channel_check CHECK (channel IN ('limit', 'rate', 'frozen', 'range',
    'offline', 'gateway', 'video', 'gateway_offline', 'enterprise_offline', 'filing'));
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check CHECK (kind IN ('high', 'high_high', 'low', 'low_low',
    'rate_of_rise', 'digital_fault', 'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video',
    'gateway_offline', 'spark', 'enterprise_offline', 'production_during_stop'));
ALTER TABLE alarms ADD CONSTRAINT alarms_filing_check
    CHECK ((channel = 'filing') = (kind = 'production_during_stop') AND (channel <> 'filing' OR source = 'rule'));

INSERT INTO labels (domain, code, zh, en) VALUES
    ('alarm_kind', 'production_during_stop', '停产期间数据异动', 'production during a stop filing'),
    ('alarm_channel', 'filing', '报备', 'Filing'),
    ('filing_type', 'stop', '停产', 'production stop'),
    ('filing_type', 'maintenance', '检修', 'maintenance'),
    ('filing_type', 'disable', '设备停用', 'equipment disabled'),
    ('filing_status', 'submitted', '待审批', 'submitted'),
    ('filing_status', 'approved', '已批准', 'approved'),
    ('filing_status', 'returned', '已退回', 'returned'),
    ('filing_status', 'withdrawn', '已撤回', 'withdrawn'),
    ('filing_status', 'ended', '已复产', 'ended (resumed)'),
    ('filing_status', 'expired', '已到期', 'expired')
ON CONFLICT (domain, code) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en;
