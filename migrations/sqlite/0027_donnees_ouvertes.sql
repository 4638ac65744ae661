-- Open data published by the daily job: every file of a run, kept in the
-- database so that every app server serves the same files at the same URLs.
CREATE TABLE donnees_ouvertes (
    nom TEXT PRIMARY KEY,
    type_contenu TEXT NOT NULL,
    contenu TEXT NOT NULL,
    lignes INTEGER NOT NULL,
    publie_le INTEGER NOT NULL
);
