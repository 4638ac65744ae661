-- The national directory of digital-mediation places (open-data standard v1.0.2).
-- `data` holds every field of the standard, in its order (a JSON array of strings);
-- the columns beside it serve search. Unique by (source, lieu_id).

CREATE TABLE lieux (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    lieu_id TEXT NOT NULL,
    nom TEXT NOT NULL,
    commune TEXT NOT NULL,
    -- commune without accents nor case, for search
    commune_key TEXT NOT NULL DEFAULT '',
    code_postal TEXT NOT NULL,
    code_insee TEXT NOT NULL DEFAULT '',
    latitude REAL,
    longitude REAL,
    data TEXT NOT NULL,
    imported_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (source, lieu_id)
);
CREATE INDEX lieux_code_postal ON lieux(code_postal);
CREATE INDEX lieux_commune_key ON lieux(commune_key);
CREATE INDEX lieux_position ON lieux(latitude, longitude);
