-- Rate limits (store.Limit): per key, the sends counted in the slots of its
-- window, and when the row may be forgotten (its newest slot left the window).
CREATE TABLE rate_limits (
	key       TEXT PRIMARY KEY,
	slots     BLOB NOT NULL,
	forget_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_forget ON rate_limits (forget_at);
