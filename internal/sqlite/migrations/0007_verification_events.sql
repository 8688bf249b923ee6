-- Verification events: a service's webhook, JSON callbacks, and the index
-- the expiry sweep walks.
ALTER TABLE services ADD COLUMN events_url TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN content_type TEXT NOT NULL DEFAULT '';
CREATE INDEX verifications_pending_expiry ON verifications (status, expires_at);
