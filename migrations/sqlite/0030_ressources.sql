-- The resource centre: resources written in Markdown by structures, hubs and
-- administrators, reviewed before publication, with their versions and
-- attachments; collections curated by structures or hubs; the census of local
-- authorities' initiatives.

-- A resource: its workflow and, once published, the published version's copy
-- (what the public pages, the search and the feed read). The versions table holds
-- every saved state; the latest is the working copy.
CREATE TABLE ressources (
    id INTEGER PRIMARY KEY,
    -- The working copy: being written, submitted for review, or the published one.
    statut TEXT NOT NULL CHECK (statut IN ('brouillon', 'a_relire', 'publiee')),
    version INTEGER NOT NULL,
    version_publiee INTEGER,
    -- 1 while the published version is shown; 0 before publication or once
    -- unpublished (with `motif`).
    en_ligne INTEGER NOT NULL DEFAULT 0,
    -- The reviewer's remarks, or why it was unpublished.
    motif TEXT,
    structure_id INTEGER REFERENCES structures(id),
    auteur_id INTEGER REFERENCES accounts(id),
    relu_par INTEGER REFERENCES accounts(id),
    -- The published version's copy ('' before publication).
    titre TEXT NOT NULL,
    resume TEXT NOT NULL,
    corps_html TEXT NOT NULL,
    -- Lists as one text `,aidants,mediateurs,` (matched with LIKE).
    publics TEXT NOT NULL,
    thematiques TEXT NOT NULL,
    format TEXT NOT NULL,
    licence TEXT NOT NULL,
    -- External links: a JSON array of [title, url].
    liens TEXT NOT NULL,
    publiee_le INTEGER,
    mise_a_jour_le INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX ressources_en_ligne ON ressources (en_ligne, mise_a_jour_le);
CREATE INDEX ressources_structure ON ressources (structure_id, updated_at);
CREATE INDEX ressources_statut ON ressources (statut, updated_at);

-- Every saved state of a resource: Markdown as written and its HTML rendered once
-- on save (safe by construction, `ressources::markdown`).
CREATE TABLE ressource_versions (
    id INTEGER PRIMARY KEY,
    ressource_id INTEGER NOT NULL REFERENCES ressources(id),
    version INTEGER NOT NULL,
    titre TEXT NOT NULL,
    resume TEXT NOT NULL,
    corps TEXT NOT NULL,
    corps_html TEXT NOT NULL,
    publics TEXT NOT NULL,
    thematiques TEXT NOT NULL,
    format TEXT NOT NULL,
    licence TEXT NOT NULL,
    liens TEXT NOT NULL,
    auteur_id INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    UNIQUE (ressource_id, version)
);

CREATE TABLE ressource_fichiers (
    id INTEGER PRIMARY KEY,
    ressource_id INTEGER NOT NULL REFERENCES ressources(id),
    nom TEXT NOT NULL,
    type_mime TEXT NOT NULL,
    taille INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    contenu BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX ressource_fichiers_ressource ON ressource_fichiers (ressource_id);

-- The public search of published resources (words without accents).
CREATE VIRTUAL TABLE ressources_recherche USING fts5(titre, texte, tokenize = 'unicode61 remove_diacritics 2');

CREATE TABLE collections (
    id INTEGER PRIMARY KEY,
    titre TEXT NOT NULL,
    description TEXT NOT NULL,
    structure_id INTEGER REFERENCES structures(id),
    created_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE collection_ressources (
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    ressource_id INTEGER NOT NULL REFERENCES ressources(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (collection_id, ressource_id)
);

CREATE TABLE initiatives (
    id INTEGER PRIMARY KEY,
    titre TEXT NOT NULL,
    description TEXT NOT NULL,
    -- The local authority: a commune (INSEE code), an EPCI (SIREN) or a département.
    niveau TEXT NOT NULL CHECK (niveau IN ('commune', 'epci', 'departement')),
    code TEXT NOT NULL,
    territoire TEXT NOT NULL,
    departement TEXT NOT NULL,
    annee INTEGER NOT NULL,
    budget_euros INTEGER,
    publics TEXT NOT NULL,
    partenaires TEXT NOT NULL,
    resultats TEXT NOT NULL,
    contact TEXT NOT NULL,
    search_key TEXT NOT NULL,
    created_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX initiatives_departement ON initiatives (departement, id);
CREATE INDEX initiatives_code ON initiatives (code);
