-- Identity provider to the letter of the specifications: the authorization
-- request's `max_age` (re-authentication when the aidant's last proof is older),
-- and a stable public identifier of each account for the `aidant` claim (never the
-- internal row number), given on first use.
ALTER TABLE idp_requests ADD COLUMN max_age BIGINT;
ALTER TABLE accounts ADD COLUMN public_id TEXT;
CREATE UNIQUE INDEX accounts_public_id ON accounts(public_id);
