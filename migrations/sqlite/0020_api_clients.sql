-- Machine clients of the JSON API, per structure: scopes, expiry, revocation; the
-- secret is 256 random bits, kept as SHA-256.
CREATE TABLE api_clients (
    id INTEGER PRIMARY KEY,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    client_id TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    label TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER,
    created_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_clients_structure ON api_clients(structure_id);
