-- Coordinators follow a team of mediators who accepted their invitation. A member
-- who leaves is counted in the team's statistics up to the day they left.
ALTER TABLE mediateurs ADD COLUMN coordinateur INTEGER NOT NULL DEFAULT 0;
CREATE TABLE equipe_membres (
    id INTEGER PRIMARY KEY,
    coordinateur_id INTEGER NOT NULL REFERENCES accounts(id),
    mediateur_id INTEGER NOT NULL REFERENCES accounts(id),
    invite_le INTEGER NOT NULL,
    accepte_le INTEGER,
    refuse_le INTEGER,
    quitte_le INTEGER,
    -- the day of leaving, YYYYMMDD (Paris)
    quitte_date INTEGER
);
CREATE INDEX equipe_membres_coordinateur ON equipe_membres(coordinateur_id);
CREATE INDEX equipe_membres_mediateur ON equipe_membres(mediateur_id);
