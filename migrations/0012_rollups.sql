-- 0012: minute and hourly rollups of readings, so a long series (a year of one
-- point) is answered from a few thousand pre-aggregated rows instead of every
-- reading.
--
-- Invariant: rollup_minute and rollup_hour hold exactly the aggregates of the
-- readings with collected_at < rollup_state.rolled_to, except for the
-- (point, hour) pairs listed in rollup_dirty, whose rollups may be stale.  The
-- series API relies on it: rollup rows for time before rolled_to and outside
-- dirty hours, raw readings for everything else, so its answer always equals
-- aggregating the raw readings.
--
-- Who maintains what:
--   readings trigger (ingest path, once per INSERT statement, not per row):
--       a reading older than rollup_state.marked_to is late: its (point, hour)
--       goes into rollup_dirty
--   worker (job_rollup.c), every tick:
--       dw_rollup_mark()   moves marked_to forward (own short transaction)
--       dw_rollup_fill()   rolls [rolled_to, marked_to) up from raw, recomputes
--                          dirty hours from raw, moves rolled_to
--       retention          drops whole months of rollups (dw_drop_rollup_partitions_before)
--
-- Why a watermark and not a per-row trigger: ingest is PostgreSQL-CPU bound
-- (tests/bench/ingest_bench.sh); an upsert into two rollup tables per reading
-- would roughly triple the write work.  The statement trigger only scans the
-- statement's new rows for late ones (normally none).
--
-- Bucket boundaries: minutes and hours in UTC (the same instants in
-- Beijing time, UTC+8).

CREATE TABLE rollup_minute (
    point_id       bigint NOT NULL,
    bucket         timestamptz NOT NULL,
    enterprise_id  bigint NOT NULL,
    n              integer NOT NULL CHECK (n > 0),
    vmin           double precision NOT NULL,
    vmax           double precision NOT NULL,
    vsum           double precision NOT NULL,
    CHECK (vmin <= vmax),
    -- covering: a series reads the index alone (no heap visit per row)
    PRIMARY KEY (point_id, bucket) INCLUDE (enterprise_id, n, vmin, vmax, vsum)
) PARTITION BY RANGE (bucket);
COMMENT ON TABLE rollup_minute IS 'readings aggregated per point and UTC minute; one partition per UTC month; complete before rollup_state.rolled_to except rollup_dirty hours';
COMMENT ON COLUMN rollup_minute.bucket IS 'start of the minute (UTC)';
COMMENT ON COLUMN rollup_minute.enterprise_id IS 'copied from the readings so row-level security needs no join';
COMMENT ON COLUMN rollup_minute.n IS 'number of readings in the minute';
COMMENT ON COLUMN rollup_minute.vmin IS 'smallest value';
COMMENT ON COLUMN rollup_minute.vmax IS 'largest value';
COMMENT ON COLUMN rollup_minute.vsum IS 'sum of the values (avg = vsum / n; a sum, not an avg, so buckets combine exactly)';

CREATE TABLE rollup_hour (
    point_id       bigint NOT NULL,
    bucket         timestamptz NOT NULL,
    enterprise_id  bigint NOT NULL,
    n              integer NOT NULL CHECK (n > 0),
    vmin           double precision NOT NULL,
    vmax           double precision NOT NULL,
    vsum           double precision NOT NULL,
    CHECK (vmin <= vmax),
    PRIMARY KEY (point_id, bucket) INCLUDE (enterprise_id, n, vmin, vmax, vsum)
) PARTITION BY RANGE (bucket);
COMMENT ON TABLE rollup_hour IS 'readings aggregated per point and UTC hour; one partition per UTC month; kept longer than minutes and raw readings';
COMMENT ON COLUMN rollup_hour.bucket IS 'start of the hour (UTC); the row of the hour containing rolled_to is partial';
COMMENT ON COLUMN rollup_hour.enterprise_id IS 'copied from the readings so row-level security needs no join';
COMMENT ON COLUMN rollup_hour.n IS 'number of readings in the hour';
COMMENT ON COLUMN rollup_hour.vmin IS 'smallest value';
COMMENT ON COLUMN rollup_hour.vmax IS 'largest value';
COMMENT ON COLUMN rollup_hour.vsum IS 'sum of the values (avg = vsum / n)';

CREATE TABLE rollup_state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    marked_to  timestamptz NOT NULL,
    rolled_to  timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (rolled_to <= marked_to),
    CHECK (date_bin('1 minute', rolled_to, timestamptz '2000-01-01 00:00:00+00') = rolled_to),
    CHECK (date_bin('1 minute', marked_to, timestamptz '2000-01-01 00:00:00+00') = marked_to)
);
COMMENT ON TABLE rollup_state IS 'the rollup watermarks (one row)';
COMMENT ON COLUMN rollup_state.marked_to IS 'readings older than this that arrive now are late: the ingest trigger queues their hour in rollup_dirty';
COMMENT ON COLUMN rollup_state.rolled_to IS 'rollups cover every reading before this (minute aligned), except rollup_dirty hours';
-- an existing installation starts at its oldest reading and the worker
-- catches up chunk by chunk; a fresh one starts now.  The owner is subject to
-- row-level security too (FORCE), so look as the system.
SELECT set_config('dw.scope', 'system', true);
INSERT INTO rollup_state (marked_to, rolled_to)
    SELECT t, t FROM (SELECT date_bin('1 hour', coalesce((SELECT min(collected_at) FROM readings), now()),
                                      timestamptz '2000-01-01 00:00:00+00') AS t) s;

CREATE TABLE rollup_dirty (
    point_id   bigint NOT NULL,
    hour       timestamptz NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (point_id, hour),
    CHECK (date_bin('1 hour', hour, timestamptz '2000-01-01 00:00:00+00') = hour)
);
COMMENT ON TABLE rollup_dirty IS 'point-hours whose rollups miss late (back-filled) readings; the worker recomputes them from raw, the series API reads raw for them meanwhile. Holds ids and times only, no tenant values, hence no row-level security';
COMMENT ON COLUMN rollup_dirty.hour IS 'start of the UTC hour that received a late reading';
COMMENT ON COLUMN rollup_dirty.queued_at IS 'when the first late reading of this hour arrived (for monitoring the backlog)';

-- The worker fills by time over all points: without an index on the time
-- alone that would scan the whole day partition every tick.  BRIN: readings
-- arrive in time order, so it stays a few pages and costs ingest next to
-- nothing.
CREATE INDEX readings_collected_brin ON readings USING brin (collected_at) WITH (pages_per_range = 32, autosummarize = on);

ALTER TABLE rollup_minute ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollup_minute FORCE ROW LEVEL SECURITY;
ALTER TABLE rollup_hour ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollup_hour FORCE ROW LEVEL SECURITY;
-- the same shape as every tenant table since 0010
CREATE POLICY scope ON rollup_minute USING (
    current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e));
CREATE POLICY scope ON rollup_hour USING (
    current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id IN (SELECT e.id FROM enterprises e));

-- Monthly partitions: months, not days, because a year of one point should
-- touch about 13 partitions of rollup_hour, not 365.
CREATE FUNCTION dw_ensure_rollup_partition(tier text, month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    m date := date_trunc('month', month)::date;
    part text := 'rollup_' || tier || '_' || to_char(m, 'YYYYMM');
BEGIN
    IF tier NOT IN ('minute', 'hour') THEN
        RAISE EXCEPTION 'no rollup tier %', tier USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext(part));
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, 'rollup_' || tier,
                       (m::timestamp AT TIME ZONE 'UTC'), ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        RETURN false;
    END;
    RETURN true;
END
$$;
COMMENT ON FUNCTION dw_ensure_rollup_partition(text, date) IS 'creates the monthly partition of rollup_minute or rollup_hour holding that day, if missing';

CREATE FUNCTION dw_drop_rollup_partitions_before(tier text, cutoff date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    IF tier NOT IN ('minute', 'hour') THEN
        RAISE EXCEPTION 'no rollup tier %', tier USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a month goes only once all of it is older than the cutoff
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = ('rollup_' || tier)::regclass AND c.relname ~ ('^rollup_' || tier || '_[0-9]{6}$')
               AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month')::date <= cutoff LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_drop_rollup_partitions_before(text, date) IS 'retention: drops monthly rollup partitions that end on or before cutoff';

-- Held shared by every ingest statement until its commit, exclusively by
-- dw_rollup_mark for an instant: once marked_to has moved, every transaction
-- that judged its readings against the old mark has committed, so the fill
-- that follows sees their readings.
CREATE FUNCTION dw_readings_mark_late() RETURNS trigger
LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7310312016119212);
    -- a new statement, so a new snapshot: it sees the mark as of after the lock
    INSERT INTO rollup_dirty (point_id, hour)
        SELECT DISTINCT n.point_id, date_bin('1 hour', n.collected_at, timestamptz '2000-01-01 00:00:00+00')
        FROM new_readings n, rollup_state s
        WHERE n.collected_at < s.marked_to
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION dw_readings_mark_late() IS 'statement trigger on readings: queues the (point, hour) of late readings for the rollup worker';
-- Statement level on the partitioned parent: the ingest writer inserts through
-- the parent; only rows really inserted (not ON CONFLICT duplicates) appear.
CREATE TRIGGER readings_mark_late AFTER INSERT ON readings
    REFERENCING NEW TABLE AS new_readings FOR EACH STATEMENT EXECUTE FUNCTION dw_readings_mark_late();

CREATE FUNCTION dw_rollup_mark(lag interval, max_span interval) RETURNS timestamptz
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    target timestamptz;
    m timestamptz;
BEGIN
    PERFORM pg_advisory_xact_lock(7310312016119212);
    SELECT least(s.rolled_to + max_span, date_bin('1 minute', now() - lag, timestamptz '2000-01-01 00:00:00+00'))
        INTO target FROM rollup_state s;
    UPDATE rollup_state SET marked_to = greatest(marked_to, target), updated_at = now()
        RETURNING marked_to INTO m;
    RETURN m;
END
$$;
COMMENT ON FUNCTION dw_rollup_mark(interval, interval) IS 'worker, own transaction: readings older than now() - lag (at most max_span past rolled_to) are due for rolling up; later arrivals before that are late';

-- One step of the worker: rolls [rolled_to, marked_to) up from raw, then
-- recomputes up to max_dirty dirty point-hours from raw.  Returns what it did.
CREATE FUNCTION dw_rollup_fill(max_dirty integer, OUT rolled_from timestamptz, OUT rolled_to timestamptz,
                               OUT minute_rows bigint, OUT dirty_done integer, OUT dirty_left bigint)
LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
    o constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    r0 timestamptz;
    r1 timestamptz;
    m date;
    pts bigint[];
    hrs timestamptz[];
BEGIN
    minute_rows := 0;
    dirty_done := 0;
    -- two worker nodes: the second one skips this tick
    IF NOT pg_try_advisory_xact_lock(7310312016119213) THEN
        RETURN;
    END IF;
    SELECT s.rolled_to, s.marked_to INTO r0, r1 FROM rollup_state s FOR UPDATE;
    rolled_from := r0;
    rolled_to := r0;
    IF r1 > r0 THEN
        m := date_trunc('month', r0 AT TIME ZONE 'UTC')::date;
        WHILE (m::timestamp AT TIME ZONE 'UTC') < r1 LOOP
            PERFORM dw_ensure_rollup_partition('minute', m);
            PERFORM dw_ensure_rollup_partition('hour', m);
            m := (m + interval '1 month')::date;
        END LOOP;
        -- nothing before r0 is in the minute table for these minutes (the
        -- invariant), so a plain insert; hours add the new minutes to what
        -- they already hold
        WITH mins AS (
            INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
            SELECT r.point_id, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
                   min(r.value), max(r.value), sum(r.value)
            FROM readings r WHERE r.collected_at >= r0 AND r.collected_at < r1
            GROUP BY 1, 2
            RETURNING point_id, bucket, enterprise_id, n, vmin, vmax, vsum),
        hours AS (
            INSERT INTO rollup_hour AS h (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
            SELECT point_id, date_bin('1 hour', bucket, o), min(enterprise_id), sum(n), min(vmin), max(vmax),
                   sum(vsum)
            FROM mins GROUP BY 1, 2
            ON CONFLICT (point_id, bucket) DO UPDATE SET n = h.n + EXCLUDED.n, vmin = least(h.vmin, EXCLUDED.vmin),
                vmax = greatest(h.vmax, EXCLUDED.vmax), vsum = h.vsum + EXCLUDED.vsum)
        SELECT count(*) INTO minute_rows FROM mins;
        UPDATE rollup_state SET rolled_to = r1, updated_at = now();
        rolled_to := r1;
    END IF;

    -- late readings: recompute their whole point-hours from raw, counting only
    -- readings before rolled_to (the rest is the next fill's)
    WITH d AS (
        DELETE FROM rollup_dirty WHERE ctid = ANY (ARRAY(SELECT ctid FROM rollup_dirty ORDER BY hour LIMIT max_dirty))
        RETURNING point_id, hour)
    SELECT array_agg(point_id), array_agg(hour) INTO pts, hrs FROM d;
    IF pts IS NOT NULL THEN
        dirty_done := cardinality(pts);
        FOR m IN SELECT DISTINCT date_trunc('month', h AT TIME ZONE 'UTC')::date FROM unnest(hrs) h LOOP
            PERFORM dw_ensure_rollup_partition('minute', m);
            PERFORM dw_ensure_rollup_partition('hour', m);
        END LOOP;
        DELETE FROM rollup_minute t USING unnest(pts, hrs) d(p, h)
            WHERE t.point_id = d.p AND t.bucket >= d.h AND t.bucket < d.h + interval '1 hour';
        DELETE FROM rollup_hour t USING unnest(pts, hrs) d(p, h) WHERE t.point_id = d.p AND t.bucket = d.h;
        WITH mins AS (
            INSERT INTO rollup_minute (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
            SELECT r.point_id, date_bin('1 minute', r.collected_at, o), min(r.enterprise_id), count(*),
                   min(r.value), max(r.value), sum(r.value)
            FROM unnest(pts, hrs) d(p, h)
            JOIN readings r ON r.point_id = d.p AND r.collected_at >= d.h
                           AND r.collected_at < least(d.h + interval '1 hour', rolled_to)
            GROUP BY 1, 2
            RETURNING point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        INSERT INTO rollup_hour (point_id, bucket, enterprise_id, n, vmin, vmax, vsum)
        SELECT point_id, date_bin('1 hour', bucket, o), min(enterprise_id), sum(n), min(vmin), max(vmax), sum(vsum)
        FROM mins GROUP BY 1, 2;
    END IF;
    SELECT count(*) INTO dirty_left FROM rollup_dirty;
END
$$;
COMMENT ON FUNCTION dw_rollup_fill(integer) IS 'worker: rolls readings up to marked_to and recomputes up to max_dirty late point-hours; skips when another node holds the rollup lock';

REVOKE ALL ON FUNCTION dw_ensure_rollup_partition(text, date), dw_drop_rollup_partitions_before(text, date),
    dw_rollup_mark(interval, interval), dw_rollup_fill(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_ensure_rollup_partition(text, date), dw_drop_rollup_partitions_before(text, date),
    dw_rollup_mark(interval, interval), dw_rollup_fill(integer) TO dustwatch_app;
GRANT SELECT, INSERT, DELETE ON rollup_minute, rollup_hour TO dustwatch_app;
GRANT UPDATE ON rollup_hour TO dustwatch_app;
GRANT SELECT, INSERT, DELETE ON rollup_dirty TO dustwatch_app;
GRANT SELECT, UPDATE ON rollup_state TO dustwatch_app;
