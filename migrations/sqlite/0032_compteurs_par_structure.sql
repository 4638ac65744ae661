-- The counters written by hot paths get one row per acting structure: the
-- identity provider's uses (`utilisations_mois`, per month, département and
-- démarche) and the pass numérique's hand-outs and redemptions (`pass_mois`, per
-- order, month and département). A row is locked from its update to its
-- transaction's commit, which waits for the disk since the journal is written
-- in it: with one row per département, every sign-in of a département queued
-- on it, and every redemption of an order in a département too. With one row
-- per structure only that structure's own transactions meet there, and they are
-- serial anyway on its journal chain (docs/PERFORMANCE.md, issue 12, seventh
-- step). Dashboards sum the rows. What was counted before this migration keeps
-- its row under structure 0 (not attributed). SQLite cannot change a primary
-- key: both tables are rebuilt.
CREATE TABLE utilisations_mois_par_structure (
    mois INTEGER NOT NULL,
    departement TEXT NOT NULL,
    demarche TEXT NOT NULL,
    n INTEGER NOT NULL,
    structure_id INTEGER NOT NULL,
    PRIMARY KEY (mois, departement, demarche, structure_id)
);
INSERT INTO utilisations_mois_par_structure (mois, departement, demarche, n, structure_id)
SELECT mois, departement, demarche, n, 0 FROM utilisations_mois;
DROP TABLE utilisations_mois;
ALTER TABLE utilisations_mois_par_structure RENAME TO utilisations_mois;

CREATE TABLE pass_mois_par_structure (
    commande_id INTEGER NOT NULL,
    mois INTEGER NOT NULL,
    departement TEXT NOT NULL,
    remis INTEGER NOT NULL DEFAULT 0,
    utilises INTEGER NOT NULL DEFAULT 0,
    structure_id INTEGER NOT NULL,
    PRIMARY KEY (commande_id, mois, departement, structure_id)
);
INSERT INTO pass_mois_par_structure (commande_id, mois, departement, remis, utilises, structure_id)
SELECT commande_id, mois, departement, remis, utilises, 0 FROM pass_mois;
DROP TABLE pass_mois;
ALTER TABLE pass_mois_par_structure RENAME TO pass_mois;
