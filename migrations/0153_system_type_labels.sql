-- The names of the dust-removal system types that mandatory-point conformance checks
-- (mandatory_point_kinds.system_type): one catalogue for the statistics page and the
-- conformance export, which each had their own words for them.
INSERT INTO labels (domain, code, zh, en) VALUES
    ('system_type', 'dry', '干式', 'Dry'),
    ('system_type', 'wet', '湿式', 'Wet'),
    ('system_type', 'wet_al_mg', '湿式（铝镁粉尘）', 'Wet (Al/Mg dust)')
ON CONFLICT (domain, code) DO UPDATE SET zh = EXCLUDED.zh, en = EXCLUDED.en;
