-- A coordinator's own reports: animation of the network, event, partnership.
CREATE TABLE coordination_activites (
    id INTEGER PRIMARY KEY,
    coordinateur_id INTEGER NOT NULL REFERENCES accounts(id),
    type TEXT NOT NULL CHECK (type IN ('animation', 'evenement', 'partenariat')),
    date INTEGER NOT NULL,
    duree INTEGER NOT NULL,
    titre TEXT NOT NULL,
    echelle TEXT NOT NULL,
    participants INTEGER NOT NULL DEFAULT 0,
    partenaires TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX coordination_activites_coordinateur ON coordination_activites(coordinateur_id, date);
