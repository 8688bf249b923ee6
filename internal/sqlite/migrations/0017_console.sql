-- The web console (package console): operator tokens, kept only as the
-- SHA-256 of the token, and the browsers signed in with them, kept by the
-- SHA-256 of their session cookie. Revoking a token ends its sessions.
CREATE TABLE console_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE console_sessions (
	hash       BLOB PRIMARY KEY,
	token_id   TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
