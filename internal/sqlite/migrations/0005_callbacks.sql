-- Status callbacks: one row per status change of a message that has a
-- StatusCallback, delivered in order per message, each attempt recorded.
ALTER TABLE messages ADD COLUMN last_transition TEXT NOT NULL DEFAULT '';
-- The auth token sealed under the server secret, to sign callbacks the way
-- Twilio does (HMAC keyed by the token); authentication uses token_hash.
ALTER TABLE accounts ADD COLUMN token_sealed BLOB;

CREATE TABLE callbacks (
	sid             TEXT PRIMARY KEY,  -- time-ordered: per message, the order of the changes
	message_sid     TEXT NOT NULL,
	account_sid     TEXT NOT NULL,
	url             TEXT NOT NULL,
	params          TEXT NOT NULL,     -- form-encoded, as POSTed
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	claimed         INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX callbacks_due ON callbacks (next_attempt_at);
CREATE INDEX callbacks_by_message ON callbacks (message_sid, sid);

CREATE TABLE callback_attempts (
	callback_sid TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	message_sid  TEXT NOT NULL,
	url          TEXT NOT NULL,
	at           INTEGER NOT NULL,
	status_code  INTEGER NOT NULL,   -- 0 when no HTTP answer
	error        TEXT NOT NULL,
	duration_ns  INTEGER NOT NULL,
	PRIMARY KEY (callback_sid, attempt)
) WITHOUT ROWID;
CREATE INDEX callback_attempts_by_message ON callback_attempts (message_sid, at);
