-- Geo permissions: the countries (ISO 3166-1 alpha-2, comma-separated, or
-- "*" for any) an account's messages may go to, and a service's own list
-- for its codes. '': the account's default (the server's region); for a
-- service, the account's list.
ALTER TABLE accounts ADD COLUMN countries TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN countries TEXT NOT NULL DEFAULT '';
