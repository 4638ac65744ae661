-- Search and duplicate detection on places, and the link from a Relais structure
-- to the place that hosts it.
--
-- `facets`: one bit per value of the vocabularies people filter on (services,
-- publics, specific support, fees, access and support modes, national programmes),
-- see src/lieux/index.rs. `index_version` 0 marks rows imported before these columns
-- existed; the server computes them at start (`lieux::index::refresh`).
ALTER TABLE lieux ADD COLUMN facets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lieux ADD COLUMN horaires TEXT NOT NULL DEFAULT '';
ALTER TABLE lieux ADD COLUMN nom_key TEXT NOT NULL DEFAULT '';
ALTER TABLE lieux ADD COLUMN pivot TEXT NOT NULL DEFAULT '';
ALTER TABLE lieux ADD COLUMN adresse_key TEXT NOT NULL DEFAULT '';
ALTER TABLE lieux ADD COLUMN index_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX lieux_nom_key ON lieux(nom_key);
CREATE INDEX lieux_pivot ON lieux(pivot, adresse_key);

ALTER TABLE structures ADD COLUMN lieu_accueil_id INTEGER REFERENCES lieux(id);
CREATE INDEX structures_lieu_accueil ON structures(lieu_accueil_id);
