-- 0004_groups.sql - group sharing with accountable anonymity (issue 15, docs/groups.md): the
-- hospital is the group manager. Applied once, in a transaction, by src/hospital/registry.c.
-- Never edit a migration that has shipped: add the next number instead.
--
-- Keys are lowercase hex text like every key of the registry; the signed roster of each epoch
-- is kept as it was served (binary MVG1), forever, so that a signature of any past epoch can be
-- checked and traced. Nothing secret is stored here: the opener shares are sealed to their
-- openers, and the key chain seeds and token keys live in the key directory (privileges/).

-- A group. epoch is the current epoch (0 until the first member joins); chain_start the first
-- epoch of the current key chain; next_chain 1 when an add without history asked for a new
-- chain at the next epoch. ek_shares is EK_1 .. EK_n side by side (n * 64 hex digits).
CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    gid         TEXT NOT NULL UNIQUE CHECK (length(gid) = 32),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    created_at  INTEGER NOT NULL,
    created_by  INTEGER NOT NULL REFERENCES users(id),
    ek          TEXT NOT NULL CHECK (length(ek) = 64),
    t           INTEGER NOT NULL CHECK (t BETWEEN 1 AND 8),
    n           INTEGER NOT NULL CHECK (n BETWEEN t AND 8),
    ek_shares   TEXT NOT NULL CHECK (length(ek_shares) = 64 * n),
    epoch       INTEGER NOT NULL DEFAULT 0,
    chain_start INTEGER NOT NULL DEFAULT 1,
    next_chain  INTEGER NOT NULL DEFAULT 0 CHECK (next_chain IN (0, 1))
);

-- A user's membership: invited by an admin, active once she joined with her ring key (of this
-- group only), removed by an admin. joined_epoch and removed_epoch are the epochs those
-- changes issued; first_epoch the oldest epoch whose key she may receive (1 with history,
-- else the epoch that began the chain started for her).
CREATE TABLE group_members (
    group_id      INTEGER NOT NULL REFERENCES groups(id),
    user_id       INTEGER NOT NULL REFERENCES users(id),
    status        TEXT NOT NULL CHECK (status IN ('invited', 'active', 'removed')),
    ring_pk       TEXT CHECK (ring_pk IS NULL OR length(ring_pk) = 64),
    history       INTEGER NOT NULL CHECK (history IN (0, 1)),
    first_epoch   INTEGER NOT NULL DEFAULT 1,
    added_at      INTEGER NOT NULL,
    joined_epoch  INTEGER,
    removed_epoch INTEGER,
    PRIMARY KEY (group_id, user_id)
);
CREATE UNIQUE INDEX group_members_ring ON group_members (group_id, ring_pk);

-- Every epoch: the signed roster (NULL while fewer than MV_RING_MIN_MEMBERS have joined:
-- nobody can sign then), the key chain it belongs to, and how many members it lists.
CREATE TABLE group_epochs (
    group_id    INTEGER NOT NULL REFERENCES groups(id),
    epoch       INTEGER NOT NULL CHECK (epoch >= 1),
    roster      BLOB,
    roster_hash TEXT,
    n_members   INTEGER NOT NULL,
    chain_start INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    PRIMARY KEY (group_id, epoch)
);

-- Opener idx (1..n) of a group: the user who holds share idx, sealed to her X25519 key.
CREATE TABLE group_openers (
    group_id INTEGER NOT NULL REFERENCES groups(id),
    idx      INTEGER NOT NULL CHECK (idx BETWEEN 1 AND 8),
    user_id  INTEGER NOT NULL REFERENCES users(id),
    sealed   BLOB NOT NULL,
    PRIMARY KEY (group_id, idx),
    UNIQUE (group_id, user_id)
);

-- The manager's log of every process of a group: create, add, join, remove, epoch, key,
-- opening. details never holds a secret.
CREATE TABLE group_events (
    id       INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES groups(id),
    at       INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users(id),
    kind     TEXT NOT NULL CHECK (kind IN ('create', 'add', 'join', 'remove', 'epoch', 'key', 'opening')),
    details  TEXT NOT NULL DEFAULT '' CHECK (length(details) <= 512)
);
CREATE INDEX group_events_group ON group_events (group_id, id);
