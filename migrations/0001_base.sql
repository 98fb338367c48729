-- 0001: the base of the city: administrative regions, enterprises, accounts.
-- Runs as the owner role.  The server connects as a member of dustwatch_app,
-- which owns nothing and never bypasses row-level security (added in later
-- migrations for every tenant table).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dustwatch_app') THEN
        CREATE ROLE dustwatch_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

GRANT SELECT ON schema_migrations TO dustwatch_app;

CREATE TABLE regions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE
                CHECK (code ~ '^[0-9]{6}([0-9]{3}([0-9]{3})?)?$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    level       text NOT NULL CHECK (level IN ('city', 'district', 'street')),
    kind        text NOT NULL DEFAULT 'street'
                CHECK (kind IN ('city', 'district', 'street', 'town', 'park')),
    parent_id   bigint REFERENCES regions (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((level = 'city') = (parent_id IS NULL))
);
COMMENT ON TABLE regions IS 'the city -> district -> street/town/park tree (行政区划), one city per deployment';
COMMENT ON COLUMN regions.code IS 'administrative-division code: 6 digits (city/district), 9 or 12 (street/town/park)';
COMMENT ON COLUMN regions.level IS 'scope level: city, district, or street (which also covers towns and industrial parks)';
COMMENT ON COLUMN regions.kind IS 'what the region is called locally: 街道 street, 镇 town, 园区 park';
COMMENT ON COLUMN regions.parent_id IS 'NULL only for the city';
CREATE INDEX regions_parent_idx ON regions (parent_id);

-- A district's parent is the city, a street's parent is a district: enforced
-- here because a CHECK cannot look at another row.
CREATE FUNCTION regions_check_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent_level text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT level INTO parent_level FROM regions WHERE id = NEW.parent_id;
    IF (NEW.level = 'district' AND parent_level <> 'city')
       OR (NEW.level = 'street' AND parent_level <> 'district') THEN
        RAISE EXCEPTION 'region % (%) cannot be a child of a % region', NEW.name, NEW.level, parent_level
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER regions_check_parent BEFORE INSERT OR UPDATE ON regions
    FOR EACH ROW EXECUTE FUNCTION regions_check_parent();

CREATE TABLE enterprises (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Z]{6,18}$'),
    uscc          text NOT NULL UNIQUE
                  CHECK (uscc ~ '^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    district_id   bigint NOT NULL REFERENCES regions (id),
    street_id     bigint REFERENCES regions (id),
    address       text NOT NULL DEFAULT '',
    longitude     double precision CHECK (longitude BETWEEN -180 AND 180),
    latitude      double precision CHECK (latitude BETWEEN -90 AND 90),
    industry_code text NOT NULL DEFAULT '' CHECK (industry_code ~ '^([A-T]?[0-9]{0,4})$'),
    status        text NOT NULL DEFAULT 'producing'
                  CHECK (status IN ('producing', 'stopped', 'overhaul')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((longitude IS NULL) = (latitude IS NULL))
);
COMMENT ON TABLE enterprises IS 'dust-explosion-prone enterprises (粉尘涉爆企业), one archive each (一企一档)';
COMMENT ON COLUMN enterprises.code IS 'enterprise code used on the wire (企业编码 / Hebei qybm); point codes start with it';
COMMENT ON COLUMN enterprises.uscc IS 'unified social credit code (统一社会信用代码), 18 characters, GB 32100';
COMMENT ON COLUMN enterprises.district_id IS 'the district whose bureau supervises the enterprise';
COMMENT ON COLUMN enterprises.street_id IS 'street, town or industrial park inside the district (NULL: directly under the district)';
COMMENT ON COLUMN enterprises.longitude IS 'WGS-84 (GCJ-02 conversion happens in the map layer only)';
COMMENT ON COLUMN enterprises.industry_code IS 'national economic industry classification (GB/T 4754), e.g. C2021';
COMMENT ON COLUMN enterprises.status IS 'producing (在产), stopped (停产) or overhaul (检修)';
CREATE INDEX enterprises_district_idx ON enterprises (district_id);
CREATE INDEX enterprises_street_idx ON enterprises (street_id);

CREATE FUNCTION enterprises_check_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM regions WHERE id = NEW.district_id AND level = 'district') THEN
        RAISE EXCEPTION 'enterprise % must belong to a district', NEW.name USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.street_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM regions WHERE id = NEW.street_id AND level = 'street' AND parent_id = NEW.district_id) THEN
        RAISE EXCEPTION 'street of enterprise % is not in its district', NEW.name USING ERRCODE = 'check_violation';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER enterprises_check_region BEFORE INSERT OR UPDATE ON enterprises
    FOR EACH ROW EXECUTE FUNCTION enterprises_check_region();

CREATE TABLE accounts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL CHECK (username ~ '^[a-z0-9][a-z0-9._-]{2,63}$'),
    display_name   text NOT NULL DEFAULT '',
    role           text NOT NULL CHECK (role IN (
                       'city_admin', 'city_staff', 'district_admin', 'district_staff',
                       'street_staff', 'enterprise_manager', 'enterprise_staff')),
    region_id      bigint REFERENCES regions (id),
    enterprise_id  bigint REFERENCES enterprises (id),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- an account is bound to exactly one scope: a region for government
    -- roles, an enterprise for enterprise roles
    CHECK ((role LIKE 'enterprise_%') = (enterprise_id IS NOT NULL)),
    CHECK ((role LIKE 'enterprise_%') = (region_id IS NULL))
);
CREATE UNIQUE INDEX accounts_username_idx ON accounts (username);
COMMENT ON TABLE accounts IS 'people who log in; each bound to exactly one scope (region or enterprise)';
COMMENT ON COLUMN accounts.username IS 'login name, lower case';
COMMENT ON COLUMN accounts.role IS 'what the account may do inside its scope';
COMMENT ON COLUMN accounts.region_id IS 'scope of city/district/street roles; level must match the role';
COMMENT ON COLUMN accounts.enterprise_id IS 'scope of enterprise roles';
COMMENT ON COLUMN accounts.password_hash IS 'argon2id string from libsodium crypto_pwhash_str; never the password';

CREATE FUNCTION accounts_check_scope() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lvl text;
BEGIN
    IF NEW.region_id IS NOT NULL THEN
        SELECT level INTO lvl FROM regions WHERE id = NEW.region_id;
        IF lvl IS DISTINCT FROM split_part(NEW.role, '_', 1) THEN
            RAISE EXCEPTION 'role % needs a % region, not %', NEW.role, split_part(NEW.role, '_', 1), lvl
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER accounts_check_scope BEFORE INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_check_scope();

GRANT SELECT ON regions, enterprises TO dustwatch_app;
GRANT INSERT, UPDATE ON enterprises TO dustwatch_app;
GRANT SELECT, INSERT, UPDATE ON accounts TO dustwatch_app;
