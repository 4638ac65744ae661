-- The FranceConnect simulator's codes and access tokens, in the database so that
-- several servers behind a load balancer share them (the code is made on the server
-- that showed the picker, exchanged on whichever server the token call reaches).
CREATE TABLE fc_simulateur (
    code_hash TEXT PRIMARY KEY,
    grant_json TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    token_hash TEXT UNIQUE,
    token_expires_at INTEGER
);
