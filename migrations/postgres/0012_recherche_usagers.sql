-- Searching a structure's usagers by name reads only the rows that match: a trigram
-- index (pg_trgm, shipped with PostgreSQL, « trusted »: the database's owner may add
-- it) of the accent-free key answers `LIKE '%dubois%'` without reading the
-- structure's other usagers. Where the extension cannot be added (a role without the
-- right on the database), the search still works, by reading the rows: the notice
-- says so.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file THEN
    RAISE WARNING 'Extension pg_trgm indisponible (%): la recherche par nom des usagers lira les lignes de la structure.', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX usager_structures_trigrams ON usager_structures
            USING gin (search_key gin_trgm_ops);
    END IF;
END
$$;
