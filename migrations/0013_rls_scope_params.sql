-- 0013: row-level security whose per-row work is a comparison with values
-- computed once per query.
--
-- The API benchmark's plans (tests/bench/api_bench.sh, auto_explain) showed
-- two costs left after 0010:
--  * the enterprises policy called dw_scope_allows() for every row, which
--    re-parsed dw.scope (split_part, a regular expression, a cast) each time:
--    ~0.9 us a row, 1.7 ms for each scan of 2,000 enterprises;
--  * every tenant table referenced in a query built its own hashed sub-plan
--    from such a scan, so an enterprise archive (five table references) paid
--    ~9 ms before reading a single row of its own.
-- Now the scope is parsed by uncorrelated sub-selects, which PostgreSQL runs
-- once per query (init plans), and rows compare against their results.
-- Tenant tables get two arms in front of the hashed sub-plan, both answered
-- without scanning enterprises:
--  * the whole city (city accounts);
--  * the "focus" enterprise: an enterprise account's own enterprise, or the
--    enterprise a request is about (dw.enterprise, set by the API for routes
--    under /enterprises/{id}) -- but only after looking that enterprise up
--    under the enterprises policy, so a wrong dw.enterprise grants nothing.
-- The rule is unchanged: districts and streets see exactly the enterprises the
-- enterprises policy lets them see.

CREATE FUNCTION dw_scope_is_city() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT dw_scope_kind() = 'city' AND dw_scope_id() IS NOT NULL
$$;
COMMENT ON FUNCTION dw_scope_is_city() IS 'whether the caller sees the whole city';

DROP POLICY scope ON enterprises;
CREATE POLICY scope ON enterprises
    USING ((SELECT dw_scope_kind()) = 'system'
           OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND district_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'enterprise' AND id = (SELECT dw_scope_id())))
    WITH CHECK ((SELECT dw_scope_kind()) = 'system'
           OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND district_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'street' AND street_id = (SELECT dw_scope_id()))
           OR ((SELECT dw_scope_kind()) = 'enterprise' AND id = (SELECT dw_scope_id())));

-- Defined after the enterprises policy it relies on: the look-up below runs
-- under that policy (this function is not SECURITY DEFINER).
-- plpgsql, not sql: a SQL function that reads a table is not inlined and is
-- planned again at every call (~1 ms); plpgsql keeps its plan per session.
CREATE FUNCTION dw_focus_enterprise() RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    pinned text := current_setting('dw.enterprise', true);
BEGIN
    IF dw_scope_kind() = 'enterprise' THEN
        RETURN dw_scope_id();
    END IF;
    IF pinned IS NULL OR pinned !~ '^[0-9]{1,18}$' THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT e.id FROM enterprises e WHERE e.id = pinned::bigint);
END
$$;
COMMENT ON FUNCTION dw_focus_enterprise() IS
    'the enterprise a request is about, if the caller may see it: its own for enterprise accounts, '
    'else dw.enterprise when visible; NULL otherwise';

-- Every policy of the 0010 shape, including tables added since, gets the new
-- arms; the hashed sub-plan stays as the last resort for districts and streets.
DO $$
DECLARE
    r record;
    rule text := 'current_setting(''dw.scope'', true) = ''system'' '
                 'OR enterprise_id = (SELECT dw_focus_enterprise()) '
                 'OR (SELECT dw_scope_is_city()) '
                 'OR enterprise_id IN (SELECT e.id FROM enterprises e)';
BEGIN
    FOR r IN SELECT c.relname
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
             WHERE p.polname = 'scope'
               AND pg_get_expr(p.polqual, p.polrelid) LIKE '%enterprise_id IN ( SELECT e.id%FROM enterprises e)))'
    LOOP
        EXECUTE format('DROP POLICY scope ON %I', r.relname);
        EXECUTE format('CREATE POLICY scope ON %I USING (%s) WITH CHECK (%s)', r.relname, rule, rule);
    END LOOP;
END
$$;
