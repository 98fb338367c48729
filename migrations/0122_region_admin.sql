-- 0122: region administration (issue 17 item 8): city and district administrators create,
-- rename, re-kind, move and disable streets, towns and parks (level 'street').
-- A disabled region keeps its enterprises and accounts but takes no new enterprise; it can
-- be deleted only when nothing refers to it (enterprises, accounts, reports ...: the foreign
-- keys refuse, the API answers 409 in_use).

ALTER TABLE regions ADD COLUMN disabled_at timestamptz;
COMMENT ON COLUMN regions.disabled_at IS 'set when an administrator disabled the region: no new enterprise may be placed in it; NULL: in use';

GRANT INSERT, DELETE ON regions TO dustwatch_app;
GRANT UPDATE (name, kind, parent_id, disabled_at) ON regions TO dustwatch_app;

CREATE FUNCTION enterprises_check_region_enabled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.street_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.street_id IS DISTINCT FROM NEW.street_id)
       AND EXISTS (SELECT FROM regions WHERE id = NEW.street_id AND disabled_at IS NOT NULL) THEN
        RAISE EXCEPTION 'region % is disabled: no new enterprise may be placed in it', NEW.street_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'regions_disabled';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION enterprises_check_region_enabled() IS 'refuses placing an enterprise in a disabled street/town/park (moving its street elsewhere is allowed)';

CREATE TRIGGER enterprises_check_region_enabled BEFORE INSERT OR UPDATE OF street_id ON enterprises
    FOR EACH ROW EXECUTE FUNCTION enterprises_check_region_enabled();
