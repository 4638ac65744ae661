-- Mediators' activity reports (CRA), their beneficiaries and the statistics' aggregates.
-- A member may now be a « médiateur » (records activities, no Aidants Connect access):
-- SQLite cannot change a CHECK constraint, so memberships and join_requests are rebuilt.
CREATE TABLE memberships_nouveau (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    role TEXT NOT NULL CHECK (role IN ('aidant', 'referent', 'mediateur')),
    deactivated_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, structure_id)
);
INSERT INTO memberships_nouveau SELECT account_id, structure_id, role, deactivated_at, created_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_nouveau RENAME TO memberships;
CREATE INDEX memberships_structure ON memberships(structure_id);

CREATE TABLE join_requests_nouveau (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    role TEXT NOT NULL CHECK (role IN ('aidant', 'referent', 'mediateur')),
    requested_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    accepted INTEGER
);
INSERT INTO join_requests_nouveau SELECT id, account_id, structure_id, role, requested_by, created_at, decided_at, accepted FROM join_requests;
DROP TABLE join_requests;
ALTER TABLE join_requests_nouveau RENAME TO join_requests;
CREATE INDEX join_requests_account ON join_requests(account_id, decided_at);

-- The mediator's profile: whoever has one records activities.
CREATE TABLE mediateurs (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    conseiller_numerique INTEGER NOT NULL DEFAULT 0,
    -- contract dates of a conseiller numérique, YYYYMMDD
    contrat_debut INTEGER,
    contrat_fin INTEGER,
    -- what the next individual form proposes (the last ones used)
    dernier_lieu_id INTEGER,
    dernier_materiel TEXT,
    derniere_duree INTEGER,
    created_at INTEGER NOT NULL
);

-- The places of the directory where a mediator works (« lieux d'activité »).
CREATE TABLE mediateur_lieux (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    lieu_id INTEGER NOT NULL REFERENCES lieux(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, lieu_id)
);

-- People accompanied by a mediator. Tracked ones have a name; anonymous ones only
-- the counting fields. Deleting a person blanks the identity (supprime_at) and keeps
-- genre, birth year and status so the counts stay.
CREATE TABLE beneficiaires (
    id INTEGER PRIMARY KEY,
    mediateur_id INTEGER NOT NULL REFERENCES accounts(id),
    anonyme INTEGER NOT NULL DEFAULT 0,
    prenom TEXT NOT NULL DEFAULT '',
    nom TEXT NOT NULL DEFAULT '',
    telephone TEXT NOT NULL DEFAULT '',
    pas_de_telephone INTEGER NOT NULL DEFAULT 0,
    email TEXT NOT NULL DEFAULT '',
    annee_naissance INTEGER,
    adresse TEXT NOT NULL DEFAULT '',
    commune_insee TEXT NOT NULL DEFAULT '',
    genre TEXT NOT NULL DEFAULT 'non_communique',
    statut_social TEXT NOT NULL DEFAULT 'non_communique',
    notes TEXT NOT NULL DEFAULT '',
    search_key TEXT NOT NULL DEFAULT '',
    premiere_activite_id INTEGER,
    derniere_activite_le INTEGER,
    supprime_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX beneficiaires_mediateur ON beneficiaires(mediateur_id, search_key);

-- One activity report. date is YYYYMMDD (Paris), duree in minutes; lists of slugs
-- are comma-separated; anonymous counters are comma-separated integers in the order
-- of the vocabularies (non_communique excluded: it is the remainder).
CREATE TABLE activites (
    id INTEGER PRIMARY KEY,
    mediateur_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    type TEXT NOT NULL CHECK (type IN ('individuel', 'collectif')),
    date INTEGER NOT NULL,
    duree INTEGER NOT NULL,
    lieu_type TEXT NOT NULL,
    lieu_id INTEGER REFERENCES lieux(id),
    commune_insee TEXT NOT NULL DEFAULT '',
    departement TEXT NOT NULL DEFAULT '',
    materiel TEXT NOT NULL DEFAULT '',
    thematiques TEXT NOT NULL,
    thematiques_admin TEXT NOT NULL DEFAULT '',
    precisions_demarche TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    autonomie TEXT NOT NULL DEFAULT '',
    orientation TEXT NOT NULL DEFAULT '',
    titre TEXT NOT NULL DEFAULT '',
    niveau TEXT NOT NULL DEFAULT '',
    mandat_id INTEGER,
    pass_code TEXT NOT NULL DEFAULT '',
    anon_total INTEGER NOT NULL DEFAULT 0,
    anon_deja INTEGER NOT NULL DEFAULT 0,
    anon_genre TEXT NOT NULL DEFAULT '',
    anon_age TEXT NOT NULL DEFAULT '',
    anon_statut TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX activites_mediateur ON activites(mediateur_id, date, id);
CREATE INDEX activites_structure ON activites(structure_id, date);
CREATE INDEX activites_departement ON activites(departement, date);

CREATE TABLE activite_participants (
    activite_id INTEGER NOT NULL REFERENCES activites(id),
    beneficiaire_id INTEGER NOT NULL REFERENCES beneficiaires(id),
    PRIMARY KEY (activite_id, beneficiaire_id)
);
CREATE INDEX activite_participants_beneficiaire ON activite_participants(beneficiaire_id);

-- The statistics' aggregates, kept in the transaction that writes a report: for one
-- month, mediator, employer structure, place and commune and one type, how many
-- activities and accompaniments have each value of each dimension.
CREATE TABLE activites_cellules (
    mois INTEGER NOT NULL,
    mediateur_id INTEGER NOT NULL,
    structure_id INTEGER NOT NULL,
    lieu_id INTEGER NOT NULL,
    commune_insee TEXT NOT NULL,
    departement TEXT NOT NULL,
    type TEXT NOT NULL,
    dim TEXT NOT NULL,
    val TEXT NOT NULL,
    activites INTEGER NOT NULL,
    accompagnements INTEGER NOT NULL,
    PRIMARY KEY (mois, mediateur_id, structure_id, lieu_id, commune_insee, type, dim, val)
);
CREATE INDEX activites_cellules_mediateur ON activites_cellules(mediateur_id, mois);
CREATE INDEX activites_cellules_structure ON activites_cellules(structure_id, mois);
CREATE INDEX activites_cellules_departement ON activites_cellules(departement, mois);
