-- 0003_self_registration.sql - limits on kiosk self-registration (issue 11, finding 10).
-- Applied once, in a transaction, by src/hospital/registry.c. Never edit a migration that has
-- shipped: add the next number instead.
--
-- registered_from is the source address (IPv4 text) of a self-registration while it is
-- pending, so that pending registrations can be counted per address; it is cleared when the
-- user leaves pending (an admin activates, suspends or revokes it), and NULL for every user an
-- admin registers. Pending self-registrations older than 24 hours are deleted by the next
-- self-registration (src/hospital/registry.c, REGISTRY_PENDING_SECONDS), those made before
-- this migration included. New MRNs are random ("MRN-" + 9 digits + a Luhn check digit);
-- the sequential ones already given ("MRN-000001") are kept as they are.

ALTER TABLE users ADD COLUMN registered_from TEXT CHECK (registered_from IS NULL OR length(registered_from) <= 63);
CREATE INDEX users_pending ON users (status, registered_from);
