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
-- its row under structure 0 (not attributed).
ALTER TABLE utilisations_mois ADD COLUMN structure_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE utilisations_mois ALTER COLUMN structure_id DROP DEFAULT;
ALTER TABLE utilisations_mois DROP CONSTRAINT utilisations_mois_pkey;
ALTER TABLE utilisations_mois ADD PRIMARY KEY (mois, departement, demarche, structure_id);

ALTER TABLE pass_mois ADD COLUMN structure_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pass_mois ALTER COLUMN structure_id DROP DEFAULT;
ALTER TABLE pass_mois DROP CONSTRAINT pass_mois_pkey;
ALTER TABLE pass_mois ADD PRIMARY KEY (commande_id, mois, departement, structure_id);
