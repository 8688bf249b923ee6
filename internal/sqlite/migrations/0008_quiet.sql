-- Outbox items of messages without a StatusCallback (verification SMS, for
-- one): their status changes need not be tracked for callbacks.
ALTER TABLE outbox ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0;
