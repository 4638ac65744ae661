-- The aidant's home lists the structure's last mandates and those ending soon:
-- two indexed reads, whatever the number of the structure's mandates.
CREATE INDEX mandats_structure_recent ON mandats(structure_id, id);
CREATE INDEX mandats_structure_expiry ON mandats(structure_id, expires_at);
