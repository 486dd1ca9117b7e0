-- 0005_group_dedup.sql - what members need to work between epochs without asking the hospital
-- per operation (issue 15, docs/groups.md "Dedup secret", docs/decisions/0012).
--
-- dedup_gen is the generation of the group's dedup secret in force: 1 at creation, the next
-- at every removal (or suspension, or revocation) of a member who had joined, never at a join.
-- The secrets themselves live in the key directory (privileges/group-<id>-dedup-<gen>.key),
-- like the key chain seeds; nothing secret is stored here.
ALTER TABLE groups ADD COLUMN dedup_gen INTEGER NOT NULL DEFAULT 1;

-- key_epoch is the newest epoch in which a fetch of the member's keys was logged: the log keeps
-- one 'key' event per member per epoch, not one per fetch, so that it is no timeline of her
-- operations for the manager to match against the storage server's.
ALTER TABLE group_members ADD COLUMN key_epoch INTEGER NOT NULL DEFAULT 0;
