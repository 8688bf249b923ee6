-- otpgate schema, version 1. Times are Unix nanoseconds (UTC); 0 means unset.
-- Record tables are keyed by their SIDs alone (WITHOUT ROWID: one B-tree
-- fewer to write per row). SIDs begin with the time and count up within a
-- millisecond, so new rows go to the end of the tree and, among rows created
-- at the same time, the greater SID is the newer.
CREATE TABLE accounts (
	sid        TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash BLOB NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE services (
	sid         TEXT PRIMARY KEY,
	account_sid TEXT NOT NULL REFERENCES accounts(sid),
	name        TEXT NOT NULL,
	code_length INTEGER NOT NULL,
	ttl_ns      INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	UNIQUE (account_sid, name)
);

CREATE TABLE verifications (
	sid            TEXT PRIMARY KEY,
	account_sid    TEXT NOT NULL,
	service_sid    TEXT NOT NULL,
	to_number      TEXT NOT NULL,
	from_addr      TEXT NOT NULL,
	channel        TEXT NOT NULL,
	status         TEXT NOT NULL,
	codes          BLOB NOT NULL,
	send_attempts  INTEGER NOT NULL,
	check_attempts INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX verifications_lookup ON verifications (account_sid, service_sid, to_number, created_at);

CREATE TABLE messages (
	sid              TEXT PRIMARY KEY,
	account_sid      TEXT NOT NULL,
	verification_sid TEXT NOT NULL DEFAULT '',
	direction        TEXT NOT NULL,
	from_addr        TEXT NOT NULL,
	to_number        TEXT NOT NULL,
	body             TEXT NOT NULL,
	status           TEXT NOT NULL,
	encoding         TEXT NOT NULL,
	segments         INTEGER NOT NULL,
	connector        TEXT NOT NULL DEFAULT '',
	provider_id      TEXT NOT NULL DEFAULT '',
	error_code       INTEGER NOT NULL DEFAULT 0,
	error_message    TEXT NOT NULL DEFAULT '',
	created_at       INTEGER NOT NULL,
	updated_at       INTEGER NOT NULL,
	sent_at          INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX messages_by_account ON messages (account_sid, created_at);


-- Messages waiting for a connector. A claimed item's next_attempt_at is its
-- lease expiry, so a crashed claimer's items come due again by themselves.
CREATE TABLE outbox (
	message_sid     TEXT PRIMARY KEY,
	account_sid     TEXT NOT NULL,
	from_addr       TEXT NOT NULL,
	to_number       TEXT NOT NULL,
	payload         BLOB NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	claimed         INTEGER NOT NULL DEFAULT 0,
	claimed_due     INTEGER NOT NULL DEFAULT 0, -- when a claimed item had been due
	last_error      TEXT NOT NULL DEFAULT '',
	expires_at      INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX outbox_due ON outbox (next_attempt_at);

CREATE TABLE sandbox_messages (
	sid         TEXT PRIMARY KEY,
	account_sid TEXT NOT NULL,
	from_addr   TEXT NOT NULL,
	to_number   TEXT NOT NULL,
	body        TEXT NOT NULL,
	segments    INTEGER NOT NULL,
	encoding    TEXT NOT NULL,
	created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sandbox_by_to ON sandbox_messages (account_sid, to_number, created_at);
