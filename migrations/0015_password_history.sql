-- 0015: password history.  A password change (the API's and `dustwatch admin
-- reset-password`) moves the replaced password's argon2id string here in the
-- same statement as the change, so the API can refuse the current password and
-- the last password_history ones (等保 level 3: a forced first-login change
-- could be "done" by typing the admin-set password again).

CREATE TABLE password_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id),
    password_hash text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    replaced_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE password_history IS 'passwords an account had before, newest last; only argon2id strings, never a password';
COMMENT ON COLUMN password_history.account_id IS 'the account the password belonged to';
COMMENT ON COLUMN password_history.password_hash IS 'argon2id string (libsodium crypto_pwhash_str) of the replaced password';
COMMENT ON COLUMN password_history.replaced_at IS 'when a new password replaced it';
CREATE INDEX password_history_account_idx ON password_history (account_id, id);

-- per-account rows: visible exactly where the account is (the accounts policy)
ALTER TABLE password_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_history FORCE ROW LEVEL SECURITY;
CREATE POLICY scope ON password_history
    USING (current_setting('dw.scope', true) = 'system' OR account_id IN (SELECT a.id FROM accounts a))
    WITH CHECK (current_setting('dw.scope', true) = 'system' OR account_id IN (SELECT a.id FROM accounts a));
GRANT SELECT, INSERT ON password_history TO dustwatch_app;
