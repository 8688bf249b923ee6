-- The SMS-pumping guard (package guard): codes sent and approved per
-- account, key (prefix, operator, country) and minute, added to by every
-- node; the blocks it decided (kept a day after they end, for the next
-- block's length); each account's safe list of numbers and prefixes.
CREATE TABLE guard_counts (
	account_sid TEXT NOT NULL,
	key         TEXT NOT NULL,
	minute      INTEGER NOT NULL,
	sends       INTEGER NOT NULL,
	approvals   INTEGER NOT NULL,
	PRIMARY KEY (account_sid, key, minute)
) WITHOUT ROWID;
CREATE INDEX guard_counts_minute ON guard_counts (minute);
CREATE TABLE guard_blocks (
	account_sid TEXT NOT NULL,
	key         TEXT NOT NULL,
	level       INTEGER NOT NULL,
	since       INTEGER NOT NULL,
	until       INTEGER NOT NULL,
	lifted      INTEGER NOT NULL,
	sends       INTEGER NOT NULL,
	approvals   INTEGER NOT NULL,
	window_ns   INTEGER NOT NULL,
	reason      TEXT NOT NULL,
	PRIMARY KEY (account_sid, key)
) WITHOUT ROWID;
CREATE TABLE guard_safe (
	account_sid TEXT NOT NULL,
	entry       TEXT NOT NULL,
	PRIMARY KEY (account_sid, entry)
) WITHOUT ROWID;
