-- Steering the national plan: hubs (a set of départements), territorial accounts
-- (national, région, hub, département: aggregates of their territory only), and
-- the conseillers numériques figures the national role imports per département.

CREATE TABLE hubs (
    id INTEGER PRIMARY KEY,
    nom TEXT NOT NULL UNIQUE,
    -- The départements as one text `,21,25,39,` (matched with LIKE on both databases).
    departements TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE territoire_comptes (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    niveau TEXT NOT NULL CHECK (niveau IN ('national', 'region', 'hub', 'departement')),
    -- Région or département code, hub id; empty for national.
    code TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES accounts(id)
);

CREATE TABLE conseillers_objectifs (
    departement TEXT PRIMARY KEY,
    en_poste INTEGER NOT NULL,
    en_formation INTEGER NOT NULL,
    prevus INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER REFERENCES accounts(id)
);

-- Uses of mandates per month (Paris), département of the acting structure and
-- démarche, kept in the identity provider's transaction (what dashboards read
-- instead of the journal). Uses before this migration are counted once here, by
-- UTC month on SQLite.
CREATE TABLE utilisations_mois (
    mois INTEGER NOT NULL,
    departement TEXT NOT NULL,
    demarche TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (mois, departement, demarche)
);
INSERT INTO utilisations_mois (mois, departement, demarche, n)
SELECT CAST(strftime('%Y%m', j.at, 'unixepoch') AS INTEGER),
       CASE WHEN substr(s.commune_insee, 1, 2) IN ('97', '98') THEN substr(s.commune_insee, 1, 3)
            ELSE substr(s.commune_insee, 1, 2) END,
       COALESCE(j.demarche, ''), COUNT(*)
FROM journal j JOIN structures s ON s.id = j.chain
WHERE j.action = 'utilisation_autorisation'
GROUP BY 1, 2, 3;
