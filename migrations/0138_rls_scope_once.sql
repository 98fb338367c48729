-- 0138: the policies read dw.scope once per query, not once per row.
--
-- 0013 moved the parsing of dw.scope into init plans, but every policy kept its
-- first arm, current_setting('dw.scope', true) = 'system', as a plain expression:
-- PostgreSQL calls current_setting (a look-up of the setting by name) for every
-- row a policy filters.  The statistics read the now figures of all 40,000
-- points of a city (points joined to point_latest) in 11.6 ms as a city account
-- against 5.1 ms with the policies bypassed; with that arm and the city arm
-- answered once, in front of the per-row comparisons, 7.3 ms
-- (tests/bench/stats_bench.sh fixture, psql, 3 runs).  Every scan of a tenant
-- table by a city or system caller pays the same per-row toll, writes too
-- (WITH CHECK on every inserted reading).
--
-- The rule is unchanged: each arm still says the same thing; only when it is
-- evaluated changes.  Policies of the 0013 shape (the tenant tables) are
-- rewritten in full, the city arm moved ahead of the focus arm; every other
-- policy that tests for the system scope gets that test as a sub-select.

DO $$
DECLARE
    r record;
    tenant text := '(SELECT current_setting(''dw.scope'', true) = ''system'' OR dw_scope_is_city()) '
                   'OR enterprise_id = (SELECT dw_focus_enterprise()) '
                   'OR enterprise_id IN (SELECT e.id FROM enterprises e)';
    per_row text := '(current_setting(''dw.scope''::text, true) = ''system''::text)';
    once text := '(SELECT (current_setting(''dw.scope''::text, true) = ''system''::text))';
    qual text;
    chk text;
BEGIN
    FOR r IN SELECT c.relname, p.polname, p.polqual, p.polwithcheck, p.polrelid
             FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public'
    LOOP
        qual := pg_get_expr(r.polqual, r.polrelid);
        chk := pg_get_expr(r.polwithcheck, r.polrelid);
        IF r.polname = 'scope'
           AND qual LIKE '((current_setting(''dw.scope''::text, true) = ''system''::text) OR (enterprise_id = ( SELECT dw_focus_enterprise() AS dw_focus_enterprise)) OR ( SELECT dw_scope_is_city() AS dw_scope_is_city) OR (enterprise_id IN ( SELECT e.id%FROM enterprises e)))'
           AND chk IS NOT DISTINCT FROM qual THEN
            EXECUTE format('ALTER POLICY scope ON %I USING (%s) WITH CHECK (%s)', r.relname, tenant, tenant);
        ELSIF strpos(coalesce(qual, ''), per_row) > 0 OR strpos(coalesce(chk, ''), per_row) > 0 THEN
            IF qual IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %I ON %I USING (%s)', r.polname, r.relname, replace(qual, per_row, once));
            END IF;
            IF chk IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %I ON %I WITH CHECK (%s)', r.polname, r.relname, replace(chk, per_row, once));
            END IF;
        END IF;
    END LOOP;
END
$$;
