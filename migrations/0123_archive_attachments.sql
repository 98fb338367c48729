-- 0123: archive attachments (issue 17 item 8): an enterprise's safety assessment, explosion-hazard
-- zoning drawing, licences ... as PDF, JPEG or PNG files beside its archive.  The kinds are data
-- (attachment_kinds: a city adds one with an INSERT, no build).  Files live in PostgreSQL like
-- check-in photos and video images (deploy/README.md, "Retention": one store, one backup, one access
-- control), but retention never prunes them: dw_prune_media (0105) does not touch this table, and a
-- file goes only when a person deletes it (audited).

CREATE TABLE attachment_kinds (
    code     text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,39}$'),
    label_zh text NOT NULL CHECK (length(label_zh) BETWEEN 1 AND 100),
    label_en text NOT NULL CHECK (length(label_en) BETWEEN 1 AND 100),
    sort     integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE attachment_kinds IS 'what an archive attachment is (安全评价报告, 爆炸危险区域划分图, licences ...): data, served by GET /api/v1/attachment-kinds';
INSERT INTO attachment_kinds (code, label_zh, label_en, sort) VALUES
    ('safety_assessment', '安全评价报告', 'Safety assessment report', 10),
    ('zoning_drawing', '爆炸危险区域划分图', 'Explosion-hazard zoning drawing', 20),
    ('business_licence', '营业执照', 'Business licence', 30),
    ('safety_licence', '安全生产许可证', 'Work-safety licence', 40),
    ('emergency_plan', '应急预案', 'Emergency plan', 50),
    ('other', '其他', 'Other', 90);
GRANT SELECT ON attachment_kinds TO dustwatch_app;

CREATE TABLE enterprise_attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enterprise_id bigint NOT NULL REFERENCES enterprises (id),
    kind          text NOT NULL REFERENCES attachment_kinds (code),
    filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type  text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    bytes         integer NOT NULL CHECK (bytes > 0),
    sha256        bytea NOT NULL CHECK (length(sha256) = 32),
    data          bytea NOT NULL,
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    uploaded_by   text NOT NULL DEFAULT '' CHECK (length(uploaded_by) <= 100),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(data) = bytes)
);
COMMENT ON TABLE enterprise_attachments IS 'archive attachments: files of an enterprise checked by their magic bytes (PDF, JPEG, PNG); never pruned automatically';
COMMENT ON COLUMN enterprise_attachments.content_type IS 'from the file''s first bytes, not from the name or the client';
COMMENT ON COLUMN enterprise_attachments.filename IS 'the name the uploader gave (no path), for Content-Disposition';
CREATE INDEX enterprise_attachments_enterprise_idx ON enterprise_attachments (enterprise_id, kind, id);
ALTER TABLE enterprise_attachments ALTER COLUMN data SET STORAGE EXTERNAL; -- PDFs and images do not compress

ALTER TABLE enterprise_attachments ENABLE ROW LEVEL SECURITY;
ALTER TABLE enterprise_attachments FORCE ROW LEVEL SECURITY;
-- the policy shape of 0013 (system, focus enterprise, city, then the visible enterprises)
CREATE POLICY scope ON enterprise_attachments
    USING (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR enterprise_id = (SELECT dw_focus_enterprise())
           OR (SELECT dw_scope_is_city()) OR enterprise_id IN (SELECT e.id FROM enterprises e));
GRANT SELECT, INSERT, DELETE ON enterprise_attachments TO dustwatch_app;
