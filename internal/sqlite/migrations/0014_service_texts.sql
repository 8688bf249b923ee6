-- A service's texts (verification.Texts as JSON: default locale, locale by
-- country, templates per locale, WebOTP domain); '' for none.
ALTER TABLE services ADD COLUMN texts TEXT NOT NULL DEFAULT '';
