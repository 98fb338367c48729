-- 0016: conflicting readings are kept, not dropped.
--
-- A reading's natural key is (point, collected_at).  Before this, a second
-- reading with that key and a *different* value was answered like an
-- idempotent repeat (ON CONFLICT DO NOTHING) and vanished, although the
-- gateway had been told it was stored.  Real gateways send such pairs (a
-- timer and a manual trigger in the same second).  readings keeps the first
-- value (series, rollups and alarms stay one value per instant); every other
-- value of the instant lands here with the value it collided with and the
-- batch it came in, and is counted per point (GET /api/v1/points/{id},
-- data_quality).  A repeat with the same value and quality is still a no-op.

CREATE TABLE reading_conflicts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id        bigint NOT NULL,
    enterprise_id   bigint NOT NULL REFERENCES enterprises (id),
    collected_at    timestamptz NOT NULL,
    value           double precision NOT NULL,
    quality         smallint NOT NULL CHECK (quality BETWEEN 0 AND 2),
    stored_value    double precision NOT NULL,
    stored_quality  smallint NOT NULL CHECK (stored_quality BETWEEN 0 AND 2),
    source          text NOT NULL CHECK (source IN ('native', 'hebei', 'mem')),
    batch_sha256    bytea NOT NULL CHECK (length(batch_sha256) = 32),
    item_index      integer NOT NULL CHECK (item_index >= 0),
    request_id      bigint,
    idem_key        text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (value <> stored_value OR quality <> stored_quality)
);
COMMENT ON TABLE reading_conflicts IS 'acknowledged readings whose (point, collected_at) already held another value or quality: the first value stays in readings, each other distinct value is kept here once';
COMMENT ON COLUMN reading_conflicts.collected_at IS 'the instant both readings claim';
COMMENT ON COLUMN reading_conflicts.value IS 'the value that was not stored in readings';
COMMENT ON COLUMN reading_conflicts.quality IS 'its quality (0 good, 1 suspect, 2 bad)';
COMMENT ON COLUMN reading_conflicts.stored_value IS 'the value readings holds for the instant (first come)';
COMMENT ON COLUMN reading_conflicts.stored_quality IS 'the quality readings holds for the instant';
COMMENT ON COLUMN reading_conflicts.source IS 'the ingest dialect of the batch: native, hebei or mem';
COMMENT ON COLUMN reading_conflicts.batch_sha256 IS 'SHA-256 of the request body that carried the value (finds the batch in a gateway''s or proxy''s log)';
COMMENT ON COLUMN reading_conflicts.item_index IS 'position of the reading in that batch';
COMMENT ON COLUMN reading_conflicts.request_id IS 'the ingest listener''s request id (req= in the server log)';
COMMENT ON COLUMN reading_conflicts.idem_key IS 'the batch''s Idempotency-Key, if it had one';
COMMENT ON COLUMN reading_conflicts.received_at IS 'when the conflicting value was first received';
-- a repeated conflicting batch (a gateway retry without Idempotency-Key) adds nothing
CREATE UNIQUE INDEX reading_conflicts_key ON reading_conflicts (point_id, collected_at, value, quality);
CREATE INDEX reading_conflicts_enterprise_idx ON reading_conflicts (enterprise_id);

ALTER TABLE reading_conflicts ENABLE ROW LEVEL SECURITY;
ALTER TABLE reading_conflicts FORCE ROW LEVEL SECURITY;
-- the shape of every tenant policy since 0013
CREATE POLICY scope ON reading_conflicts
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e));
GRANT SELECT, INSERT ON reading_conflicts TO dustwatch_app;
