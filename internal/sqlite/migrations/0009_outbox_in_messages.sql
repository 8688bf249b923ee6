-- The outbox moves into the message rows: a send then writes one row, not
-- two, and its delivery updates one, instead of updating one and deleting
-- another. ob_queued marks the messages waiting; the partial index finds
-- the due ones. A claimed message's ob_due is its lease's end.
ALTER TABLE messages ADD COLUMN ob_queued INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_payload BLOB;
ALTER TABLE messages ADD COLUMN ob_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_due INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_claimed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_claimed_due INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN ob_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN ob_quiet INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET ob_queued = 1, ob_payload = o.payload, ob_attempts = o.attempts, ob_due = o.next_attempt_at,
	ob_claimed = o.claimed, ob_claimed_due = o.claimed_due, ob_last_error = o.last_error, ob_expires_at = o.expires_at,
	ob_created_at = o.created_at, ob_quiet = o.quiet
	FROM outbox AS o WHERE o.message_sid = messages.sid;
DROP TABLE outbox;
CREATE INDEX messages_outbox_due ON messages (ob_due) WHERE ob_queued = 1;
