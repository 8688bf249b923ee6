-- Rate limits (store.Limit): per key, the sends counted in the slots of its
-- window, and when the row may be forgotten (its newest slot left the window).
CREATE TABLE rate_limits (
	key       TEXT COLLATE "C" PRIMARY KEY,
	slots     BYTEA NOT NULL,
	forget_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_forget ON rate_limits (forget_at);
