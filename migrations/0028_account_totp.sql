-- 0028: an optional second factor for administrators: TOTP (RFC 6238).  The
-- shared secret is stored sealed (XChaCha20-Poly1305) under totp_key, a key
-- of the server's configuration that never enters the database, and bound to
-- the account's id.  Enrolment stores it with totp_enabled false; a correct
-- code confirms it; from then on login asks for a code.  totp_last_step keeps
-- a code from being used twice.

ALTER TABLE accounts
    ADD COLUMN totp_secret    bytea CHECK (octet_length(totp_secret) = 60),
    ADD COLUMN totp_enabled   boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT accounts_totp_enabled_check CHECK (NOT totp_enabled OR totp_secret IS NOT NULL);
COMMENT ON COLUMN accounts.totp_secret IS 'TOTP secret sealed under the server''s totp_key (24-byte nonce, 20-byte secret encrypted, 16-byte tag); never the secret itself; NULL: none enrolled';
COMMENT ON COLUMN accounts.totp_enabled IS 'the enrolment was confirmed with a code: login asks for one';
COMMENT ON COLUMN accounts.totp_last_step IS 'the 30-second step of the last code accepted; a code of this step or an earlier one is refused (no replay)';
