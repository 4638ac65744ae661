-- A référent asks someone already active in another structure to join theirs; the
-- person accepts or declines from their account page.
CREATE TABLE join_requests (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    role TEXT NOT NULL CHECK (role IN ('aidant', 'referent')),
    requested_by INTEGER REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    decided_at INTEGER,
    -- 1 accepted, 0 declined, NULL pending
    accepted INTEGER
);
CREATE INDEX join_requests_account ON join_requests(account_id, decided_at);
