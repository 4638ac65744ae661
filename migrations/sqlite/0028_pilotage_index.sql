-- Active autorisations per structure (the steering dashboards count active
-- mandates from this partial index, not from the whole table).
CREATE INDEX autorisations_actives ON autorisations(structure_id, expires_at, mandat_id)
    WHERE revoked_at IS NULL;
