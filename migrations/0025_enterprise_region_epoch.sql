-- 0025: enterprise moves become visible to the live-event hubs (issue 12 item 4).
-- Every API process caches enterprise -> (district, street) to filter live events by
-- scope.  A server that moves an enterprise broadcasts the move on dw:events; this
-- counter is the net under it: bumped by every change of an enterprise's district or
-- street, whoever makes it (another node with Redis down, psql), in the moving
-- transaction, so it becomes visible exactly with the move.  Each hub reads it every
-- event_stream_check_s and drops its cache when it changed.

CREATE TABLE enterprise_region_epoch (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE enterprise_region_epoch IS 'one row: counts changes of enterprises.district_id/street_id (live-event hubs drop their region cache when it moves)';
COMMENT ON COLUMN enterprise_region_epoch.epoch IS 'bumped by the trigger enterprises_region_moved, in the moving transaction';
INSERT INTO enterprise_region_epoch (one, epoch) VALUES (true, 0);

CREATE FUNCTION dw_enterprise_region_moved() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    UPDATE enterprise_region_epoch SET epoch = epoch + 1;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_enterprise_region_moved() IS 'row trigger: one bump per moved enterprise';

-- only real moves: an UPDATE that names the columns without changing them takes no lock here
CREATE TRIGGER enterprises_region_moved AFTER UPDATE OF district_id, street_id ON enterprises FOR EACH ROW
    WHEN (OLD.district_id IS DISTINCT FROM NEW.district_id OR OLD.street_id IS DISTINCT FROM NEW.street_id)
    EXECUTE FUNCTION dw_enterprise_region_moved();

GRANT SELECT ON enterprise_region_epoch TO dustwatch_app;
