-- Verification events: a service's webhook, JSON callbacks, and the index
-- the expiry sweep walks.
ALTER TABLE services ADD COLUMN events_url TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks ADD COLUMN content_type TEXT NOT NULL DEFAULT '';
-- On expires_at alone: a check changes status, not expires_at, and so does
-- not touch this index.
CREATE INDEX verifications_expiry ON verifications (expires_at);
