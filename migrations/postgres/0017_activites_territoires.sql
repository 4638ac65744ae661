-- The statistics of a territory (département, région, nation) read a coarser copy of
-- the aggregates: per month, département and type only, so their cost does not grow
-- with the number of mediators. Kept in the same transaction as activites_cellules.
CREATE TABLE activites_territoires (
    mois BIGINT NOT NULL,
    departement TEXT NOT NULL,
    type TEXT NOT NULL,
    dim TEXT NOT NULL,
    val TEXT NOT NULL,
    activites BIGINT NOT NULL,
    accompagnements BIGINT NOT NULL,
    PRIMARY KEY (departement, mois, type, dim, val)
);
CREATE INDEX activites_territoires_mois ON activites_territoires(mois);
INSERT INTO activites_territoires (mois, departement, type, dim, val, activites, accompagnements)
    SELECT mois, departement, type, dim, val, SUM(activites), SUM(accompagnements)
    FROM activites_cellules GROUP BY mois, departement, type, dim, val;
