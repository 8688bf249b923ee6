-- How many parts a message has, on each of its parts: a receipt for a
-- message of one part moves the message at once, without recording the
-- part's status and reading it back. 0: not known (rows from before).
ALTER TABLE message_parts ADD COLUMN total INTEGER NOT NULL DEFAULT 0;
