-- 0061: hazards (隐患) and their rectification loop.
--
-- Two kinds: the ten items of 工贸企业粉尘防爆重大事故隐患判定 (major, domain.md §4.1) and
-- ordinary ones.  proposed (derived from the archive and the asset registry, waiting for a
-- person) --confirm--> reported (or --dismiss--> dismissed); reported --plan--> planned
-- --rectify--> rectified --verify--> closed, or --reject--> rejected --rectify--> ...
-- Open hazards (reported, planned, rectified, rejected) are what the risk engine reads:
-- the trigger below keeps enterprise_profiles.major_hazard_items (the override) and
-- open_hazards (S) equal to them and queues a recompute.

CREATE TABLE hazards (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id   bigint NOT NULL REFERENCES enterprises (id),
    kind            text NOT NULL CHECK (kind IN ('major', 'ordinary')),
    major_item      smallint CHECK (major_item BETWEEN 1 AND 10),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
    found_by        text NOT NULL DEFAULT '' CHECK (length(found_by) <= 100),
    found_at        timestamptz NOT NULL DEFAULT now(),
    found_how       text NOT NULL CHECK (found_how IN ('spot_check', 'inspection', 'warning', 'self_check', 'derived')),
    derived_rule    text CHECK (length(derived_rule) <= 64),
    warning_id      bigint REFERENCES warnings (id),
    photo           bytea CHECK (octet_length(photo) <= 2097152),
    photo_type      text CHECK (photo_type IN ('image/jpeg', 'image/png')),
    status          text NOT NULL CHECK (status IN ('proposed', 'reported', 'planned', 'rectified', 'rejected',
                                                    'closed', 'dismissed')),
    deadline        timestamptz,
    plan            text NOT NULL DEFAULT '' CHECK (length(plan) <= 4000),
    planned_at      timestamptz,
    report          text NOT NULL DEFAULT '' CHECK (length(report) <= 4000),
    rectified_at    timestamptz,
    verified_by     bigint REFERENCES accounts (id),
    verified_at     timestamptz,
    verify_note     text NOT NULL DEFAULT '' CHECK (length(verify_note) <= 4000),
    closed_at       timestamptz,
    created_by      bigint REFERENCES accounts (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'major') = (major_item IS NOT NULL)),
    CHECK ((found_how = 'derived') = (derived_rule IS NOT NULL)),
    CHECK ((photo IS NULL) = (photo_type IS NULL)),
    CHECK (status IN ('proposed', 'dismissed') OR deadline IS NOT NULL),
    CHECK ((status IN ('closed', 'dismissed')) = (closed_at IS NOT NULL))
);
COMMENT ON TABLE hazards IS 'hazards (隐患) of an enterprise and their rectification loop';
COMMENT ON COLUMN hazards.kind IS 'major (重大事故隐患, one of the ten dust items) or ordinary (一般隐患)';
COMMENT ON COLUMN hazards.major_item IS 'the item 1..10 of 工贸企业粉尘防爆重大事故隐患判定 (domain.md §4.1)';
COMMENT ON COLUMN hazards.title IS 'what is wrong, in one line';
COMMENT ON COLUMN hazards.description IS 'details';
COMMENT ON COLUMN hazards.found_by IS 'who found it (name)';
COMMENT ON COLUMN hazards.found_at IS 'when';
COMMENT ON COLUMN hazards.found_how IS 'spot_check (在线抽查), inspection (现场检查), warning (from a warning), self_check (企业自查), derived (from the archive)';
COMMENT ON COLUMN hazards.derived_rule IS 'the archive rule that proposed it (derived only)';
COMMENT ON COLUMN hazards.warning_id IS 'the warning it came from, if any';
COMMENT ON COLUMN hazards.photo IS 'evidence photo';
COMMENT ON COLUMN hazards.photo_type IS 'its media type';
COMMENT ON COLUMN hazards.status IS 'proposed, reported, planned, rectified, rejected (rectification not accepted), closed, dismissed (a proposal refused)';
COMMENT ON COLUMN hazards.deadline IS 'rectification deadline (整改期限)';
COMMENT ON COLUMN hazards.plan IS 'the enterprise''s rectification plan';
COMMENT ON COLUMN hazards.planned_at IS 'when the plan was filed';
COMMENT ON COLUMN hazards.report IS 'the enterprise''s rectification report';
COMMENT ON COLUMN hazards.rectified_at IS 'when it reported the rectification';
COMMENT ON COLUMN hazards.verified_by IS 'who verified (or rejected) it last';
COMMENT ON COLUMN hazards.verified_at IS 'when';
COMMENT ON COLUMN hazards.verify_note IS 'the verification note, or why it was rejected or dismissed';
COMMENT ON COLUMN hazards.closed_at IS 'when closed or dismissed';
COMMENT ON COLUMN hazards.created_by IS 'the account that reported it (NULL: derived or an API key)';
CREATE INDEX hazards_enterprise_idx ON hazards (enterprise_id, created_at DESC);
CREATE INDEX hazards_open_idx ON hazards (deadline) WHERE status IN ('reported', 'planned', 'rectified', 'rejected');
-- one live derived proposal per enterprise and rule
CREATE UNIQUE INDEX hazards_derived_idx ON hazards (enterprise_id, derived_rule)
    WHERE derived_rule IS NOT NULL AND status NOT IN ('closed', 'dismissed');

CREATE TABLE hazard_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hazard_id    bigint NOT NULL REFERENCES hazards (id),
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    at           timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL CHECK (action IN ('report', 'propose', 'confirm', 'dismiss', 'plan', 'rectify',
                                                 'verify', 'reject')),
    from_status  text,
    to_status    text NOT NULL,
    actor_id     bigint REFERENCES accounts (id),
    actor        text NOT NULL DEFAULT '',
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 4000)
);
COMMENT ON TABLE hazard_events IS 'the history of a hazard: every transition, who and why';
COMMENT ON COLUMN hazard_events.action IS 'the transition';
COMMENT ON COLUMN hazard_events.from_status IS 'status before (NULL when created)';
COMMENT ON COLUMN hazard_events.to_status IS 'status after';
COMMENT ON COLUMN hazard_events.actor_id IS 'the account (NULL: derived, an API key)';
COMMENT ON COLUMN hazard_events.actor IS 'user name';
COMMENT ON COLUMN hazard_events.note IS 'plan, report, note or reason';
CREATE INDEX hazard_events_hazard_idx ON hazard_events (hazard_id, id);

DO $$
DECLARE
    t text;
    rule text := 'current_setting(''dw.scope'', true) = ''system'' '
                 'OR enterprise_id = (SELECT dw_focus_enterprise()) '
                 'OR (SELECT dw_scope_is_city()) '
                 'OR enterprise_id IN (SELECT e.id FROM enterprises e)';
BEGIN
    FOREACH t IN ARRAY ARRAY['hazards', 'hazard_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (%s) WITH CHECK (%s)', t, rule, rule);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE ON hazards TO dustwatch_app;
GRANT SELECT, INSERT ON hazard_events TO dustwatch_app;

-- The risk engine's hazard inputs follow the open hazards (the only writer of both columns).
CREATE FUNCTION dw_hazards_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO enterprise_profiles AS ep (enterprise_id, major_hazard_items, open_hazards)
    SELECT NEW.enterprise_id,
           coalesce(array_agg(DISTINCT major_item ORDER BY major_item) FILTER (WHERE kind = 'major'),
                    '{}')::smallint[],
           count(*) FILTER (WHERE kind = 'ordinary')::int
      FROM hazards WHERE enterprise_id = NEW.enterprise_id
       AND status IN ('reported', 'planned', 'rectified', 'rejected')
    ON CONFLICT (enterprise_id) DO UPDATE
       SET major_hazard_items = EXCLUDED.major_hazard_items, open_hazards = EXCLUDED.open_hazards,
           updated_at = now()
     WHERE ep.major_hazard_items IS DISTINCT FROM EXCLUDED.major_hazard_items
        OR ep.open_hazards <> EXCLUDED.open_hazards;
    IF FOUND THEN
        INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES (NEW.enterprise_id, 'hazards')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_hazards_sync() IS
    'keeps enterprise_profiles.major_hazard_items and open_hazards equal to the open hazards; queues a recompute';
CREATE TRIGGER hazards_sync_profile AFTER INSERT OR UPDATE OF status ON hazards
    FOR EACH ROW EXECUTE FUNCTION dw_hazards_sync();

INSERT INTO labels (domain, code, zh, en) VALUES
    ('hazard_kind', 'major', '重大事故隐患', 'major accident hazard'),
    ('hazard_kind', 'ordinary', '一般隐患', 'ordinary hazard'),
    ('hazard_status', 'proposed', '待确认', 'proposed'),
    ('hazard_status', 'reported', '待整改', 'reported'),
    ('hazard_status', 'planned', '整改中', 'plan filed'),
    ('hazard_status', 'rectified', '待验收', 'rectified, to verify'),
    ('hazard_status', 'rejected', '验收未通过', 'rejected'),
    ('hazard_status', 'closed', '已销号', 'closed'),
    ('hazard_status', 'dismissed', '已驳回', 'dismissed'),
    ('hazard_found_how', 'spot_check', '在线抽查', 'online spot check'),
    ('hazard_found_how', 'inspection', '现场检查', 'inspection'),
    ('hazard_found_how', 'warning', '预警核查', 'from a warning'),
    ('hazard_found_how', 'self_check', '企业自查', 'self-check'),
    ('hazard_found_how', 'derived', '档案推导', 'derived from the archive'),
    ('major_hazard_item', '1', '粉尘爆炸危险场所设在非框架结构多层建筑内，或场所内设有人员聚集场所', 'hazardous area in a non-frame multi-storey building, or people-gathering rooms inside it'),
    ('major_hazard_item', '2', '不同类别可燃性粉尘或与可燃气体共用除尘系统，或不同建筑、防火分区共用、互联互通', 'shared or interconnected dust-removal systems'),
    ('major_hazard_item', '3', '干式除尘系统未采取泄爆、惰化、抑爆等任一种爆炸防控措施', 'dry dust collection without venting, inerting or suppression'),
    ('major_hazard_item', '4', '铝镁等金属粉尘正压除尘，或其他可燃性粉尘正压吹送时未采取火花探测消除等措施', 'positive-pressure collection or blowing without spark detection'),
    ('major_hazard_item', '5', '采用重力沉降室除尘，或干式巷道式构筑物作为除尘风道', 'settling chamber or dry tunnel duct'),
    ('major_hazard_item', '6', '铝镁等金属粉尘、木质粉尘的干式除尘系统未设置锁气卸灰装置', 'no airlock discharge on a dry Al/Mg or wood dust system'),
    ('major_hazard_item', '7', '20区电气设备不符合防爆要求', 'zone 20 electrical equipment not explosion-proof'),
    ('major_hazard_item', '8', '粉碎、研磨、造粒等设备前未设杂物去除装置，或砂光机风管未设火花探测消除装置', 'no tramp-metal removal before mills, or no spark detection on sander ducts'),
    ('major_hazard_item', '9', '遇湿自燃金属粉尘场所未防氢气积聚，或干式收集场所未防水防潮', 'no hydrogen ventilation or damp protection for water-reactive metal dust'),
    ('major_hazard_item', '10', '未落实粉尘清理制度，作业现场积尘严重', 'cleaning regime not implemented, heavy dust accumulation')
ON CONFLICT (domain, code) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en;
