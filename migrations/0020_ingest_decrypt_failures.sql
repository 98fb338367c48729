-- 0020: failed decryptions of encrypted ingest dialects, counted per credential
-- and source address.  A Hebei (DES-CBC) or MEM (SM4-CBC) request whose data
-- cannot be decrypted and decoded with the credential's key is answered one
-- fixed way, and counted here; after ingest_decrypt_fail_max failures within
-- ingest_decrypt_fail_window_s the pair is locked out for ingest_decrypt_lockout_s
-- (HTTP 429 decrypt_locked) and the lockout is written to audit_log.  This ends
-- padding-oracle attacks that recover captured plaintext block by block.

CREATE TABLE ingest_decrypt_failures (
    credential   text NOT NULL CHECK (length(credential) BETWEEN 1 AND 120),
    source       text NOT NULL CHECK (length(source) <= 64),
    failures     integer NOT NULL CHECK (failures > 0),
    window_start timestamptz NOT NULL DEFAULT now(),
    last_at      timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    lockouts     integer NOT NULL DEFAULT 0 CHECK (lockouts >= 0),
    PRIMARY KEY (credential, source)
);
COMMENT ON TABLE ingest_decrypt_failures IS 'ingest requests whose encrypted data could not be decrypted and decoded, per credential and source address; drives the lockout against padding oracles';
COMMENT ON COLUMN ingest_decrypt_failures.credential IS 'the credential the request named: hebei_des:<qybm> or mem_sm4:<appid>';
COMMENT ON COLUMN ingest_decrypt_failures.source IS 'the peer address of the TCP connection (the ingest listener sees no proxy headers)';
COMMENT ON COLUMN ingest_decrypt_failures.failures IS 'failures since window_start';
COMMENT ON COLUMN ingest_decrypt_failures.window_start IS 'start of the counting window; a failure after the window restarts the count at 1';
COMMENT ON COLUMN ingest_decrypt_failures.last_at IS 'the latest failure';
COMMENT ON COLUMN ingest_decrypt_failures.locked_until IS 'requests of this credential from this source are refused until then (NULL: never locked)';
COMMENT ON COLUMN ingest_decrypt_failures.lockouts IS 'how many times the pair was locked out';
CREATE INDEX ingest_decrypt_failures_last_idx ON ingest_decrypt_failures (last_at);

GRANT SELECT, INSERT, UPDATE ON ingest_decrypt_failures TO dustwatch_app;
