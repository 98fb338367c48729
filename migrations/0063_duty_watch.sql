-- 0063: duty watch (系统值守): who is on duty in a district when, and the notes one shift
-- leaves the next.  The work queue itself (处理队列) is a read over existing tables.

CREATE TABLE duty_shifts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_id  bigint NOT NULL REFERENCES regions (id),
    account_id   bigint NOT NULL REFERENCES accounts (id),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    created_by   bigint REFERENCES accounts (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at AND ends_at <= starts_at + interval '7 days')
);
COMMENT ON TABLE duty_shifts IS 'duty shifts (值班表) of a district: who watches the work queue when';
COMMENT ON COLUMN duty_shifts.district_id IS 'the district';
COMMENT ON COLUMN duty_shifts.account_id IS 'the person on duty (a government account of the district or its streets)';
COMMENT ON COLUMN duty_shifts.starts_at IS 'shift start';
COMMENT ON COLUMN duty_shifts.ends_at IS 'shift end (at most 7 days after the start)';
COMMENT ON COLUMN duty_shifts.note IS 'free text (phone, backup)';
COMMENT ON COLUMN duty_shifts.created_by IS 'who put the shift on the roster';
CREATE INDEX duty_roster_district_idx ON duty_shifts (district_id, starts_at);

CREATE TABLE duty_handovers (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    district_id  bigint NOT NULL REFERENCES regions (id),
    account_id   bigint REFERENCES accounts (id),
    author       text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL DEFAULT now(),
    note         text NOT NULL CHECK (length(note) BETWEEN 1 AND 4000),
    open_items   integer NOT NULL DEFAULT 0 CHECK (open_items >= 0)
);
COMMENT ON TABLE duty_handovers IS 'shift handover notes (交接班记录) of a district';
COMMENT ON COLUMN duty_handovers.account_id IS 'who wrote it';
COMMENT ON COLUMN duty_handovers.author IS 'user name';
COMMENT ON COLUMN duty_handovers.note IS 'what the next shift must know';
COMMENT ON COLUMN duty_handovers.open_items IS 'items in the work queue when it was written';
CREATE INDEX duty_handovers_district_idx ON duty_handovers (district_id, at DESC);

-- a district's own accounts and the city read and write; its streets read
DO $$
DECLARE
    t text;
    r text := '(SELECT dw_scope_kind()) = ''system'' OR (SELECT dw_scope_is_city()) '
              'OR ((SELECT dw_scope_kind()) = ''district'' AND district_id = (SELECT dw_scope_id()))';
BEGIN
    FOREACH t IN ARRAY ARRAY['duty_shifts', 'duty_handovers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY scope ON %I USING (%s OR ((SELECT dw_scope_kind()) = ''street'' AND '
                       'district_id = (SELECT parent_id FROM regions WHERE id = (SELECT dw_scope_id())))) '
                       'WITH CHECK (%s)', t, r, r);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, DELETE ON duty_shifts TO dustwatch_app;
GRANT SELECT, INSERT ON duty_handovers TO dustwatch_app;
