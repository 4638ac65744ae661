-- The aidant's home lists the structure's last mandates and those ending soon:
-- two indexed reads, whatever the number of the structure's mandates.
CREATE INDEX mandats_structure_recent ON mandats(structure_id, id);
CREATE INDEX mandats_structure_expiry ON mandats(structure_id, expires_at);
-- A commune found in the official list (`territoires`) leads to its places by
-- INSEE code, whatever spelling the places' sources used.
CREATE INDEX lieux_code_insee ON lieux(code_insee);
