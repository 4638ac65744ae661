-- Inactive aidants: warned by email after 5 months without signing in, deactivated
-- after 6 (the daily job `accounts::inactivity`).
ALTER TABLE accounts ADD COLUMN last_login_at BIGINT;
ALTER TABLE accounts ADD COLUMN inactivity_warned_at BIGINT;
