-- Private read-only links to a mediator's statistics (revocable; SHA-256 at rest).
CREATE TABLE partages_statistiques (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    mediateur_id INTEGER NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX partages_statistiques_mediateur ON partages_statistiques(mediateur_id);
