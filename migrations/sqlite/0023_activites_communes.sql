-- The statistics of a commune or an intercommunality read the aggregates by commune.
CREATE INDEX activites_cellules_commune ON activites_cellules(commune_insee, mois);
CREATE INDEX activites_commune ON activites(commune_insee, date);
