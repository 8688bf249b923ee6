-- An account's ceilings (package policy), set by the operator who runs
-- otpgate: what policy.Encode writes (JSON), '' for the server's defaults.
-- Until now countries was where the account could send, and the account's
-- own token could widen it; it is split in two: the operator's ceiling (the
-- policy's countries) and the account's own narrowing within it
-- (countries, '' for its whole ceiling). An account's list becomes its
-- ceiling, so every account may send where it could before.
ALTER TABLE accounts ADD COLUMN policy TEXT NOT NULL DEFAULT '';
UPDATE accounts SET policy = json_build_object('countries', countries)::text, countries = '' WHERE countries <> '';
-- The console's tokens are operator tokens: they call the operator API
-- too, and one may be made for one account (account_sid: the one account
-- it may read; '': the operator's own, every account). The constraints
-- take the table's new name, as if it had been made with it.
ALTER TABLE console_tokens RENAME TO operator_tokens;
ALTER TABLE operator_tokens RENAME CONSTRAINT console_tokens_pkey TO operator_tokens_pkey;
ALTER TABLE operator_tokens RENAME CONSTRAINT console_tokens_token_hash_key TO operator_tokens_token_hash_key;
ALTER TABLE operator_tokens ADD COLUMN account_sid TEXT COLLATE "C" NOT NULL DEFAULT '';
-- The audit log (store.AuditEntry): every change to who may do what, and
-- every refused attempt at one. Read newest first (at, then id), over
-- every account or one account's; forgotten by age. A listing by kind
-- reads one of the two and skips the other kinds: the log is small and
-- read by kind seldom, so kind has no index.
CREATE TABLE audit_log (
	id          TEXT COLLATE "C" PRIMARY KEY,
	at          BIGINT NOT NULL,
	account_sid TEXT COLLATE "C" NOT NULL,
	actor       TEXT NOT NULL,
	actor_name  TEXT NOT NULL,
	kind        TEXT COLLATE "C" NOT NULL,
	action      TEXT NOT NULL,
	target      TEXT NOT NULL,
	before      TEXT NOT NULL,
	after       TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	detail      TEXT NOT NULL,
	request_id  TEXT NOT NULL
);
CREATE INDEX audit_log_newest ON audit_log (at, id);
CREATE INDEX audit_log_by_account ON audit_log (account_sid, at, id);
-- Each account's daily SMS budget is counted in guard_counts under the key
-- 'sms', one row per account and hour; every node reads every account's
-- last day of them every 2 seconds, by key and time.
CREATE INDEX guard_counts_by_key ON guard_counts (key, minute);
-- Every SMS now counts against its number's limit (messages too): a row of
-- rate_limits each. Rows are forgotten by forget_at, which grows with the
-- time they were written: a BRIN index finds them at a fraction of a
-- B-tree's cost to keep up on every send.
DROP INDEX rate_limits_forget;
CREATE INDEX rate_limits_forget ON rate_limits USING brin (forget_at);
