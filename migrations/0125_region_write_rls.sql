-- 0125: row-level security on the writes of regions (issue 17 item 8), the wall under the API's own
-- scope filter since 0122 let the server's role write regions.  Everyone still reads every region
-- (scope functions, triggers and pickers need the tree); a write must be the system's, the city's,
-- or a district's on its own streets/towns/parks (and on its own row: the filing approval level,
-- 0060).  The owner (migrations, the demo seed) is not subject to it (no FORCE).

ALTER TABLE regions ENABLE ROW LEVEL SECURITY;
CREATE POLICY read ON regions FOR SELECT USING (true);
CREATE POLICY add ON regions FOR INSERT
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
                OR ((SELECT dw_scope_kind()) = 'district' AND parent_id = (SELECT dw_scope_id())));
CREATE POLICY change ON regions FOR UPDATE
    USING (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district'
               AND (parent_id = (SELECT dw_scope_id()) OR id = (SELECT dw_scope_id()))))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
                OR ((SELECT dw_scope_kind()) = 'district'
                    AND (parent_id = (SELECT dw_scope_id()) OR id = (SELECT dw_scope_id()))));
CREATE POLICY remove ON regions FOR DELETE
    USING (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city())
           OR ((SELECT dw_scope_kind()) = 'district' AND parent_id = (SELECT dw_scope_id())));
