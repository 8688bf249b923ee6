-- The SMS-pumping guard (package guard): codes sent and approved per
-- account, key (prefix, operator, country) and minute, added to by every
-- node; the blocks it decided (kept a day after they end, for the next
-- block's length); each account's safe list of numbers and prefixes.
CREATE TABLE guard_counts (
	account_sid TEXT COLLATE "C" NOT NULL,
	key         TEXT COLLATE "C" NOT NULL,
	minute      BIGINT NOT NULL,
	sends       BIGINT NOT NULL,
	approvals   BIGINT NOT NULL,
	PRIMARY KEY (account_sid, key, minute)
);
CREATE INDEX guard_counts_minute ON guard_counts (minute);
CREATE TABLE guard_blocks (
	account_sid TEXT COLLATE "C" NOT NULL,
	key         TEXT COLLATE "C" NOT NULL,
	level       BIGINT NOT NULL,
	since       BIGINT NOT NULL,
	until       BIGINT NOT NULL,
	lifted      BOOLEAN NOT NULL,
	sends       BIGINT NOT NULL,
	approvals   BIGINT NOT NULL,
	window_ns   BIGINT NOT NULL,
	reason      TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (account_sid, key)
);
CREATE TABLE guard_safe (
	account_sid TEXT COLLATE "C" NOT NULL,
	entry       TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (account_sid, entry)
);
