-- 0140: the hazard inputs of the risk engine stay equal to the open hazards when two hazards of
-- one enterprise change at once.
--
-- dw_hazards_sync (0061) writes enterprise_profiles.major_hazard_items and open_hazards from
-- the enterprise's open hazards as its statement's snapshot has them.  Two people closing two
-- hazards of one enterprise at once (each holding only its own hazard row): each trigger saw
-- the other hazard still open, and the one that waited for the profile row wrote its stale
-- list over the other's, since ON CONFLICT ... DO UPDATE rechecks only its WHERE (the row
-- against EXCLUDED) on the row's latest version, not the aggregate.  A closed major hazard
-- stayed in major_hazard_items and kept the red override until the enterprise's next hazard
-- change (int-hazards test_two_hazards_closed_at_once_leave_none_open).
--
-- Now the trigger first takes a transaction-level advisory lock per enterprise (class 731061,
-- the id's low 31 bits as the risk worker's 731031 lock does: a collision only serialises)
-- and then reads the open hazards in its next statement, which in READ COMMITTED takes a new
-- snapshot: the later of two concurrent changes waits for the earlier to commit and counts it.
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
        INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES (NEW.enterprise_id, 'hazards')
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_hazards_sync() IS
    'keeps enterprise_profiles.major_hazard_items and open_hazards equal to the open hazards (one enterprise''s changes one at a time: advisory lock 731061); queues a recompute';
