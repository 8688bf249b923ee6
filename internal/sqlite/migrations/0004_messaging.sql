-- The messaging API: where status changes of a message are POSTed, and the
-- index its listing pages through (newest first, by account).
ALTER TABLE messages ADD COLUMN status_callback TEXT NOT NULL DEFAULT '';
