-- Solidarité Numérique: callback requests made on the public form, routed to the
-- national helpline or to a nearby structure that accepts them, followed up by
-- their agents (notes, call attempts, outcome), and stripped of the person's data
-- three months after closure (`rappels::purge`).

-- The structures that answer: the national helpline's, and local ones near people.
CREATE TABLE rappel_structures (
    structure_id INTEGER PRIMARY KEY REFERENCES structures(id),
    niveau TEXT NOT NULL CHECK (niveau IN ('national', 'local')),
    created_at INTEGER NOT NULL,
    created_by INTEGER REFERENCES accounts(id)
);

CREATE TABLE rappel_demandes (
    id INTEGER PRIMARY KEY,
    -- The person's data: NULL once deleted (`donnees_supprimees_le`).
    prenom TEXT,
    telephone TEXT,
    precisions TEXT,
    code_postal TEXT NOT NULL,
    commune_insee TEXT NOT NULL,
    departement TEXT NOT NULL,
    besoin TEXT NOT NULL,
    -- Slots as one text `,matin,soir,`.
    creneaux TEXT NOT NULL,
    consentement_le INTEGER NOT NULL,
    -- NULL: the national helpline's queue.
    structure_id INTEGER REFERENCES structures(id),
    agent_id INTEGER REFERENCES accounts(id),
    statut TEXT NOT NULL CHECK (statut IN ('nouvelle', 'en_cours', 'cloturee')),
    issue TEXT,
    tentatives INTEGER NOT NULL DEFAULT 0,
    premier_appel_le INTEGER,
    cloturee_le INTEGER,
    donnees_supprimees_le INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX rappel_demandes_file ON rappel_demandes (structure_id, statut, id);
CREATE INDEX rappel_demandes_statut ON rappel_demandes (statut, id);
CREATE INDEX rappel_demandes_date ON rappel_demandes (created_at);
CREATE INDEX rappel_demandes_purge ON rappel_demandes (cloturee_le) WHERE donnees_supprimees_le IS NULL;

CREATE TABLE rappel_suivi (
    id INTEGER PRIMARY KEY,
    demande_id INTEGER NOT NULL REFERENCES rappel_demandes(id),
    account_id INTEGER REFERENCES accounts(id),
    genre TEXT NOT NULL CHECK (genre IN ('note', 'appel', 'prise', 'orientation', 'cloture')),
    resultat TEXT,
    -- Free text: deleted with the person's data.
    texte TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX rappel_suivi_demande ON rappel_suivi (demande_id, id);
