-- Identity provider to the letter of the specifications (and the usagers list by
-- key): the authorization
-- request's `max_age` (re-authentication when the aidant's last proof is older),
-- and a stable public identifier of each account for the `aidant` claim (never the
-- internal row number), given on first use.
ALTER TABLE idp_requests ADD COLUMN max_age BIGINT;
ALTER TABLE accounts ADD COLUMN public_id TEXT;
CREATE UNIQUE INDEX accounts_public_id ON accounts(public_id);
-- The usagers list pages by key in (sort_name, usager_id) order: the index gives that
-- order whole, so a page reads 21 entries from its cursor and sorts nothing.
CREATE INDEX usager_structures_keyset ON usager_structures(structure_id, sort_name, usager_id);
