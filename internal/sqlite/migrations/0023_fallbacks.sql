-- A service's fallback to email ('' for none, or 'email') and how long its
-- code SMS may go undelivered first (nanoseconds; 0 for the default).
ALTER TABLE services ADD COLUMN fallback_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN fallback_after_ns INTEGER NOT NULL DEFAULT 0;
-- The fallbacks owed: a code SMS (message_sid) of a verification that, if it
-- fails or is not delivered by due_at, is followed by a code by email to
-- address, in locale (the SMS's language; '' for the service's). Written
-- with the SMS, deleted with the email (or when it is not owed any more); at
-- most one per verification (a resend replaces it).
CREATE TABLE fallbacks (
	verification_sid TEXT PRIMARY KEY,
	account_sid      TEXT NOT NULL,
	message_sid      TEXT NOT NULL,
	address          TEXT NOT NULL,
	locale           TEXT NOT NULL,
	due_at           INTEGER NOT NULL,
	created_at       INTEGER NOT NULL
);
CREATE INDEX fallbacks_due ON fallbacks (due_at);
