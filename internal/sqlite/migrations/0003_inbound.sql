-- Parts of long mobile-originated messages, kept until every part is here.
CREATE TABLE inbound_parts (
	connector   TEXT NOT NULL,
	from_addr   TEXT NOT NULL,
	to_addr     TEXT NOT NULL,
	ref         INTEGER NOT NULL,
	total       INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	text        TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (connector, from_addr, to_addr, ref, total, seq)
) WITHOUT ROWID;
