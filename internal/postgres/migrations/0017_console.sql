-- The web console (package console): operator tokens, kept only as the
-- SHA-256 of the token, and the browsers signed in with them, kept by the
-- SHA-256 of their session cookie. Revoking a token ends its sessions.
CREATE TABLE console_tokens (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash BYTEA NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE console_sessions (
	hash       BYTEA PRIMARY KEY,
	token_id   TEXT COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_token ON console_sessions (token_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
