-- 0032: the audit chain becomes keyed and time-zone independent.
--
-- The 0003 trigger hashed `at::text`, whose text depends on the inserting
-- session's TimeZone, with plain SHA-256, which anyone who can write the table
-- can recompute.  From here on the application computes the hash itself:
-- HMAC-SHA-256 with a key derived from the master key (outside the database)
-- over a canonical form with the time as integer microseconds since the epoch
-- (server/core/srv_audit.h), in the same transaction as the action it records.
--
-- Existing rows keep their hashes (chain = 0); `dustwatch audit verify` checks
-- them with the old formula.  When rows exist, the first keyed row the
-- application writes is an epoch marker (action 'audit_chain_keyed') whose
-- prev_hash is the last legacy hash, so the two parts stay one chain.

ALTER TABLE audit_log ADD COLUMN chain smallint NOT NULL DEFAULT 0 CHECK (chain IN (0, 1));
ALTER TABLE audit_log ALTER COLUMN chain DROP DEFAULT;
COMMENT ON COLUMN audit_log.chain IS '0: unkeyed SHA-256 of the 0003 trigger (at as session-zone text); 1: HMAC-SHA-256 with the audit subkey of the master key over the canonical form of server/core/srv_audit.h';
COMMENT ON COLUMN audit_log.hash IS 'chain 1: HMAC-SHA-256 (key outside the database) over prev_hash and this row; chain 0: SHA-256 of the 0003 trigger. A changed, inserted or deleted row breaks the chain (dustwatch audit verify)';

DROP TRIGGER audit_log_chain ON audit_log;
DROP FUNCTION audit_log_chain();

CREATE TABLE audit_chain_head (
    id         smallint PRIMARY KEY CHECK (id = 1),
    last_id    bigint,
    last_hash  bytea CHECK (last_hash IS NULL OR octet_length(last_hash) = 32),
    keyed      boolean NOT NULL
);
COMMENT ON TABLE audit_chain_head IS 'the last row of the audit chain (one row): a writer locks it (SELECT ... FOR UPDATE) to append, so the chain stays linear under any isolation level, and verify compares the chain''s end with it';
COMMENT ON COLUMN audit_chain_head.keyed IS 'false while the last row is a legacy (chain 0) row: the next writer first appends the epoch marker';
INSERT INTO audit_chain_head (id, last_id, last_hash, keyed)
SELECT 1, l.id, l.hash, l.id IS NULL
FROM (SELECT NULL::int) AS one LEFT JOIN (SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1) l ON true;

GRANT SELECT, UPDATE ON audit_chain_head TO dustwatch_app;
