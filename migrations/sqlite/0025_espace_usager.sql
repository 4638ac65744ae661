-- The usager's own space (signed in with FranceConnect) and mandates given at a
-- distance (a single-use link sent by SMS or email, consent by FranceConnect).

-- A usager's sign-in to their space: the cookie's hash, idle and absolute limits
-- checked on every request; the FranceConnect ID token only to end its session.
CREATE TABLE usager_sessions (
    id_hash TEXT PRIMARY KEY,
    usager_id INTEGER NOT NULL REFERENCES usagers(id),
    id_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);
CREATE INDEX usager_sessions_usager ON usager_sessions(usager_id);

-- A link prepared by an aidant: bound to the démarches and duration shown, used
-- once, valid 24 hours. The destination (phone or email) is wiped once the link is
-- used, cancelled or expired; the masked form stays for the aidant's list.
CREATE TABLE mandat_liens (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    demarches TEXT NOT NULL,
    duration_days INTEGER NOT NULL,
    usager_id INTEGER REFERENCES usagers(id),
    channel TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    destination TEXT NOT NULL,
    destination_masked TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    mandat_id INTEGER REFERENCES mandats(id),
    cancelled_at INTEGER
);
CREATE INDEX mandat_liens_structure ON mandat_liens(structure_id, created_at);

-- A FranceConnect sign-in started by a usager (their space, or a consent): the
-- state's hash, bound to the browser by a cookie's hash, single use.
CREATE TABLE usager_fc_logins (
    state_hash TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('espace', 'consentement')),
    -- For a consent: the fingerprint of the terms the person accepted.
    terms TEXT NOT NULL DEFAULT '',
    lien_id INTEGER REFERENCES mandat_liens(id),
    expires_at INTEGER NOT NULL
);

-- Text messages sent through the SMS provider, and what its callbacks said.
CREATE TABLE sms_messages (
    id INTEGER PRIMARY KEY,
    structure_id INTEGER NOT NULL REFERENCES structures(id),
    lien_id INTEGER REFERENCES mandat_liens(id),
    provider_id TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX sms_messages_provider ON sms_messages(provider_id);

-- The usager asked for their data to be deleted (honoured by the retention job
-- once no mandate is active).
ALTER TABLE usagers ADD COLUMN deletion_requested_at INTEGER;
