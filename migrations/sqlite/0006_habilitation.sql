-- Accreditation (habilitation) of structures and their aidants: the public request,
-- its instruction by administrators, and the training of future aidants.

CREATE TABLE habilitation_requests (
    id INTEGER PRIMARY KEY,
    -- the requester's private link, hashed
    token_hash TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    email_confirmed_at INTEGER,
    status TEXT NOT NULL CHECK (status IN ('brouillon', 'soumise', 'modifications', 'acceptee', 'refusee', 'cloturee')),
    siret TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    commune_insee TEXT NOT NULL DEFAULT '',
    -- empty: not labelled France Services
    france_services_number TEXT NOT NULL DEFAULT '',
    referent_name TEXT NOT NULL DEFAULT '',
    referent_email TEXT NOT NULL DEFAULT '',
    referent_profession TEXT NOT NULL DEFAULT '',
    dpo_name TEXT NOT NULL DEFAULT '',
    dpo_email TEXT NOT NULL DEFAULT '',
    -- when the four legal commitments were accepted (NULL: not yet)
    commitments_at INTEGER,
    structure_id INTEGER REFERENCES structures(id),
    decision_reason TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    submitted_at INTEGER,
    decided_at INTEGER,
    decided_by INTEGER REFERENCES accounts(id)
);
CREATE INDEX habilitation_requests_status ON habilitation_requests(status, submitted_at);

CREATE TABLE habilitation_aidants (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES habilitation_requests(id),
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    profession TEXT NOT NULL,
    UNIQUE (request_id, email)
);

CREATE TABLE habilitation_messages (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES habilitation_requests(id),
    -- 1: written by an administrator (account_id), 0: by the requester
    from_admin INTEGER NOT NULL,
    account_id INTEGER REFERENCES accounts(id),
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX habilitation_messages_request ON habilitation_messages(request_id, id);

-- Training of an aidant: to train → registered for a session → trained. An account
-- with a row here that is not 'forme' cannot be activated.
CREATE TABLE formations (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    state TEXT NOT NULL CHECK (state IN ('a_former', 'inscrit', 'forme')),
    -- ISO dates (YYYY-MM-DD)
    session_on TEXT NOT NULL DEFAULT '',
    certified_on TEXT NOT NULL DEFAULT '',
    request_id INTEGER REFERENCES habilitation_requests(id),
    updated_at INTEGER NOT NULL,
    updated_by INTEGER REFERENCES accounts(id)
);
CREATE INDEX formations_state ON formations(state);
