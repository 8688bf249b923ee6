-- How many parts a message has, on each of its parts: a receipt for a
-- message of one part moves the message at once, without recording the
-- part's status and reading it back. 0: not known (rows from before).
ALTER TABLE message_parts ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
-- Only messages of several parts are read back by message: the index need
-- not hold the parts of single-part messages (most of them).
DROP INDEX message_parts_by_message;
CREATE INDEX message_parts_by_message ON message_parts (message_sid, part) WHERE total != 1;
