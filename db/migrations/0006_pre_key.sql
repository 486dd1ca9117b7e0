-- 0006_pre_key.sql - a user's recipient key for sharing through the clouds (issue 16,
-- docs/pre.md 7.1). pre_public_key is the ristretto255 element B (64 hex), pre_key_signature
-- the user's Ed25519 signature over "medvault-pre-key-v1\n" || B (128 hex): an owner's client
-- verifies it against the user's signing key, so the directory is trusted for nothing. Both
-- are NULL until the user's client publishes, and set together.
ALTER TABLE users ADD COLUMN pre_public_key TEXT CHECK (pre_public_key IS NULL OR length(pre_public_key) = 64);
ALTER TABLE users ADD COLUMN pre_key_signature TEXT
    CHECK (pre_key_signature IS NULL OR length(pre_key_signature) = 128);
