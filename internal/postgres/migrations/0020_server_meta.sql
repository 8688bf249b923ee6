-- What the server keeps about itself, one value a key. The first key is
-- secret_fingerprint: HMAC-SHA256("otpgate secret fingerprint v1") under
-- the server secret, recorded by the first node to start, so a node or a
-- command started with another secret is refused before it writes codes,
-- sealed bodies or tokens the others cannot read (the secret itself is
-- never stored).
CREATE TABLE server_meta (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);
