-- 0009: the risk engine reads the enterprise archive.  0004 gave the engine
-- its own side table (enterprise_profiles) before 0006 added the same facts
-- to the archive that districts edit through the API; without this, an
-- archive edit would never reach the score.  The archive now drives the
-- profile's dust class, explosion class, workers and building, and every
-- change asks the worker for a recompute.  Hazard counts and video status
-- stay in enterprise_profiles (they are not archive data).

CREATE FUNCTION dw_profile_from_archive(kinds text[], OUT dust_class text, OUT st_class text)
LANGUAGE sql STABLE AS $$
    SELECT CASE
               WHEN kinds && ARRAY['aluminium', 'magnesium', 'al_mg_alloy'] THEN 'metal_al_mg'
               WHEN bool_or(k.category = 'metal') THEN 'metal_other'
               WHEN bool_or(k.category IN ('wood', 'paper')) THEN 'wood'
               WHEN bool_or(k.category = 'grain') THEN 'grain'
               WHEN bool_or(k.category = 'plastic') THEN 'plastic'
               ELSE 'other'
           END,
           coalesce(max(k.st_class), 'unknown')
    FROM dust_kinds k WHERE k.code = ANY (kinds)
$$;
COMMENT ON FUNCTION dw_profile_from_archive(text[]) IS 'risk dust class and the highest explosion class of an enterprise''s dust kinds';

CREATE FUNCTION enterprises_sync_profile() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    IF cardinality(NEW.dust_kinds) = 0 AND NEW.dust_workers IS NULL AND NEW.building_storeys = 'single' THEN
        RETURN NEW; -- nothing known yet: keep the engine's conservative defaults
    END IF;
    SELECT * INTO p FROM dw_profile_from_archive(NEW.dust_kinds);
    INSERT INTO enterprise_profiles AS ep (enterprise_id, dust_class, st_class, dust_workers, multi_storey)
    VALUES (NEW.id,
            CASE WHEN cardinality(NEW.dust_kinds) > 0 THEN p.dust_class ELSE 'other' END,
            CASE WHEN cardinality(NEW.dust_kinds) > 0 THEN p.st_class ELSE 'unknown' END,
            coalesce(NEW.dust_workers, 0), NEW.building_storeys = 'multi')
    ON CONFLICT (enterprise_id) DO UPDATE
        SET dust_class = EXCLUDED.dust_class, st_class = EXCLUDED.st_class,
            dust_workers = EXCLUDED.dust_workers, multi_storey = EXCLUDED.multi_storey,
            updated_at = now();
    INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES (NEW.id, 'archive changed')
    ON CONFLICT (enterprise_id) DO NOTHING;
    RETURN NEW;
END
$$;
CREATE TRIGGER enterprises_sync_profile AFTER INSERT OR UPDATE OF dust_kinds, dust_workers, building_storeys
    ON enterprises FOR EACH ROW EXECUTE FUNCTION enterprises_sync_profile();

-- archives filled before this migration
UPDATE enterprises SET dust_kinds = dust_kinds
WHERE cardinality(dust_kinds) > 0 OR dust_workers IS NOT NULL OR building_storeys = 'multi';
