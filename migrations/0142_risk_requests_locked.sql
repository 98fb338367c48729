-- 0142: a change that queues its risk recompute while a request for the enterprise is already
-- queued keeps that request from being taken until the change commits.
--
-- A request is one row per enterprise (risk_recompute_requests), queued with
-- INSERT ... ON CONFLICT DO NOTHING, and the risk worker takes the rows that are not locked
-- (FOR UPDATE SKIP LOCKED), deletes them, commits, then reads the enterprises' inputs.  When
-- a row was already queued, a change's DO NOTHING neither added nor locked anything: if the
-- worker took that row and read the inputs before the change committed, the change was never
-- scored (until the periodic pass: minutes).  ON CONFLICT ... DO UPDATE locks the row it
-- conflicts with even when its WHERE is false (and writes nothing), so the worker skips the
-- row until the change commits, and takes it at the next wake-up (the statement trigger's
-- NOTIFY fires at that commit too).  The server's own statements queue requests the same way
-- (db_recompute_request and the alarm, filing and video-offline statements); these are the
-- two trigger functions that queue them.
CREATE OR REPLACE FUNCTION enterprises_sync_profile() RETURNS trigger LANGUAGE plpgsql AS $$
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
    INSERT INTO risk_recompute_requests AS q (enterprise_id, reason) VALUES (NEW.id, 'archive changed')
    ON CONFLICT (enterprise_id) DO UPDATE SET reason = q.reason WHERE false;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION dw_hazards_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(731061, (NEW.enterprise_id & 2147483647)::int);
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
        INSERT INTO risk_recompute_requests AS q (enterprise_id, reason) VALUES (NEW.enterprise_id, 'hazards')
        ON CONFLICT (enterprise_id) DO UPDATE SET reason = q.reason WHERE false;
    END IF;
    RETURN NULL;
END
$$;
