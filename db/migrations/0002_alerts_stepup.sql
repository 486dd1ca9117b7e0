-- 0002_alerts_stepup.sql - the alert pipeline and step-up (issue 5). Applied once, in a
-- transaction, after 0001; existing alert rows are kept (count 1, last_at = at, undelivered).
--
-- Nothing here is record content or a secret: device keys are public keys, grants are signed
-- public tokens bound to one user key, nonces are random values already spent.

-- Aggregation: a repeat of (source, kind, principal, address, reason) within the alert window
-- adds to count and moves last_at; each row is delivered to the webhook once (delivered_at).
ALTER TABLE alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1);
ALTER TABLE alerts ADD COLUMN last_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN delivered_at INTEGER;
UPDATE alerts SET last_at = at;
CREATE INDEX alerts_key ON alerts (kind, source, principal, address, reason, last_at);
CREATE INDEX alerts_undelivered ON alerts (id) WHERE delivered_at IS NULL;

-- Device keys an admin registered for a user (Ed25519 public keys, hex): a signature by one
-- of them is a step-up proof (include/medvault/mv_stepup.h).
CREATE TABLE devices (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_pk TEXT NOT NULL UNIQUE CHECK (length(device_pk) = 64),
    name      TEXT NOT NULL DEFAULT '' CHECK (length(name) <= 128),
    added_at  INTEGER NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);

-- Step-up by admin approval: a user's request, the admin's decision and, once approved, the
-- grant (base64 of the 117-byte MVS1 grant).
CREATE TABLE stepup_requests (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    decided_by  INTEGER REFERENCES users (id),
    decided_at  INTEGER,
    grant_b64   TEXT
);
CREATE INDEX stepup_requests_status ON stepup_requests (status, created_at);

-- Device-proof nonces already accepted, kept until their proof could no longer be fresh.
CREATE TABLE stepup_nonces (
    device_pk  TEXT NOT NULL CHECK (length(device_pk) = 64),
    nonce      TEXT NOT NULL CHECK (length(nonce) = 32),
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (device_pk, nonce)
);
CREATE INDEX stepup_nonces_expiry ON stepup_nonces (expires_at);
