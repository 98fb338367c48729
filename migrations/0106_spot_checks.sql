-- 0106: online spot checks (在线抽查), the district's named duty (issue 14 item 3).
--
-- A campaign picks enterprises of the caller's district or street (random N, by risk grade,
-- by street, not checked for N days, or a list); each picked enterprise gets one check,
-- worked from its dossier over the campaign's period and a checklist whose items are data
-- (spot_checklist_items).  A check records its answers and findings; a finding either
-- becomes a hazard (hazards, found_how spot_check, linked by hazard_id) or is a
-- rectification request with a deadline:
--   requested --reply (enterprise)--> replied --verify--> closed
--                                             --reject--> rejected --reply--> replied ...
-- Campaigns and checks are the government's: the campaign's district (and street, for a
-- street's own campaign) and the city see them; the enterprise sees its findings.

CREATE TABLE spot_checklist_items (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,31}$'),
    sort        smallint NOT NULL DEFAULT 0,
    zh          text NOT NULL CHECK (length(zh) BETWEEN 1 AND 200),
    en          text NOT NULL CHECK (length(en) BETWEEN 1 AND 200),
    major_item  smallint CHECK (major_item BETWEEN 1 AND 10),
    active      boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE spot_checklist_items IS 'the spot-check checklist (抽查检查表): one row per item, in sort order';
COMMENT ON COLUMN spot_checklist_items.code IS 'stable key the answers use';
COMMENT ON COLUMN spot_checklist_items.sort IS 'display order';
COMMENT ON COLUMN spot_checklist_items.zh IS 'the question in Chinese';
COMMENT ON COLUMN spot_checklist_items.en IS 'the question in English';
COMMENT ON COLUMN spot_checklist_items.major_item IS 'the major-hazard item (1..10) a finding on it usually is, if any';
COMMENT ON COLUMN spot_checklist_items.active IS 'false: no longer asked (old answers keep their code)';
GRANT SELECT ON spot_checklist_items TO dustwatch_app;

INSERT INTO spot_checklist_items (code, sort, zh, en, major_item) VALUES
    ('alarms_handled', 10, '报警是否按时确认、处置并记录原因', 'alarms acknowledged and handled in time, causes recorded', NULL),
    ('warnings_answered', 20, '预警是否按时签收、反馈', 'warnings signed and answered in time', NULL),
    ('data_online', 30, '监测数据是否持续在线、无长时间中断', 'monitoring data online without long interruptions', NULL),
    ('cleaning_done', 40, '粉尘清理是否按规定频次打卡', 'dust cleaning checked in at the required frequency', 10),
    ('video_alarms', 50, '视频报警是否已核实处置', 'video alarms checked and handled', NULL),
    ('filings_valid', 60, '停产/检修报备是否真实有效', 'production-stop and maintenance filings genuine and valid', NULL),
    ('explosion_protection', 70, '除尘系统泄爆/抑爆/隔爆/惰化措施是否有效', 'dust system venting/suppression/isolation/inerting in place', 3),
    ('spark_detection', 80, '火花探测消除装置是否正常运行', 'spark detection and extinguishing working', 4);

CREATE TABLE spot_campaigns (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_id  bigint REFERENCES regions (id),
    street_id    bigint REFERENCES regions (id),
    title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    period_from  timestamptz NOT NULL,
    period_to    timestamptz NOT NULL,
    rule         text NOT NULL CHECK (rule IN ('random', 'grade', 'street', 'stale', 'list')),
    params       jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_by   bigint REFERENCES accounts (id),
    creator      text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CHECK (period_to > period_from AND period_to <= period_from + interval '366 days'),
    CHECK (street_id IS NULL OR district_id IS NOT NULL),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
COMMENT ON TABLE spot_campaigns IS 'spot-check campaigns (抽查批次): who picked which enterprises how, for which period';
COMMENT ON COLUMN spot_campaigns.district_id IS 'the owning district (NULL: a city-wide campaign)';
COMMENT ON COLUMN spot_campaigns.street_id IS 'the owning street, for a street''s own campaign';
COMMENT ON COLUMN spot_campaigns.title IS 'name of the campaign';
COMMENT ON COLUMN spot_campaigns.period_from IS 'start of the period the dossiers cover';
COMMENT ON COLUMN spot_campaigns.period_to IS 'end of that period (exclusive)';
COMMENT ON COLUMN spot_campaigns.rule IS 'how the enterprises were picked: random N, grade, street, stale (not checked for N days), list';
COMMENT ON COLUMN spot_campaigns.params IS 'the selection''s parameters (n, grades, street_code, stale_days, enterprise_ids)';
COMMENT ON COLUMN spot_campaigns.status IS 'open or closed';
COMMENT ON COLUMN spot_campaigns.created_by IS 'who started it';
COMMENT ON COLUMN spot_campaigns.creator IS 'user name';
COMMENT ON COLUMN spot_campaigns.closed_at IS 'when closed';
CREATE INDEX spot_campaigns_scope_idx ON spot_campaigns (district_id, street_id, created_at DESC);

CREATE TABLE spot_checks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES spot_campaigns (id),
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    district_id   bigint REFERENCES regions (id),
    street_id     bigint REFERENCES regions (id),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    answers       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(answers) = 'object'),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 4000),
    inspector_id  bigint REFERENCES accounts (id),
    inspector     text NOT NULL DEFAULT '',
    checked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, enterprise_id),
    CHECK ((status = 'done') = (checked_at IS NOT NULL))
);
COMMENT ON TABLE spot_checks IS 'one spot check (抽查) of one enterprise in a campaign';
COMMENT ON COLUMN spot_checks.district_id IS 'the campaign''s district (copied for row-level security)';
COMMENT ON COLUMN spot_checks.street_id IS 'the campaign''s street (copied for row-level security)';
COMMENT ON COLUMN spot_checks.status IS 'pending or done';
COMMENT ON COLUMN spot_checks.answers IS 'checklist answers: {item code: ok | finding | na}';
COMMENT ON COLUMN spot_checks.note IS 'the inspector''s summary';
COMMENT ON COLUMN spot_checks.inspector_id IS 'who did the check';
COMMENT ON COLUMN spot_checks.inspector IS 'user name';
COMMENT ON COLUMN spot_checks.checked_at IS 'when it was recorded';
CREATE INDEX spot_checks_enterprise_idx ON spot_checks (enterprise_id, checked_at DESC);
CREATE INDEX spot_checks_inspector_idx ON spot_checks (inspector_id, checked_at);

CREATE TABLE spot_findings (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id      bigint NOT NULL REFERENCES spot_checks (id),
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    district_id   bigint REFERENCES regions (id),
    street_id     bigint REFERENCES regions (id),
    item_code     text REFERENCES spot_checklist_items (code),
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    action        text NOT NULL CHECK (action IN ('hazard', 'rectification')),
    hazard_id     bigint REFERENCES hazards (id),
    deadline      timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('hazard', 'requested', 'replied', 'rejected', 'closed')),
    reply         text NOT NULL DEFAULT '' CHECK (length(reply) <= 4000),
    replied_at    timestamptz,
    verified_by   bigint REFERENCES accounts (id),
    verified_at   timestamptz,
    verify_note   text NOT NULL DEFAULT '' CHECK (length(verify_note) <= 4000),
    closed_at     timestamptz,
    created_by    bigint REFERENCES accounts (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((action = 'hazard') = (hazard_id IS NOT NULL)),
    CHECK ((action = 'hazard') = (status = 'hazard')),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
COMMENT ON TABLE spot_findings IS 'findings of spot checks: a hazard (linked) or a rectification request the enterprise answers';
COMMENT ON COLUMN spot_findings.district_id IS 'the campaign''s district (copied for row-level security)';
COMMENT ON COLUMN spot_findings.street_id IS 'the campaign''s street (copied for row-level security)';
COMMENT ON COLUMN spot_findings.item_code IS 'the checklist item it was found on, if any';
COMMENT ON COLUMN spot_findings.title IS 'what is wrong, in one line';
COMMENT ON COLUMN spot_findings.description IS 'details';
COMMENT ON COLUMN spot_findings.action IS 'hazard (reported as a hazard, its loop is the hazard''s) or rectification (整改通知)';
COMMENT ON COLUMN spot_findings.hazard_id IS 'the hazard it became (action hazard)';
COMMENT ON COLUMN spot_findings.deadline IS 'answer or rectification deadline';
COMMENT ON COLUMN spot_findings.status IS 'hazard (see the hazard), requested, replied, rejected (reply not accepted), closed';
COMMENT ON COLUMN spot_findings.reply IS 'the enterprise''s answer';
COMMENT ON COLUMN spot_findings.replied_at IS 'when it answered last';
COMMENT ON COLUMN spot_findings.verified_by IS 'who verified or rejected the answer last';
COMMENT ON COLUMN spot_findings.verified_at IS 'when';
COMMENT ON COLUMN spot_findings.verify_note IS 'verification note or why the answer was rejected';
COMMENT ON COLUMN spot_findings.closed_at IS 'when closed';
COMMENT ON COLUMN spot_findings.created_by IS 'the inspector';
CREATE INDEX spot_findings_check_idx ON spot_findings (check_id);
CREATE INDEX spot_findings_enterprise_idx ON spot_findings (enterprise_id, created_at DESC);
CREATE UNIQUE INDEX spot_findings_hazard_idx ON spot_findings (hazard_id) WHERE hazard_id IS NOT NULL;

-- The owner's district and street and the city see campaigns, checks and findings; the
-- enterprise sees its own findings.  Another street of the same district sees nothing.
DO $$
DECLARE
    t text;
    gov text := '(SELECT dw_scope_kind()) = ''system'' OR (SELECT dw_scope_is_city()) '
                'OR ((SELECT dw_scope_kind()) = ''district'' AND district_id = (SELECT dw_scope_id())) '
                'OR ((SELECT dw_scope_kind()) = ''street'' AND street_id = (SELECT dw_scope_id()))';
    ent text := ' OR ((SELECT dw_scope_kind()) = ''enterprise'' AND enterprise_id = (SELECT dw_scope_id()))';
BEGIN
    FOREACH t IN ARRAY ARRAY['spot_campaigns', 'spot_checks', 'spot_findings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (%s) WITH CHECK (%s)', t,
                       gov || CASE t WHEN 'spot_findings' THEN ent ELSE '' END,
                       gov || CASE t WHEN 'spot_findings' THEN ent ELSE '' END);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON spot_campaigns, spot_checks, spot_findings TO dustwatch_app;

INSERT INTO labels (domain, code, zh, en) VALUES
    ('spot_rule', 'random', '随机抽取', 'random'),
    ('spot_rule', 'grade', '按风险等级', 'by risk grade'),
    ('spot_rule', 'street', '按街镇', 'by street'),
    ('spot_rule', 'stale', '超期未抽查', 'not checked recently'),
    ('spot_rule', 'list', '指定企业', 'named enterprises'),
    ('spot_finding_status', 'hazard', '已转隐患', 'reported as a hazard'),
    ('spot_finding_status', 'requested', '待整改回复', 'to answer'),
    ('spot_finding_status', 'replied', '待核验', 'answered, to verify'),
    ('spot_finding_status', 'rejected', '核验未通过', 'answer rejected'),
    ('spot_finding_status', 'closed', '已闭环', 'closed')
ON CONFLICT (domain, code) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en;
