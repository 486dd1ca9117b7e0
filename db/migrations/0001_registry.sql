-- 0001_registry.sql - the hospital registry (issue 4). Applied once, in a transaction, by
-- src/hospital/registry.c, which records it in schema_migrations. Never edit a migration
-- that has shipped: add the next number instead.
--
-- Keys are stored as lowercase hex (64 characters); times as unix seconds. Nothing here is
-- record content: the hospital never sees a record.

CREATE TABLE departments (
    name        TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 63),
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    sign_pk         TEXT NOT NULL UNIQUE CHECK (length(sign_pk) = 64),
    box_pk          TEXT NOT NULL CHECK (length(box_pk) = 64),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'doctor', 'patient')),
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('pending', 'active', 'suspended', 'revoked')),
    mrn             TEXT UNIQUE,             -- patients: medical record number, "MRN-000001"
    email           TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL DEFAULT '',
    about           TEXT NOT NULL DEFAULT '', -- profile text the user keeps (not clinical)
    registered_at   INTEGER NOT NULL,
    status_changed_at INTEGER NOT NULL
);
CREATE INDEX users_role ON users (role, name);

-- Doctors belong to one or more departments; a patient's home department is kept here too.
CREATE TABLE user_departments (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    department TEXT NOT NULL REFERENCES departments (name),
    PRIMARY KEY (user_id, department)
);
CREATE INDEX user_departments_dept ON user_departments (department, user_id);

-- Every credential the hospital signed (short-lived; renewed while the user is active).
CREATE TABLE credentials (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reason     TEXT NOT NULL CHECK (reason IN ('register', 'renew'))
);
CREATE INDEX credentials_user ON credentials (user_id, issued_at);

-- The signed revocation list is generated from users with status 'revoked' or 'suspended';
-- its serial increases with every status change.
CREATE TABLE revocation_state (
    one    INTEGER PRIMARY KEY CHECK (one = 1),
    serial INTEGER NOT NULL
);
INSERT INTO revocation_state (one, serial) VALUES (1, 1);

-- Appointments: a patient's request, department assignment, doctor designation, time and
-- place, status changes. id is 16 random bytes in hex (the episode id records carry).
CREATE TABLE appointments (
    id          TEXT PRIMARY KEY CHECK (length(id) = 32),
    patient_id  INTEGER NOT NULL REFERENCES users (id),
    department  TEXT REFERENCES departments (name),
    doctor_id   INTEGER REFERENCES users (id),
    starts_at   INTEGER,
    place       TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',   -- the patient's words when requesting; not a record
    status      TEXT NOT NULL DEFAULT 'requested'
                CHECK (status IN ('requested', 'booked', 'checked_in', 'completed', 'cancelled')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX appointments_patient ON appointments (patient_id, starts_at);
CREATE INDEX appointments_doctor ON appointments (doctor_id, starts_at);
CREATE INDEX appointments_department ON appointments (department, starts_at);

CREATE TABLE appointment_events (
    id             INTEGER PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    actor_id       INTEGER NOT NULL REFERENCES users (id),
    status         TEXT NOT NULL,
    at             INTEGER NOT NULL
);

-- Delegations: the patient's signed consent for one doctor and one episode, countersigned
-- by the hospital (binary MVD1, see include/medvault/mv_delegation.h).
CREATE TABLE delegations (
    id             INTEGER PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    patient_id     INTEGER NOT NULL REFERENCES users (id),
    doctor_id      INTEGER NOT NULL REFERENCES users (id),
    department     TEXT NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    blob           BLOB NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX delegations_doctor ON delegations (doctor_id, patient_id);
CREATE INDEX delegations_patient ON delegations (patient_id);

-- The formulary that admins keep and doctors prescribe from.
CREATE TABLE medicines (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    form       TEXT NOT NULL CHECK (length(form) BETWEEN 1 AND 64),
    strength   TEXT NOT NULL CHECK (length(strength) BETWEEN 1 AND 64),
    dosage     TEXT NOT NULL CHECK (length(dosage) BETWEEN 1 AND 256),
    code       TEXT NOT NULL DEFAULT '',    -- e.g. an RxNorm code
    updated_by INTEGER REFERENCES users (id),
    updated_at INTEGER NOT NULL,
    UNIQUE (name, form, strength)
);

-- The alert log (filled by the decoy cloud and the alert system, issue 5).
CREATE TABLE alerts (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    source    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    principal TEXT NOT NULL DEFAULT '',
    address   TEXT NOT NULL DEFAULT '',
    object    TEXT NOT NULL DEFAULT '',
    reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alerts_at ON alerts (at);
