-- When a message reached its final status (delivered, undelivered, failed):
-- the console's receipt delay is final_at - sent_at (updated_at also moves
-- when a body is redacted). 0: not final yet, or final before this column.
ALTER TABLE messages ADD COLUMN final_at BIGINT NOT NULL DEFAULT 0;
-- The console's search by number, and the callback backlog's oldest.
CREATE INDEX messages_by_number ON messages (account_sid, to_number, created_at);
CREATE INDEX callbacks_by_created ON callbacks (created_at);
