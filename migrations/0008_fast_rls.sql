-- 0008: cheaper row-level security.  The policies of 0003/0004 call
-- dw_visible_enterprise() for every row; as a LANGUAGE sql function with an
-- EXISTS sub-select it cannot be inlined, so each row paid a full SQL
-- function start (the ingest benchmark measured 33 us of PostgreSQL CPU per
-- reading, half of it here).  Now: internal jobs ('system' scope) pass on a
-- plain comparison that PostgreSQL evaluates first, and everyone else goes
-- through a plpgsql function whose query plan is cached.

CREATE OR REPLACE FUNCTION dw_visible_enterprise(eid bigint) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    kind text := dw_scope_kind();
BEGIN
    IF kind = 'system' OR (kind = 'city' AND dw_scope_id() IS NOT NULL) THEN
        RETURN true;
    END IF;
    IF kind NOT IN ('district', 'street', 'enterprise') THEN
        RETURN false;
    END IF;
    -- the enterprises policy decides; this sees only visible enterprises
    RETURN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = eid);
END
$$;

-- Every "scope" policy written as dw_visible_enterprise(enterprise_id) gets
-- the system fast path in front of it.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
             WHERE p.polname = 'scope'
               AND pg_get_expr(p.polqual, p.polrelid) = 'dw_visible_enterprise(enterprise_id)'
    LOOP
        EXECUTE format('DROP POLICY scope ON %I', r.relname);
        EXECUTE format('CREATE POLICY scope ON %I USING ('
                       'current_setting(''dw.scope'', true) = ''system'' OR dw_visible_enterprise(enterprise_id)) '
                       'WITH CHECK (current_setting(''dw.scope'', true) = ''system'' OR dw_visible_enterprise(enterprise_id))',
                       r.relname);
    END LOOP;
END
$$;
