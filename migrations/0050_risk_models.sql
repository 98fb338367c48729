-- 0050: risk model versions loaded at run time (issue 16).  The worker starts with the
-- model file (risk_model setting) and, at every tick, loads the active row of this table
-- when its version differs from the one in force: a new model version needs no restart.
-- City administrators store and activate versions through the API (POST
-- /api/v1/risk/models); each score already records the version that produced it.
CREATE TABLE risk_models (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version       text NOT NULL UNIQUE CHECK (length(version) BETWEEN 1 AND 63),
    model         jsonb NOT NULL CHECK (jsonb_typeof(model) = 'object' AND model->>'version' = version),
    created_by    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    active        boolean NOT NULL DEFAULT false,
    activated_at  timestamptz,
    CHECK (NOT active OR activated_at IS NOT NULL)
);
COMMENT ON TABLE risk_models IS 'risk model versions stored through the API; the active one is in force (the worker loads it without a restart); none active = the model file';
COMMENT ON COLUMN risk_models.model IS 'the model JSON (schema/risk-model.schema.json), validated by the server before it is stored';
COMMENT ON COLUMN risk_models.active IS 'at most one row is active';
CREATE UNIQUE INDEX risk_models_one_active ON risk_models ((true)) WHERE active;
ALTER TABLE risk_models ENABLE ROW LEVEL SECURITY;
ALTER TABLE risk_models FORCE ROW LEVEL SECURITY;
-- everyone in the city may read the model in force; only the system and city scope write
CREATE POLICY read_all ON risk_models FOR SELECT USING (true);
CREATE POLICY city_inserts ON risk_models FOR INSERT
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city()));
CREATE POLICY city_updates ON risk_models FOR UPDATE
    USING (current_setting('dw.scope', true) = 'system' OR (SELECT dw_scope_is_city()));
GRANT SELECT, INSERT, UPDATE ON risk_models TO dustwatch_app;
