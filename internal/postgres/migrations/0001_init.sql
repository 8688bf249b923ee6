-- otpgate's schema on PostgreSQL: the schema of SQLite's version 10 (the
-- dialects share version numbers; PostgreSQL began there, so its 0002-0010
-- are empty). Times are Unix nanoseconds (UTC), as on SQLite: PostgreSQL's
-- timestamps keep microseconds only; 0 means unset. Keys are compared
-- byte by byte (COLLATE "C"): SIDs sort by the time they were made.
CREATE TABLE accounts (
	seq          BIGSERIAL NOT NULL,
	sid          TEXT COLLATE "C" PRIMARY KEY,
	name         TEXT NOT NULL,
	token_hash   BYTEA NOT NULL,
	created_at   BIGINT NOT NULL,
	token_sealed BYTEA,
	sms_url      TEXT NOT NULL DEFAULT ''
);

CREATE TABLE services (
	sid         TEXT COLLATE "C" PRIMARY KEY,
	account_sid TEXT COLLATE "C" NOT NULL REFERENCES accounts(sid),
	name        TEXT COLLATE "C" NOT NULL,
	code_length INTEGER NOT NULL,
	ttl_ns      BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	events_url  TEXT NOT NULL DEFAULT '',
	UNIQUE (account_sid, name)
);

CREATE TABLE verifications (
	sid            TEXT COLLATE "C" PRIMARY KEY,
	account_sid    TEXT COLLATE "C" NOT NULL,
	service_sid    TEXT COLLATE "C" NOT NULL,
	to_number      TEXT COLLATE "C" NOT NULL,
	from_addr      TEXT NOT NULL,
	channel        TEXT NOT NULL,
	status         TEXT NOT NULL,
	codes          BYTEA NOT NULL,
	send_attempts  INTEGER NOT NULL,
	check_attempts INTEGER NOT NULL,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	expires_at     BIGINT NOT NULL
);
CREATE INDEX verifications_lookup ON verifications (account_sid, service_sid, to_number, created_at, sid);
CREATE INDEX verifications_expiry ON verifications (expires_at);

-- Messages, with the outbox in the row: ob_queued marks those waiting; a
-- claimed one's ob_due is its lease's end and ob_claimed_by the node holding it.
CREATE TABLE messages (
	sid              TEXT COLLATE "C" PRIMARY KEY,
	account_sid      TEXT COLLATE "C" NOT NULL,
	verification_sid TEXT NOT NULL DEFAULT '',
	direction        TEXT NOT NULL,
	from_addr        TEXT COLLATE "C" NOT NULL,
	to_number        TEXT COLLATE "C" NOT NULL,
	body             TEXT NOT NULL,
	status           TEXT NOT NULL,
	encoding         TEXT NOT NULL,
	segments         INTEGER NOT NULL,
	connector        TEXT NOT NULL DEFAULT '',
	provider_id      TEXT NOT NULL DEFAULT '',
	error_code       INTEGER NOT NULL DEFAULT 0,
	error_message    TEXT NOT NULL DEFAULT '',
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	sent_at          BIGINT NOT NULL DEFAULT 0,
	status_callback  TEXT NOT NULL DEFAULT '',
	ob_queued        BOOLEAN NOT NULL DEFAULT false,
	ob_payload       BYTEA,
	ob_attempts      INTEGER NOT NULL DEFAULT 0,
	ob_due           BIGINT NOT NULL DEFAULT 0,
	ob_claimed       BOOLEAN NOT NULL DEFAULT false,
	ob_claimed_by    TEXT NOT NULL DEFAULT '',
	ob_last_error    TEXT NOT NULL DEFAULT '',
	ob_expires_at    BIGINT NOT NULL DEFAULT 0,
	ob_created_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_account ON messages (account_sid, created_at, sid);
CREATE INDEX messages_outbox_due ON messages (ob_due) WHERE ob_queued;

CREATE TABLE sandbox_messages (
	sid         TEXT COLLATE "C" PRIMARY KEY,
	account_sid TEXT COLLATE "C" NOT NULL,
	from_addr   TEXT NOT NULL,
	to_number   TEXT COLLATE "C" NOT NULL,
	body        TEXT NOT NULL,
	segments    INTEGER NOT NULL,
	encoding    TEXT NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX sandbox_by_to ON sandbox_messages (account_sid, to_number, created_at, sid);

CREATE TABLE message_parts (
	connector   TEXT COLLATE "C" NOT NULL,
	smsc_id     TEXT COLLATE "C" NOT NULL,
	message_sid TEXT COLLATE "C" NOT NULL,
	part        INTEGER NOT NULL,
	total       INTEGER NOT NULL DEFAULT 0,
	status      TEXT NOT NULL DEFAULT '',
	error_code  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (connector, smsc_id)
);
CREATE INDEX message_parts_by_message ON message_parts (message_sid, part) WHERE total <> 1;

CREATE TABLE orphan_receipts (
	connector     TEXT COLLATE "C" NOT NULL,
	smsc_id       TEXT COLLATE "C" NOT NULL,
	status        TEXT NOT NULL,
	error_code    INTEGER NOT NULL,
	error_message TEXT NOT NULL,
	received_at   BIGINT NOT NULL,
	PRIMARY KEY (connector, smsc_id)
);

CREATE TABLE inbound_parts (
	connector   TEXT COLLATE "C" NOT NULL,
	from_addr   TEXT COLLATE "C" NOT NULL,
	to_addr     TEXT COLLATE "C" NOT NULL,
	ref         INTEGER NOT NULL,
	total       INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	text        TEXT NOT NULL,
	received_at BIGINT NOT NULL,
	PRIMARY KEY (connector, from_addr, to_addr, ref, total, seq)
);

CREATE TABLE callbacks (
	sid             TEXT COLLATE "C" PRIMARY KEY,
	message_sid     TEXT COLLATE "C" NOT NULL,
	account_sid     TEXT COLLATE "C" NOT NULL,
	url             TEXT NOT NULL,
	params          TEXT NOT NULL,
	content_type    TEXT NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	claimed         BOOLEAN NOT NULL DEFAULT false,
	claimed_by      TEXT NOT NULL DEFAULT '',
	created_at      BIGINT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (next_attempt_at);
CREATE INDEX callbacks_by_message ON callbacks (message_sid, sid);

CREATE TABLE callback_attempts (
	callback_sid TEXT COLLATE "C" NOT NULL,
	attempt      INTEGER NOT NULL,
	message_sid  TEXT COLLATE "C" NOT NULL,
	url          TEXT NOT NULL,
	at           BIGINT NOT NULL,
	status_code  INTEGER NOT NULL,
	error        TEXT NOT NULL,
	duration_ns  BIGINT NOT NULL,
	PRIMARY KEY (callback_sid, attempt)
);
CREATE INDEX callback_attempts_by_message ON callback_attempts (message_sid, at);
