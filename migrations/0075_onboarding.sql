-- 0075: onboarding (应接尽接) as data.  The city's milestones say which enterprises must be
-- connected by when (2023: metal or wood dust with at least 30 dust workers; 2024: all metal and
-- wood; 2025: every dust enterprise); the mandatory points a dust-removal system must have
-- depend on its kind (dry: hopper temperature, pressure difference, air-lock; wet: water level
-- and flow; wet serving aluminium/magnesium dust: hydrogen too).  Both are tables, so a new
-- milestone or rule is an INSERT, not a release.  enterprises.connection_status becomes derived:
-- the worker sets connected / not_connected from data (connected_window_h); suspended stays a
-- decision people take.

CREATE TABLE onboarding_cohorts (
    code             text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    milestone        date NOT NULL,
    dust_categories  text[] CHECK (dust_categories <@ ARRAY['metal', 'wood', 'grain', 'plastic', 'textile', 'paper', 'chemical', 'other']),
    min_dust_workers integer CHECK (min_dust_workers >= 0)
);
COMMENT ON TABLE onboarding_cohorts IS 'onboarding milestones (应接尽接): which enterprises must be connected by when';
COMMENT ON COLUMN onboarding_cohorts.code IS 'stable identifier, used by the API (?cohort=)';
COMMENT ON COLUMN onboarding_cohorts.name IS 'what the dashboard and the monthly report show';
COMMENT ON COLUMN onboarding_cohorts.milestone IS 'the day by which every enterprise of the cohort must be connected';
COMMENT ON COLUMN onboarding_cohorts.dust_categories IS 'an enterprise is in the cohort when one of its dust kinds is of one of these categories (dust_kinds.category); NULL: any enterprise';
COMMENT ON COLUMN onboarding_cohorts.min_dust_workers IS 'and it has at least this many dust workers (enterprises.dust_workers; unknown counts as below); NULL: any number';

INSERT INTO onboarding_cohorts (code, name, milestone, dust_categories, min_dust_workers) VALUES
    ('y2023_metal_wood_30', '金属、木质粉尘且涉粉作业人数30人以上', '2023-12-31', '{metal,wood}', 30),
    ('y2024_metal_wood', '全部金属、木质粉尘企业', '2024-12-31', '{metal,wood}', NULL),
    ('y2025_all', '全部粉尘涉爆企业（应接尽接）', '2025-12-31', NULL, NULL);

CREATE TABLE mandatory_point_kinds (
    system_type text NOT NULL CHECK (system_type IN ('dry', 'wet', 'wet_al_mg')),
    kind        text NOT NULL REFERENCES indicator_kinds (code),
    PRIMARY KEY (system_type, kind)
);
COMMENT ON TABLE mandatory_point_kinds IS 'the point kinds a dust-removal system must have (mandatory-point conformance)';
COMMENT ON COLUMN mandatory_point_kinds.system_type IS 'dry (dust_systems.wet false), wet, or wet_al_mg (wet, and the enterprise has aluminium, magnesium or Al-Mg alloy dust): wet_al_mg needs its own kinds and the wet ones';
COMMENT ON COLUMN mandatory_point_kinds.kind IS 'an indicator kind one enabled point of the system must have';

INSERT INTO mandatory_point_kinds (system_type, kind) VALUES
    ('dry', 'hopper_temp'), ('dry', 'pressure_diff'), ('dry', 'airlock_fault'),
    ('wet', 'water_level'), ('wet', 'water_flow'),
    ('wet_al_mg', 'hydrogen_lel');

GRANT SELECT ON onboarding_cohorts, mandatory_point_kinds TO dustwatch_app;

COMMENT ON COLUMN enterprises.connection_status IS 'connected / not_connected: derived by the worker from data (every enabled mandatory point sent data within connected_window_h); suspended: set by people and kept';
