-- Auth tokens can be rotated and accounts disabled: a secondary token (hash
-- and sealed copy, as the primary's), whether the account is disabled, and
-- a revision counted up by every such change (AccountsVersion), so every
-- node's token cache sees it.
ALTER TABLE accounts ADD COLUMN secondary_hash BYTEA;
ALTER TABLE accounts ADD COLUMN secondary_sealed BYTEA;
ALTER TABLE accounts ADD COLUMN secondary_created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE accounts ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
