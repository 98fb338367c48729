-- 0003: sessions, REST API keys, login lockout, the audit trail, and
-- row-level security: the second wall behind the API's own scope checks.
--
-- Scope convention: every transaction of the application sets
--   set_config('dw.scope', '<kind>:<id>', true)
-- with kind city|district|street (a region id) or enterprise (an enterprise
-- id); internal jobs (ingest writers, the worker, login) use 'system'.  No
-- scope set means no rows: the policies fail closed.

CREATE FUNCTION dw_scope_kind() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT split_part(coalesce(current_setting('dw.scope', true), ''), ':', 1)
$$;
CREATE FUNCTION dw_scope_id() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(current_setting('dw.scope', true), '') ~ '^[a-z]+:[0-9]{1,18}$'
                THEN split_part(current_setting('dw.scope', true), ':', 2)::bigint END
$$;
COMMENT ON FUNCTION dw_scope_kind() IS 'kind of the caller''s scope for row-level security (empty: none)';
COMMENT ON FUNCTION dw_scope_id() IS 'region or enterprise id of the caller''s scope';

-- Whether an enterprise with these coordinates lies in the caller's scope.
CREATE FUNCTION dw_scope_allows(eid bigint, did bigint, sid bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE dw_scope_kind()
        WHEN 'system' THEN true
        WHEN 'city' THEN dw_scope_id() IS NOT NULL
        WHEN 'district' THEN did = dw_scope_id()
        WHEN 'street' THEN sid = dw_scope_id()
        WHEN 'enterprise' THEN eid = dw_scope_id()
        ELSE false
    END
$$;
COMMENT ON FUNCTION dw_scope_allows(bigint, bigint, bigint) IS 'row-level security core: is enterprise (id, district, street) inside dw.scope';

-- For tables that only carry enterprise_id: defer to the enterprises policy.
CREATE FUNCTION dw_visible_enterprise(eid bigint) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT dw_scope_kind() = 'system'
        OR (dw_scope_kind() = 'city' AND dw_scope_id() IS NOT NULL)
        OR EXISTS (SELECT 1 FROM enterprises e WHERE e.id = eid)
$$;
COMMENT ON FUNCTION dw_visible_enterprise(bigint) IS 'row-level security for tables keyed by enterprise_id; relies on the enterprises policy';

ALTER TABLE enterprises ENABLE ROW LEVEL SECURITY;
ALTER TABLE enterprises FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON enterprises USING (dw_scope_allows(id, district_id, street_id))
    WITH CHECK (dw_scope_allows(id, district_id, street_id));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dust_systems', 'points', 'point_latest', 'readings', 'gateway_events',
                             'video_alarms', 'ingest_batches', 'gateways', 'ingest_credentials'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (dw_visible_enterprise(enterprise_id)) '
                       'WITH CHECK (dw_visible_enterprise(enterprise_id))', t);
    END LOOP;
END
$$;

ALTER TABLE accounts
    ADD COLUMN failed_logins integer NOT NULL DEFAULT 0,
    ADD COLUMN first_failed_at timestamptz,
    ADD COLUMN locked_until timestamptz,
    ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN last_login_at timestamptz,
    ADD COLUMN created_by bigint REFERENCES accounts (id);
COMMENT ON COLUMN accounts.failed_logins IS 'failed attempts inside the current lockout window';
COMMENT ON COLUMN accounts.locked_until IS 'logins refused until then (same generic message as a wrong password)';
COMMENT ON COLUMN accounts.password_changed_at IS 'for the optional periodic-change policy (等保 level 3)';
COMMENT ON COLUMN accounts.created_by IS 'the administrator who assigned the account (账号分配)';

-- An account is visible to callers whose scope contains the account's scope.
CREATE FUNCTION dw_scope_allows_region(rid bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE dw_scope_kind()
        WHEN 'system' THEN true
        WHEN 'city' THEN dw_scope_id() IS NOT NULL
        WHEN 'district' THEN rid = dw_scope_id()
            OR EXISTS (SELECT 1 FROM regions r WHERE r.id = rid AND r.parent_id = dw_scope_id())
        WHEN 'street' THEN rid = dw_scope_id()
        ELSE false
    END
$$;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON accounts
    USING (CASE WHEN enterprise_id IS NOT NULL THEN dw_visible_enterprise(enterprise_id)
                ELSE dw_scope_allows_region(region_id) END)
    WITH CHECK (CASE WHEN enterprise_id IS NOT NULL THEN dw_visible_enterprise(enterprise_id)
                     ELSE dw_scope_allows_region(region_id) END);

CREATE TABLE sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    token_hash    bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    source_ip     text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);
COMMENT ON TABLE sessions IS 'login sessions; the token itself is never stored, only its SHA-256';
COMMENT ON COLUMN sessions.expires_at IS 'absolute expiry; idle expiry is last_seen_at + the configured idle timeout';
CREATE INDEX sessions_account_idx ON sessions (account_id);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    label         text NOT NULL DEFAULT '' CHECK (length(label) <= 100),
    key_prefix    text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_by    bigint REFERENCES accounts (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
COMMENT ON TABLE api_keys IS 'REST API keys of enterprise machine clients; only a SHA-256 of the key is kept';
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON api_keys USING (dw_visible_enterprise(enterprise_id))
    WITH CHECK (dw_visible_enterprise(enterprise_id));

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    account_id  bigint,
    username    text NOT NULL DEFAULT '',
    source_ip   text NOT NULL DEFAULT '',
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    object      text NOT NULL DEFAULT '',
    result      text NOT NULL CHECK (result IN ('ok', 'failed', 'denied', 'locked')),
    detail      text NOT NULL DEFAULT '',
    prev_hash   bytea,
    hash        bytea NOT NULL
);
COMMENT ON TABLE audit_log IS 'who did what, when, from where (等保 审计, 网络安全法 §21: kept >= 6 months); append-only for the application';
COMMENT ON COLUMN audit_log.hash IS 'SHA-256 over the previous hash and this row: a changed or deleted row breaks the chain';
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- one writer at a time keeps the chain linear
    PERFORM pg_advisory_xact_lock(7310312016119117);
    SELECT hash INTO NEW.prev_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    NEW.at := clock_timestamp();
    NEW.hash := sha256(convert_to(coalesce(encode(NEW.prev_hash, 'hex'), '') || '|' || NEW.at::text || '|' ||
                coalesce(NEW.account_id::text, '') || '|' || NEW.username || '|' || NEW.source_ip || '|' ||
                NEW.action || '|' || NEW.object || '|' || NEW.result || '|' || NEW.detail, 'UTF8'));
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();

GRANT SELECT, INSERT, UPDATE ON sessions, api_keys TO dustwatch_app;
GRANT SELECT, INSERT ON audit_log TO dustwatch_app;
GRANT INSERT, UPDATE, DELETE ON dust_systems, points, gateways, ingest_credentials TO dustwatch_app;
GRANT INSERT ON enterprises TO dustwatch_app;
