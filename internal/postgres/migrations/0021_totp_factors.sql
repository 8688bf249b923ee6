-- TOTP factors (package factor, Twilio Verify's Entities, Factors and
-- Challenges). An entity is one user of a service, named by the caller's
-- identity; a factor's secret is sealed for its sid (never kept in the
-- clear); last_step is the time step of the last code accepted, so a code
-- is accepted once; failures and last_failure count wrong codes toward the
-- lockout. Deleting an entity deletes its factors and challenges.
CREATE TABLE totp_entities (
	sid         TEXT COLLATE "C" PRIMARY KEY,
	account_sid TEXT NOT NULL,
	service_sid TEXT NOT NULL,
	identity    TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	UNIQUE (service_sid, identity)
);
CREATE TABLE totp_factors (
	sid           TEXT COLLATE "C" PRIMARY KEY,
	account_sid   TEXT NOT NULL,
	service_sid   TEXT NOT NULL,
	entity_sid    TEXT NOT NULL,
	identity      TEXT NOT NULL,
	friendly_name TEXT NOT NULL,
	status        TEXT NOT NULL,
	secret_sealed BYTEA NOT NULL,
	time_step     BIGINT NOT NULL,
	skew          BIGINT NOT NULL,
	code_length   BIGINT NOT NULL,
	alg           TEXT NOT NULL,
	last_step     BIGINT NOT NULL,
	failures      BIGINT NOT NULL,
	last_failure  BIGINT NOT NULL,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);
CREATE INDEX totp_factors_by_entity ON totp_factors (entity_sid, created_at);
CREATE TABLE totp_challenges (
	sid         TEXT COLLATE "C" PRIMARY KEY,
	account_sid TEXT NOT NULL,
	service_sid TEXT NOT NULL,
	entity_sid  TEXT NOT NULL,
	identity    TEXT NOT NULL,
	factor_sid  TEXT NOT NULL,
	status      TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
);
CREATE INDEX totp_challenges_by_factor ON totp_challenges (factor_sid);
CREATE INDEX totp_challenges_by_entity ON totp_challenges (entity_sid);
