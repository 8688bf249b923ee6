-- The SMSC's message id of every part of every message sent over SMPP, so
-- that a delivery receipt finds its message, and receipts that came for ids
-- not (yet) known.
CREATE TABLE message_parts (
	connector   TEXT NOT NULL,
	smsc_id     TEXT NOT NULL,
	message_sid TEXT NOT NULL,
	part        INTEGER NOT NULL,
	status      TEXT NOT NULL DEFAULT '',
	error_code  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (connector, smsc_id)
) WITHOUT ROWID;
CREATE INDEX message_parts_by_message ON message_parts (message_sid, part);

CREATE TABLE orphan_receipts (
	connector     TEXT NOT NULL,
	smsc_id       TEXT NOT NULL,
	status        TEXT NOT NULL,
	error_code    INTEGER NOT NULL,
	error_message TEXT NOT NULL,
	received_at   INTEGER NOT NULL,
	PRIMARY KEY (connector, smsc_id)
) WITHOUT ROWID;
