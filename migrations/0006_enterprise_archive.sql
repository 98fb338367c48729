-- 0006: one archive per enterprise (一企一档): contacts, dust profile,
-- building, connection status; the dust-kind catalogue.

CREATE TABLE dust_kinds (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,40}$'),
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    category    text NOT NULL CHECK (category IN ('metal', 'wood', 'grain', 'plastic', 'textile', 'paper', 'chemical', 'other')),
    st_class    text NOT NULL DEFAULT 'st1' CHECK (st_class IN ('st1', 'st2', 'st3')),
    metal       boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE dust_kinds IS 'catalogue of combustible dusts (粉尘种类); new kinds are rows, not code';
COMMENT ON COLUMN dust_kinds.st_class IS 'typical explosion class St1/St2/St3 (Kst <200 / 200-300 / >300 bar·m/s)';
COMMENT ON COLUMN dust_kinds.metal IS 'metal dusts (Al, Mg, ...) react with water: wet collection needs hydrogen control';
INSERT INTO dust_kinds (code, name_zh, name_en, category, st_class, metal) VALUES
 ('aluminium', '铝粉', 'aluminium', 'metal', 'st3', true),
 ('magnesium', '镁粉', 'magnesium', 'metal', 'st2', true),
 ('al_mg_alloy', '铝镁合金粉', 'aluminium-magnesium alloy', 'metal', 'st3', true),
 ('titanium', '钛粉', 'titanium', 'metal', 'st2', true),
 ('zinc', '锌粉', 'zinc', 'metal', 'st1', true),
 ('iron', '铁粉', 'iron', 'metal', 'st1', true),
 ('silicon', '硅粉', 'silicon', 'metal', 'st2', true),
 ('wood', '木粉', 'wood', 'wood', 'st1', false),
 ('paper', '纸粉/纸浆粉', 'paper', 'paper', 'st1', false),
 ('starch', '淀粉', 'starch', 'grain', 'st1', false),
 ('flour', '面粉', 'flour', 'grain', 'st1', false),
 ('feed', '饲料粉', 'animal feed', 'grain', 'st1', false),
 ('sugar', '糖粉', 'sugar', 'grain', 'st1', false),
 ('milk_powder', '奶粉', 'milk powder', 'grain', 'st1', false),
 ('resin', '树脂粉', 'resin', 'plastic', 'st2', false),
 ('plastic', '塑料粉', 'plastic', 'plastic', 'st2', false),
 ('rubber', '橡胶粉', 'rubber', 'plastic', 'st1', false),
 ('cotton', '棉尘', 'cotton', 'textile', 'st1', false),
 ('polyester', '聚酯纤维', 'polyester fibre', 'textile', 'st1', false),
 ('coal', '煤粉', 'coal', 'chemical', 'st1', false),
 ('sulphur', '硫磺粉', 'sulphur', 'chemical', 'st1', false),
 ('pigment', '颜料/涂料粉', 'pigment / powder coating', 'chemical', 'st2', false);

ALTER TABLE enterprises
    ADD COLUMN IF NOT EXISTS principal_name text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS principal_phone text NOT NULL DEFAULT '' CHECK (principal_phone ~ '^[0-9+() -]{0,20}$'),
    ADD COLUMN IF NOT EXISTS safety_manager_name text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS safety_manager_phone text NOT NULL DEFAULT '' CHECK (safety_manager_phone ~ '^[0-9+() -]{0,20}$'),
    ADD COLUMN IF NOT EXISTS dust_kinds text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS explosibility jsonb CHECK (explosibility IS NULL OR jsonb_typeof(explosibility) = 'object'),
    ADD COLUMN IF NOT EXISTS dust_workers integer CHECK (dust_workers >= 0),
    ADD COLUMN IF NOT EXISTS zone20_count integer NOT NULL DEFAULT 0 CHECK (zone20_count >= 0),
    ADD COLUMN IF NOT EXISTS zone21_count integer NOT NULL DEFAULT 0 CHECK (zone21_count >= 0),
    ADD COLUMN IF NOT EXISTS zone22_count integer NOT NULL DEFAULT 0 CHECK (zone22_count >= 0),
    ADD COLUMN IF NOT EXISTS building_storeys text NOT NULL DEFAULT 'single' CHECK (building_storeys IN ('single', 'multi')),
    ADD COLUMN IF NOT EXISTS building_frame text NOT NULL DEFAULT 'frame' CHECK (building_frame IN ('frame', 'non_frame')),
    ADD COLUMN IF NOT EXISTS gathering_rooms integer NOT NULL DEFAULT 0 CHECK (gathering_rooms >= 0),
    ADD COLUMN IF NOT EXISTS connection_status text NOT NULL DEFAULT 'not_connected'
        CHECK (connection_status IN ('not_connected', 'connected', 'suspended')),
    ADD COLUMN IF NOT EXISTS connected_at timestamptz;
COMMENT ON COLUMN enterprises.principal_name IS 'main person in charge (主要负责人)';
COMMENT ON COLUMN enterprises.safety_manager_name IS 'safety manager (安全负责人); the enterprise may edit contacts itself';
COMMENT ON COLUMN enterprises.dust_kinds IS 'codes from dust_kinds (粉尘种类)';
COMMENT ON COLUMN enterprises.explosibility IS 'tested explosion data if any: {"kst":…, "pmax":…, "mie_mj":…, "mec_g_m3":…}';
COMMENT ON COLUMN enterprises.dust_workers IS 'people working in dust-exposed areas (涉粉作业人数)';
COMMENT ON COLUMN enterprises.zone20_count IS 'number of zone 20 areas (dust explosion hazard zones per GB 12476)';
COMMENT ON COLUMN enterprises.building_storeys IS 'single- or multi-storey building (单层/多层)';
COMMENT ON COLUMN enterprises.building_frame IS 'frame or non-frame structure (框架/非框架)';
COMMENT ON COLUMN enterprises.gathering_rooms IS 'people-gathering rooms (人员聚集场所) inside dust-exposed buildings: a major hazard';
COMMENT ON COLUMN enterprises.connection_status IS 'connection to the monitoring system (接入状态)';

CREATE FUNCTION enterprises_check_dust_kinds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(NEW.dust_kinds) k WHERE k NOT IN (SELECT code FROM dust_kinds)) THEN
        RAISE EXCEPTION 'unknown dust kind in %', NEW.dust_kinds USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER enterprises_check_dust_kinds BEFORE INSERT OR UPDATE OF dust_kinds ON enterprises
    FOR EACH ROW EXECUTE FUNCTION enterprises_check_dust_kinds();

GRANT SELECT ON dust_kinds TO dustwatch_app;
