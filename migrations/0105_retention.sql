-- 0105: retention of binary objects and of the risk history (issue 19; the worker's
-- job_retention.c calls these hourly with the configured ages).
--
-- The server's role may only SELECT and INSERT these tables (an acknowledged fact is never
-- rewritten by the application); pruning goes through these SECURITY DEFINER functions,
-- which can do exactly one thing each.  Ages are measured by the server's clock at
-- storage (received_at, created_at, computed_at), never by a time a gateway sent.

CREATE FUNCTION dw_prune_media(video_before timestamptz, photo_before timestamptz, max_rows integer,
                               OUT videos bigint, OUT photos bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    WITH v AS (
        UPDATE video_alarms SET image = NULL
        WHERE id IN (SELECT id FROM video_alarms WHERE image IS NOT NULL AND received_at < video_before
                     ORDER BY id LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) INTO videos FROM v;
    WITH p AS (
        UPDATE cleaning_checkins SET photo = NULL, photo_type = NULL
        WHERE id IN (SELECT id FROM cleaning_checkins WHERE photo IS NOT NULL AND created_at < photo_before
                     ORDER BY id LIMIT max_rows)
        RETURNING 1)
    SELECT count(*) INTO photos FROM p;
END
$$;
COMMENT ON FUNCTION dw_prune_media(timestamptz, timestamptz, integer) IS 'retention: drops the image of video alarms stored before video_before and the photo of check-ins stored before photo_before (NULL: none; at most max_rows of each per call); the alarm and the check-in stay';

-- A score row older than `before` is kept when it is the first of its enterprise's UTC day
-- (the daily point), when its grade or override differs from the enterprise's previous row
-- (a change), or when a warning or enterprise_risk refers to it; the rows between are
-- deleted.  Stable: a row kept as a change stays one, because only rows equal to their
-- predecessor go.
CREATE FUNCTION dw_thin_risk_scores(before timestamptz, max_rows integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    n bigint;
BEGIN
    WITH s AS (
        SELECT id, grade, override_reason,
               lag(grade) OVER w AS prev_grade,
               lag(id) OVER w AS prev_id,
               lag(override_reason) OVER w AS prev_override,
               row_number() OVER (PARTITION BY enterprise_id, (computed_at AT TIME ZONE 'UTC')::date
                                  ORDER BY computed_at, id) AS nth_of_day
        FROM risk_scores WHERE computed_at < before
        WINDOW w AS (PARTITION BY enterprise_id ORDER BY computed_at, id)),
    doomed AS (
        SELECT s.id FROM s
        WHERE s.nth_of_day > 1 AND s.prev_id IS NOT NULL AND s.grade = s.prev_grade
          AND s.override_reason IS NOT DISTINCT FROM s.prev_override
          AND NOT EXISTS (SELECT 1 FROM warnings w WHERE w.score_id = s.id)
          AND NOT EXISTS (SELECT 1 FROM enterprise_risk e WHERE e.score_id = s.id)
        ORDER BY s.id LIMIT max_rows),
    d AS (DELETE FROM risk_scores r USING doomed WHERE r.id = doomed.id RETURNING 1)
    SELECT count(*) INTO n FROM d;
    RETURN n;
END
$$;
COMMENT ON FUNCTION dw_thin_risk_scores(timestamptz, integer) IS 'retention: deletes risk_scores rows computed before `before` that are neither the first of their UTC day, nor a grade/override change, nor referenced (at most max_rows per call)';

REVOKE ALL ON FUNCTION dw_prune_media(timestamptz, timestamptz, integer), dw_thin_risk_scores(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dw_prune_media(timestamptz, timestamptz, integer), dw_thin_risk_scores(timestamptz, integer) TO dustwatch_app;
