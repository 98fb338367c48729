-- 0085: notices to the district about an enterprise changing its own
-- monitoring (issue 17 item 10).  An enterprise account deleting one of its
-- gateways or revoking one of its ingest credentials silences data the
-- district relies on; the API writes one row here in the same transaction
-- (beside the audit record) and publishes a live event, and the district's
-- accounts list the notices and mark them seen.

CREATE TABLE supervision_notices (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id    bigint NOT NULL REFERENCES enterprises (id),
    kind             text NOT NULL CHECK (kind IN ('gateway_deleted', 'credential_revoked')),
    object           text NOT NULL DEFAULT '' CHECK (length(object) <= 200),
    detail           text NOT NULL DEFAULT '' CHECK (length(detail) <= 1000),
    actor_account_id bigint REFERENCES accounts (id),
    actor            text NOT NULL DEFAULT '' CHECK (length(actor) <= 100),
    created_at       timestamptz NOT NULL DEFAULT now(),
    seen_at          timestamptz,
    seen_by          text CHECK (seen_by IS NULL OR length(seen_by) <= 100)
);
COMMENT ON TABLE supervision_notices IS 'what an enterprise did to its own monitoring (gateway deleted, ingest credential revoked), for its district to see';
CREATE INDEX supervision_notices_enterprise_idx ON supervision_notices (enterprise_id, created_at DESC);
CREATE INDEX supervision_notices_open_idx ON supervision_notices (created_at DESC) WHERE seen_at IS NULL;

ALTER TABLE supervision_notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE supervision_notices FORCE ROW LEVEL SECURITY;
-- the policy shape of 0013 (system, focus enterprise, city, then the visible enterprises)
CREATE POLICY scope ON supervision_notices
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e));
GRANT SELECT, INSERT, UPDATE ON supervision_notices TO dustwatch_app;
