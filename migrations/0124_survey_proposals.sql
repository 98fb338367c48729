-- 0124: 摸排 entry by street accounts (issue 17 item 8).  A street proposes a new enterprise of its
-- own street, or a change to one, as a pending record; its district (or the city) confirms it —
-- the API then writes the enterprise through the ordinary archive checks, in the same
-- transaction — or returns it with a reason, and the street may edit and resubmit.
--
-- A pending enterprise is not an enterprises row until it is confirmed, so statistics, onboarding,
-- the overview, risk scoring and ingest (which all read enterprises) never count it, with no change
-- to their queries; a pending change alters nothing until it is confirmed.  The street and its
-- district see the proposals (row-level security below, and the API's own filter).

CREATE TABLE enterprise_proposals (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('create', 'update')),
    enterprise_id bigint REFERENCES enterprises (id),
    street_id     bigint NOT NULL REFERENCES regions (id),
    record        jsonb NOT NULL CHECK (jsonb_typeof(record) = 'object'),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'returned', 'withdrawn')),
    reason        text CHECK (reason IS NULL OR length(reason) <= 500),
    proposed_by   text NOT NULL DEFAULT '' CHECK (length(proposed_by) <= 100),
    proposed_at   timestamptz NOT NULL DEFAULT now(),
    decided_by    text CHECK (decided_by IS NULL OR length(decided_by) <= 100),
    decided_at    timestamptz,
    CHECK (kind = 'create' OR enterprise_id IS NOT NULL),
    CHECK (status <> 'confirmed' OR enterprise_id IS NOT NULL),
    CHECK (status <> 'returned' OR reason IS NOT NULL)
);
COMMENT ON TABLE enterprise_proposals IS '摸排: enterprises (create) and archive changes (update) proposed by a street account, pending until its district confirms or returns them';
COMMENT ON COLUMN enterprise_proposals.record IS 'create: the proposed archive record; update: only the changed fields (the API shows them beside the current values)';
COMMENT ON COLUMN enterprise_proposals.enterprise_id IS 'update: the enterprise changed; create: the enterprise made when confirmed';
CREATE INDEX enterprise_proposals_street_idx ON enterprise_proposals (street_id, status, id DESC);
-- one open change per enterprise: a second is a conflict, the street edits the first
CREATE UNIQUE INDEX enterprise_proposals_one_pending ON enterprise_proposals (enterprise_id)
    WHERE status = 'pending' AND kind = 'update';

ALTER TABLE enterprise_proposals ENABLE ROW LEVEL SECURITY;
ALTER TABLE enterprise_proposals FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON enterprise_proposals
    USING (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'district'
               AND street_id IN (SELECT r.id FROM regions r WHERE r.parent_id = (SELECT dw_scope_id()))))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'district'
               AND street_id IN (SELECT r.id FROM regions r WHERE r.parent_id = (SELECT dw_scope_id()))));
GRANT SELECT, INSERT, UPDATE ON enterprise_proposals TO dustwatch_app;
