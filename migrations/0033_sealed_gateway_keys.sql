-- 0033: gateway keys encrypted at rest.
--
-- Hebei DES keys and MEM SM4 keys/IVs must be kept by the server to decrypt,
-- so until now they were plain bytea: a dump of ingest_credentials handed out
-- every gateway's key.  They now go into sealed_keys, encrypted with
-- XChaCha20-Poly1305 under a subkey of the master key, which never enters the
-- database (server/core/srv_cred.h).  This migration cannot seal (the key is
-- not in the database): `dustwatch migrate` seals the existing plaintext rows
-- right after applying it when master_key_file is set, and `dustwatch serve`
-- does at start; both clear des_key, sm4_key and sm4_iv as they go.

ALTER TABLE ingest_credentials
    ADD COLUMN sealed_keys bytea CHECK (sealed_keys IS NULL OR octet_length(sealed_keys) IN (49, 73));
COMMENT ON COLUMN ingest_credentials.sealed_keys IS 'hebei_des: the DES key, mem_sm4: the SM4 key then IV, sealed with XChaCha20-Poly1305 under the master key''s SRV_SECRET_CRED_SEAL subkey (version byte, 24-byte nonce, ciphertext + tag; server/core/srv_cred.h); the key is outside the database';
COMMENT ON COLUMN ingest_credentials.des_key IS 'before 0033 only: a plaintext Hebei DES key not sealed yet (dustwatch migrate / serve seal it and clear this)';
COMMENT ON COLUMN ingest_credentials.sm4_key IS 'before 0033 only: a plaintext MEM SM4 key not sealed yet (sealed and cleared as des_key)';
COMMENT ON COLUMN ingest_credentials.sm4_iv IS 'before 0033 only: a plaintext MEM SM4 IV not sealed yet (sealed and cleared as des_key)';

ALTER TABLE ingest_credentials DROP CONSTRAINT ingest_credentials_check1;
ALTER TABLE ingest_credentials DROP CONSTRAINT ingest_credentials_check2;
ALTER TABLE ingest_credentials ADD CONSTRAINT ingest_credentials_hebei_keys
    CHECK (kind <> 'hebei_des' OR sealed_keys IS NOT NULL OR des_key IS NOT NULL);
ALTER TABLE ingest_credentials ADD CONSTRAINT ingest_credentials_mem_keys
    CHECK (kind <> 'mem_sm4' OR (appid IS NOT NULL AND appsecret_hash IS NOT NULL
           AND (sealed_keys IS NOT NULL OR (sm4_key IS NOT NULL AND sm4_iv IS NOT NULL))));
