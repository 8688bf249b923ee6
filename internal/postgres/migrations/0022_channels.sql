-- The channel a message goes by: 'sms' (every message before this column)
-- or 'email', and an email's subject ('' for an SMS).
ALTER TABLE messages ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
ALTER TABLE messages ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE sandbox_messages ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
ALTER TABLE sandbox_messages ADD COLUMN subject TEXT NOT NULL DEFAULT '';
