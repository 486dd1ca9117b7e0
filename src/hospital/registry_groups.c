/* registry_groups.c - groups, their members, epochs, openers and event log in the registry
 * (issue 15, docs/groups.md). A roster changes only together with the epoch row that holds its
 * signed form, in one transaction, so the registry never shows a membership that no signed
 * roster of the current epoch reflects. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hospital/registry_internal.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_json.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"

/* The ring's minimum (MV_RING_MIN_MEMBERS): the registry stores no roster below it. */
#define MIN_MEMBERS 2u
#define MAX_EPOCH_ROWS 1000 /* epochs shown by registry_group_json */

int registry_group_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > REGISTRY_GROUP_NAME_MAX || mv_is_lower_hex(s, 32))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Binds bin[0..n) as lowercase hex (n up to 8 keys of 32 bytes). */
static int bind_hex_long(sqlite3_stmt *st, int i, const uint8_t *bin, size_t n)
{
    char hex[2 * REGISTRY_GROUP_MAX_OPENERS * 32 + 1];
    if (n > REGISTRY_GROUP_MAX_OPENERS * 32 || mv_hex_encode(hex, sizeof hex, bin, n) != MV_OK)
        return SQLITE_MISUSE;
    return sqlite3_bind_text(st, i, hex, (int)(2 * n), SQLITE_TRANSIENT);
}

/* Decodes a hex column of exactly n bytes; MV_ERR_IO if the stored text is not one. */
static mv_err col_hex(sqlite3_stmt *st, int i, uint8_t *out, size_t n)
{
    const char *s = col_str(st, i);
    return mv_hex_decode_exact(out, n, s, strlen(s)) == MV_OK ? MV_OK : MV_ERR_IO;
}

static mv_err event_locked(registry *r, int64_t group_id, int64_t actor_id, const char *kind, const char *details,
                           uint64_t now)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "INSERT INTO group_events (group_id, at, actor_id, kind, details) VALUES (?1, ?2, ?3, ?4, ?5)",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        bind_u64(st, 2, now);
        if (actor_id > 0)
            sqlite3_bind_int64(st, 3, actor_id);
        else
            sqlite3_bind_null(st, 3);
        bind_text(st, 4, kind);
        bind_text(st, 5, details ? details : "");
        rc = step_done(r, st, "group event");
    }
    sqlite3_finalize(st);
    return rc;
}

#define GROUP_COLS "id, gid, name, created_at, epoch, chain_start, next_chain, ek, t, n, ek_shares, dedup_gen"

static mv_err group_from_row(sqlite3_stmt *st, registry_group *g)
{
    uint8_t shares[REGISTRY_GROUP_MAX_OPENERS * 32];
    mv_err rc;
    memset(g, 0, sizeof *g);
    g->id = sqlite3_column_int64(st, 0);
    col_copy(st, 2, g->name, sizeof g->name);
    g->created_at = col_u64(st, 3);
    g->epoch = col_u64(st, 4);
    g->chain_start = col_u64(st, 5);
    g->next_chain = sqlite3_column_int(st, 6) != 0;
    g->t = (unsigned)sqlite3_column_int(st, 8);
    g->n = (unsigned)sqlite3_column_int(st, 9);
    g->dedup_gen = col_u64(st, 11);
    if (g->dedup_gen < 1 || g->n < 1 || g->n > REGISTRY_GROUP_MAX_OPENERS || g->t < 1 || g->t > g->n)
        return MV_ERR_IO;
    if ((rc = col_hex(st, 1, g->gid, 16)) != MV_OK || (rc = col_hex(st, 7, g->ek, 32)) != MV_OK ||
        (rc = col_hex(st, 10, shares, 32 * (size_t)g->n)) != MV_OK)
        return rc;
    memcpy(g->ek_shares, shares, 32 * (size_t)g->n);
    return MV_OK;
}

static mv_err group_by_id(registry *r, int64_t id, registry_group *g)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r, "SELECT " GROUP_COLS " FROM groups WHERE id = ?1", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, id);
        if ((rc = step_row(r, st, "group")) == MV_OK)
            rc = group_from_row(st, g);
    }
    sqlite3_finalize(st);
    return rc;
}

mv_err registry_group_get(registry *r, const char *name_or_id, registry_group *out)
{
    sqlite3_stmt *st = NULL;
    if (!r || !name_or_id || !out)
        return MV_ERR_INVAL;
    if (strlen(name_or_id) > REGISTRY_GROUP_NAME_MAX)
        return MV_ERR_NOT_FOUND;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "SELECT " GROUP_COLS " FROM groups WHERE name = ?1 OR gid = ?1", &st);
    if (rc == MV_OK) {
        bind_text(st, 1, name_or_id);
        if ((rc = step_row(r, st, "group")) == MV_OK)
            rc = group_from_row(st, out);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_create(registry *r, const registry_group *g, const uint8_t *opener_pks, const uint8_t *sealed,
                             int64_t actor_id, uint64_t now, const char **why)
{
    sqlite3_stmt *st = NULL;
    registry_user *u = NULL;
    int64_t gid = 0;
    char details[REGISTRY_GROUP_DETAILS_MAX + 1];
    size_t dl = 0;
    if (!r || !g || !opener_pks || !sealed)
        return MV_ERR_INVAL;
    if (!registry_group_name_ok(g->name)) {
        WHY("a group name is 1-64 characters of [A-Za-z0-9_.-] and not 32 hex digits");
        return MV_ERR_INVAL;
    }
    if (g->n < 1 || g->n > REGISTRY_GROUP_MAX_OPENERS || g->t < 1 || g->t > g->n) {
        WHY("openers: 1 <= t <= n <= 8");
        return MV_ERR_INVAL;
    }
    for (unsigned i = 0; i < g->n; i++)
        for (unsigned j = 0; j < i; j++)
            if (memcmp(opener_pks + 32 * i, opener_pks + 32 * j, 32) == 0) {
                WHY("an opener is named twice");
                return MV_ERR_INVAL;
            }
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    dl = (size_t)snprintf(details, sizeof details, "%u of %u openers:", g->t, g->n);
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = prep(r, "SELECT count(*) FROM groups", &st)) == MV_OK) {
        if ((rc = step_row(r, st, "groups")) == MV_OK && col_u64(st, 0) >= REGISTRY_MAX_GROUPS) {
            WHY("the hospital has the maximum number of groups");
            rc = MV_ERR_RATE_LIMITED;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && (rc = prep(r, "SELECT 1 FROM groups WHERE name = ?1 OR gid = ?2", &st)) == MV_OK) {
        bind_text(st, 1, g->name);
        bind_hex(st, 2, g->gid, 16);
        if ((rc = step_row(r, st, "groups")) == MV_OK) {
            WHY("a group of that name exists");
            rc = MV_ERR_EXISTS;
        } else if (rc == MV_ERR_NOT_FOUND) {
            rc = MV_OK;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && (rc = prep(r,
                                  "INSERT INTO groups (gid, name, created_at, created_by, ek, t, n, ek_shares) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                  &st)) == MV_OK) {
        bind_hex(st, 1, g->gid, 16);
        bind_text(st, 2, g->name);
        bind_u64(st, 3, now);
        sqlite3_bind_int64(st, 4, actor_id);
        bind_hex(st, 5, g->ek, 32);
        sqlite3_bind_int(st, 6, (int)g->t);
        sqlite3_bind_int(st, 7, (int)g->n);
        bind_hex_long(st, 8, &g->ek_shares[0][0], 32 * (size_t)g->n);
        if ((rc = step_done(r, st, "group insert")) == MV_OK)
            gid = sqlite3_last_insert_rowid(r->db);
        sqlite3_finalize(st);
        st = NULL;
    }
    for (unsigned i = 0; rc == MV_OK && i < g->n; i++) {
        if ((rc = registry_user_by_pk(r, opener_pks + 32 * i, u)) == MV_ERR_NOT_FOUND) {
            WHY("an opener is not a registered user");
            break;
        }
        if (rc == MV_OK && (strcmp(u->status, "active") != 0 || u->role == REGISTRY_ROLE_PATIENT)) {
            WHY("an opener must be an active admin or doctor");
            rc = MV_ERR_FORBIDDEN;
        }
        if (rc == MV_OK &&
            (rc = prep(r, "INSERT INTO group_openers (group_id, idx, user_id, sealed) VALUES (?1, ?2, ?3, ?4)", &st)) ==
                MV_OK) {
            sqlite3_bind_int64(st, 1, gid);
            sqlite3_bind_int(st, 2, (int)i + 1);
            sqlite3_bind_int64(st, 3, u->id);
            sqlite3_bind_blob(st, 4, sealed + REGISTRY_GROUP_SEALED_BYTES * i, REGISTRY_GROUP_SEALED_BYTES,
                              SQLITE_TRANSIENT);
            rc = step_done(r, st, "group opener");
            sqlite3_finalize(st);
            st = NULL;
        }
        if (rc == MV_OK && dl < sizeof details)
            dl += (size_t)snprintf(details + dl, sizeof details - dl, "%s %s", i ? "," : "", u->name);
    }
    if (rc == MV_OK)
        rc = event_locked(r, gid, actor_id, "create", details, now);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    mv_free(u);
    return rc;
}

#define MEMBER_COLS                                                                                                 \
    "m.user_id, u.sign_pk, u.box_pk, u.name, m.status, m.ring_pk, m.history, m.first_epoch, "                      \
    "IFNULL(m.joined_epoch, 0), IFNULL(m.removed_epoch, 0), m.key_epoch"

static mv_err member_from_row(sqlite3_stmt *st, registry_group_member *m)
{
    mv_err rc;
    memset(m, 0, sizeof *m);
    m->user_id = sqlite3_column_int64(st, 0);
    col_copy(st, 3, m->name, sizeof m->name);
    col_copy(st, 4, m->status, sizeof m->status);
    m->history = sqlite3_column_int(st, 6) != 0;
    m->first_epoch = col_u64(st, 7);
    m->joined_epoch = col_u64(st, 8);
    m->removed_epoch = col_u64(st, 9);
    m->key_epoch = col_u64(st, 10);
    if ((rc = col_hex(st, 1, m->sign_pk, 32)) != MV_OK || (rc = col_hex(st, 2, m->box_pk, 32)) != MV_OK)
        return rc;
    if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
        if ((rc = col_hex(st, 5, m->ring_pk, 32)) != MV_OK)
            return rc;
        m->has_ring = 1;
    }
    return MV_OK;
}

static mv_err member_locked(registry *r, int64_t group_id, int64_t user_id, registry_group_member *out)
{
    sqlite3_stmt *st = NULL;
    mv_err rc = prep(r,
                     "SELECT " MEMBER_COLS " FROM group_members m JOIN users u ON u.id = m.user_id "
                     "WHERE m.group_id = ?1 AND m.user_id = ?2",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        sqlite3_bind_int64(st, 2, user_id);
        if ((rc = step_row(r, st, "group member")) == MV_OK)
            rc = member_from_row(st, out);
    }
    sqlite3_finalize(st);
    return rc;
}

mv_err registry_group_member_get(registry *r, int64_t group_id, int64_t user_id, registry_group_member *out)
{
    if (!r || !out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = member_locked(r, group_id, user_id, out);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_whois(registry *r, int64_t group_id, const uint8_t ring_pk[32], registry_group_member *out)
{
    sqlite3_stmt *st = NULL;
    if (!r || !ring_pk || !out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT " MEMBER_COLS " FROM group_members m JOIN users u ON u.id = m.user_id "
                     "WHERE m.group_id = ?1 AND m.ring_pk = ?2",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        bind_hex(st, 2, ring_pk, 32);
        if ((rc = step_row(r, st, "group whois")) == MV_OK)
            rc = member_from_row(st, out);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_add(registry *r, int64_t group_id, const uint8_t *user_pks, size_t n, int history,
                          int64_t actor_id, uint64_t now, size_t *added, const char **why)
{
    sqlite3_stmt *st = NULL;
    registry_user *u = NULL;
    registry_group g;
    registry_group_member m;
    size_t count = 0, total = 0;
    char details[REGISTRY_GROUP_DETAILS_MAX + 1];
    if (!r || (n && !user_pks) || n > REGISTRY_GROUP_MAX_MEMBERS)
        return MV_ERR_INVAL;
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = group_by_id(r, group_id, &g)) == MV_ERR_NOT_FOUND)
        WHY("no such group");
    if (rc == MV_OK &&
        (rc = prep(r, "SELECT count(*) FROM group_members WHERE group_id = ?1 AND status != 'removed'", &st)) ==
            MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        if ((rc = step_row(r, st, "group members")) == MV_OK)
            total = (size_t)col_u64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
    }
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        if ((rc = registry_user_by_pk(r, user_pks + 32 * i, u)) == MV_ERR_NOT_FOUND) {
            WHY("a user to add is not registered");
            break;
        }
        if (rc == MV_OK && strcmp(u->status, "active") != 0) {
            WHY("a user to add is not active");
            rc = MV_ERR_BAD_STATE;
        }
        if (rc != MV_OK)
            break;
        rc = member_locked(r, group_id, u->id, &m);
        if (rc == MV_OK && strcmp(m.status, "removed") != 0)
            continue; /* already invited or active: left as she is */
        if (rc != MV_OK && rc != MV_ERR_NOT_FOUND)
            break;
        /* A removed member added again reads, by default, only from her new join on: what the
         * group wrote while she was out is not hers unless the admin says so. */
        int h = history >= 0 ? history != 0 : rc == MV_ERR_NOT_FOUND;
        rc = MV_OK;
        if (++total > REGISTRY_GROUP_MAX_MEMBERS) {
            WHY("the group would exceed 4096 members");
            rc = MV_ERR_TOO_LARGE;
            break;
        }
        /* A member added again keeps her ring key (registry_group_join refuses another): the
         * signatures of her first membership still trace to her. Without history she reads
         * from her join epoch on, which starts a chain of its own (registry_group_join sets
         * first_epoch then): the key she receives cannot be regressed into any epoch before. */
        uint64_t first = h ? 1 : g.epoch + 1;
        rc = prep(r,
                  "INSERT INTO group_members (group_id, user_id, status, history, first_epoch, added_at) "
                  "VALUES (?1, ?2, 'invited', ?3, ?4, ?5) ON CONFLICT (group_id, user_id) DO UPDATE SET "
                  "status = 'invited', history = ?3, first_epoch = ?4, added_at = ?5, "
                  "joined_epoch = NULL, removed_epoch = NULL",
                  &st);
        if (rc == MV_OK) {
            sqlite3_bind_int64(st, 1, group_id);
            sqlite3_bind_int64(st, 2, u->id);
            sqlite3_bind_int(st, 3, h);
            bind_u64(st, 4, first);
            bind_u64(st, 5, now);
            rc = step_done(r, st, "group member insert");
            sqlite3_finalize(st);
            st = NULL;
        }
        if (rc == MV_OK) {
            snprintf(details, sizeof details, "%s (%s history)", u->name, h ? "with" : "without");
            rc = event_locked(r, group_id, actor_id, "add", details, now);
        }
        count++;
    }
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    mv_free(u);
    if (added)
        *added = rc == MV_OK ? count : 0;
    return rc;
}

/* Issues g's next epoch (caller holds the lock inside a transaction, after changing the
 * membership): collects the ring keys of the active members whose user is active, has fn sign
 * the roster, stores it. new_dedup 1 (a member who had joined left) moves the group to the
 * next generation of its dedup secret from this epoch on. */
static mv_err issue_epoch(registry *r, const registry_group *g, int new_dedup, uint64_t now, registry_epoch_fn fn,
                          void *ctx, uint64_t *epoch, const char **why)
{
    sqlite3_stmt *st = NULL;
    uint8_t *members = NULL, hash[32];
    size_t n = 0;
    int s = SQLITE_DONE;
    char details[96];
    mv_buf roster;
    mv_buf_init(&roster, (size_t)1 << 20);
    if (g->epoch >= REGISTRY_GROUP_MAX_EPOCHS) {
        WHY("the group has used all its epochs");
        return MV_ERR_BAD_STATE;
    }
    if (!fn) {
        WHY("a group epoch cannot be issued here: no roster signer");
        return MV_ERR_INVAL;
    }
    registry_epoch e = {.g = g, .epoch = g->epoch + 1, .now = now, .dedup_gen = g->dedup_gen + (new_dedup ? 1 : 0)};
    e.chain_start = g->next_chain ? e.epoch : g->chain_start;
    if (!(members = mv_mallocarray(REGISTRY_GROUP_MAX_MEMBERS, 32)))
        return MV_ERR_NOMEM;
    /* The user's own status too: a suspended or revoked user is never in a roster, whatever a
     * membership row says. */
    mv_err rc = prep(r,
                     "SELECT m.ring_pk FROM group_members m JOIN users u ON u.id = m.user_id "
                     "WHERE m.group_id = ?1 AND m.status = 'active' AND u.status = 'active' "
                     "ORDER BY m.ring_pk LIMIT ?2",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, g->id);
        sqlite3_bind_int(st, 2, REGISTRY_GROUP_MAX_MEMBERS);
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
            if ((rc = col_hex(st, 0, members + 32 * n, 32)) == MV_OK)
                n++;
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "group ring keys");
        sqlite3_finalize(st);
        st = NULL;
    }
    e.members = members;
    e.n_members = n;
    memset(hash, 0, sizeof hash);
    if (rc == MV_OK)
        rc = fn(ctx, &e, &roster, hash);
    if (rc == MV_OK && (rc = prep(r,
                                  "INSERT INTO group_epochs (group_id, epoch, roster, roster_hash, n_members, "
                                  "chain_start, issued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                  &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, g->id);
        bind_u64(st, 2, e.epoch);
        if (roster.len && n >= MIN_MEMBERS) {
            sqlite3_bind_blob(st, 3, roster.ptr, (int)roster.len, SQLITE_TRANSIENT);
            bind_hex(st, 4, hash, 32);
        } else {
            sqlite3_bind_null(st, 3);
            sqlite3_bind_null(st, 4);
        }
        bind_u64(st, 5, n);
        bind_u64(st, 6, e.chain_start);
        bind_u64(st, 7, now);
        rc = step_done(r, st, "group epoch");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK &&
        (rc = prep(r, "UPDATE groups SET epoch = ?1, chain_start = ?2, next_chain = 0, dedup_gen = ?3 WHERE id = ?4",
                   &st)) == MV_OK) {
        bind_u64(st, 1, e.epoch);
        bind_u64(st, 2, e.chain_start);
        bind_u64(st, 3, e.dedup_gen);
        sqlite3_bind_int64(st, 4, g->id);
        rc = step_done(r, st, "group epoch update");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK) {
        snprintf(details, sizeof details, "epoch %llu: %zu members%s%s", (unsigned long long)e.epoch, n,
                 e.chain_start == e.epoch ? ", new key chain" : "", new_dedup ? ", new dedup secret" : "");
        rc = event_locked(r, g->id, 0, "epoch", details, now);
    }
    if (rc == MV_OK)
        *epoch = e.epoch;
    mv_free(members);
    mv_buf_clear(&roster);
    return rc;
}

mv_err registry_group_join(registry *r, int64_t group_id, int64_t user_id, const uint8_t ring_pk[32], uint64_t now,
                           registry_epoch_fn fn, void *ctx, uint64_t *epoch, const char **why)
{
    sqlite3_stmt *st = NULL;
    registry_group g;
    registry_group_member m;
    if (!r || !ring_pk || !fn || !epoch)
        return MV_ERR_INVAL;
    *epoch = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = group_by_id(r, group_id, &g)) == MV_ERR_NOT_FOUND)
        WHY("no such group");
    if (rc == MV_OK && (rc = member_locked(r, group_id, user_id, &m)) == MV_ERR_NOT_FOUND) {
        WHY("you are not invited to this group");
        rc = MV_ERR_FORBIDDEN;
    }
    if (rc == MV_OK && !strcmp(m.status, "removed")) {
        WHY("you were removed from this group");
        rc = MV_ERR_FORBIDDEN;
    } else if (rc == MV_OK && !strcmp(m.status, "active")) {
        WHY("you have already joined this group");
        rc = MV_ERR_BAD_STATE;
    }
    /* One ring key per member per group, for good: a new one would cut her earlier signatures
     * (already opened or not) off from her, and let her sign twice under two names. */
    if (rc == MV_OK && m.has_ring && memcmp(m.ring_pk, ring_pk, 32) != 0) {
        WHY("you joined this group before with another ring key: join with the same one (your earlier "
            "signatures trace to it)");
        rc = MV_ERR_EXISTS;
    }
    if (rc == MV_OK &&
        (rc = prep(r, "SELECT 1 FROM group_members WHERE group_id = ?1 AND ring_pk = ?2 AND user_id != ?3", &st)) ==
            MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        bind_hex(st, 2, ring_pk, 32);
        sqlite3_bind_int64(st, 3, user_id);
        if ((rc = step_row(r, st, "group ring key")) == MV_OK) {
            WHY("this ring key is another member's");
            rc = MV_ERR_EXISTS;
        } else if (rc == MV_ERR_NOT_FOUND) {
            rc = MV_OK;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    /* Without history her join epoch starts a key chain of its own and is the first she reads:
     * no key she receives regresses into an epoch before she joined. */
    if (rc == MV_OK && !m.history)
        g.next_chain = 1;
    if (rc == MV_OK && (rc = prep(r,
                                  "UPDATE group_members SET status = 'active', ring_pk = ?1, joined_epoch = ?2, "
                                  "first_epoch = CASE WHEN history THEN first_epoch ELSE ?2 END "
                                  "WHERE group_id = ?3 AND user_id = ?4",
                                  &st)) == MV_OK) {
        bind_hex(st, 1, ring_pk, 32);
        bind_u64(st, 2, g.epoch + 1);
        sqlite3_bind_int64(st, 3, group_id);
        sqlite3_bind_int64(st, 4, user_id);
        rc = step_done(r, st, "group join");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK)
        rc = event_locked(r, group_id, user_id, "join", m.name, now);
    if (rc == MV_OK)
        rc = issue_epoch(r, &g, 0, now, fn, ctx, epoch, why);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    if (rc != MV_OK)
        *epoch = 0;
    return rc;
}

/* Marks m removed from g and logs 'remove' by actor_id (0: none) with details; if she had
 * joined, issues the next epoch without her and with the next dedup secret (*epoch = it, else
 * 0). Caller holds the lock inside a transaction. */
static mv_err drop_member_locked(registry *r, const registry_group *g, const registry_group_member *m, int64_t actor_id,
                                 const char *details, uint64_t now, registry_epoch_fn fn, void *ctx, uint64_t *epoch,
                                 const char **why)
{
    sqlite3_stmt *st = NULL;
    int joined = !strcmp(m->status, "active");
    *epoch = 0;
    mv_err rc = prep(r,
                     "UPDATE group_members SET status = 'removed', removed_epoch = ?1 "
                     "WHERE group_id = ?2 AND user_id = ?3",
                     &st);
    if (rc == MV_OK) {
        if (joined)
            bind_u64(st, 1, g->epoch + 1);
        else
            sqlite3_bind_null(st, 1);
        sqlite3_bind_int64(st, 2, g->id);
        sqlite3_bind_int64(st, 3, m->user_id);
        rc = step_done(r, st, "group remove");
    }
    sqlite3_finalize(st);
    if (rc == MV_OK)
        rc = event_locked(r, g->id, actor_id, "remove", details, now);
    /* She knew the dedup secret of this generation: what the group stores after her removal is
     * keyed under the next one. */
    if (rc == MV_OK && joined)
        rc = issue_epoch(r, g, 1, now, fn, ctx, epoch, why);
    return rc;
}

mv_err registry_group_remove(registry *r, int64_t group_id, const uint8_t user_pk[32], int64_t actor_id, uint64_t now,
                             registry_epoch_fn fn, void *ctx, uint64_t *epoch, const char **why)
{
    registry_group g;
    registry_group_member m;
    registry_user *u = NULL;
    if (!r || !user_pk || !fn || !epoch)
        return MV_ERR_INVAL;
    *epoch = 0;
    if (!(u = mv_calloc(1, sizeof *u)))
        return MV_ERR_NOMEM;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK && (rc = group_by_id(r, group_id, &g)) == MV_ERR_NOT_FOUND)
        WHY("no such group");
    if (rc == MV_OK && (rc = registry_user_by_pk(r, user_pk, u)) == MV_ERR_NOT_FOUND)
        WHY("no such user");
    if (rc == MV_OK && (rc = member_locked(r, group_id, u->id, &m)) == MV_ERR_NOT_FOUND)
        WHY("the user is not a member of this group");
    if (rc == MV_OK && !strcmp(m.status, "removed")) {
        WHY("the user was already removed");
        rc = MV_ERR_BAD_STATE;
    }
    if (rc == MV_OK)
        rc = drop_member_locked(r, &g, &m, actor_id, m.name, now, fn, ctx, epoch, why);
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    if (rc != MV_OK)
        *epoch = 0;
    mv_free(u);
    return rc;
}

mv_err registry_groups_drop_user(registry *r, int64_t user_id, uint64_t now, registry_epoch_fn fn, void *ctx,
                                 const char **why)
{
    sqlite3_stmt *st = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int s = SQLITE_DONE;
    registry_group g;
    registry_group_member m;
    char details[REGISTRY_GROUP_DETAILS_MAX + 1];
    uint64_t epoch = 0;
    /* The groups first, then one change each: issuing an epoch runs statements of its own. */
    mv_err rc = prep(r, "SELECT group_id FROM group_members WHERE user_id = ?1 AND status != 'removed' ORDER BY group_id",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, user_id);
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == REGISTRY_MAX_GROUPS) {
                rc = MV_ERR_TOO_LARGE; /* the hospital has no more groups than that */
                break;
            }
            if ((rc = mv_array_grow(&ids, &cap, n, sizeof *ids, 16)) == MV_OK)
                ids[n++] = sqlite3_column_int64(st, 0);
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "groups of a user");
    }
    sqlite3_finalize(st);
    for (size_t i = 0; rc == MV_OK && i < n; i++) {
        if ((rc = group_by_id(r, ids[i], &g)) == MV_OK && (rc = member_locked(r, ids[i], user_id, &m)) == MV_OK) {
            snprintf(details, sizeof details, "%s (user no longer active)", m.name);
            rc = drop_member_locked(r, &g, &m, 0, details, now, fn, ctx, &epoch, why);
        }
    }
    mv_free(ids);
    return rc;
}

mv_err registry_group_roster(registry *r, int64_t group_id, uint64_t epoch, mv_buf *out, uint64_t *epoch_out)
{
    sqlite3_stmt *st = NULL;
    if (!r || !out || !epoch_out)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT e.epoch, e.roster FROM group_epochs e JOIN groups g ON g.id = e.group_id "
                     "WHERE e.group_id = ?1 AND e.epoch = CASE WHEN ?2 = 0 THEN g.epoch ELSE ?2 END",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        bind_u64(st, 2, epoch);
        if ((rc = step_row(r, st, "group roster")) == MV_OK) {
            *epoch_out = col_u64(st, 0);
            const void *p = sqlite3_column_blob(st, 1);
            int len = sqlite3_column_bytes(st, 1);
            if (!p || len <= 0)
                rc = MV_ERR_BAD_STATE;
            else
                rc = mv_buf_append(out, p, (size_t)len);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_key_ranges(registry *r, int64_t group_id, int64_t user_id, uint64_t now, registry_key_range *out,
                                 size_t max, size_t *n, uint64_t *dedup_gen)
{
    sqlite3_stmt *st = NULL;
    registry_group_member m;
    registry_group g;
    int s = SQLITE_DONE;
    char details[64];
    if (!r || !out || !n)
        return MV_ERR_INVAL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = tx_begin(r);
    if (rc == MV_OK)
        rc = group_by_id(r, group_id, &g);
    if (rc == MV_OK && (rc = member_locked(r, group_id, user_id, &m)) == MV_ERR_NOT_FOUND)
        rc = MV_ERR_FORBIDDEN;
    if (rc == MV_OK && strcmp(m.status, "active") != 0)
        rc = MV_ERR_FORBIDDEN;
    if (rc == MV_OK && (rc = prep(r,
                                  "SELECT chain_start, min(epoch), max(epoch) FROM group_epochs "
                                  "WHERE group_id = ?1 AND epoch >= ?2 GROUP BY chain_start ORDER BY chain_start",
                                  &st)) == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        bind_u64(st, 2, m.first_epoch);
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == max) {
                rc = MV_ERR_TOO_LARGE;
                break;
            }
            out[*n].chain_start = col_u64(st, 0);
            out[*n].first = col_u64(st, 1);
            out[*n].last = col_u64(st, 2);
            (*n)++;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "group key ranges");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc == MV_OK && *n == 0)
        rc = MV_ERR_NOT_FOUND;
    /* Logged once per member per epoch: a member works offline between epochs, and a log entry
     * per fetch would give the manager a timeline to match against anonymous operations. */
    if (rc == MV_OK && m.key_epoch < out[*n - 1].last) {
        snprintf(details, sizeof details, "epochs %llu to %llu", (unsigned long long)out[0].first,
                 (unsigned long long)out[*n - 1].last);
        rc = event_locked(r, group_id, user_id, "key", details, now);
        if (rc == MV_OK &&
            (rc = prep(r, "UPDATE group_members SET key_epoch = ?1 WHERE group_id = ?2 AND user_id = ?3", &st)) ==
                MV_OK) {
            bind_u64(st, 1, out[*n - 1].last);
            sqlite3_bind_int64(st, 2, group_id);
            sqlite3_bind_int64(st, 3, user_id);
            rc = step_done(r, st, "group key epoch");
            sqlite3_finalize(st);
            st = NULL;
        }
    }
    rc = tx_end(r, rc);
    pthread_mutex_unlock(&r->lock);
    if (rc != MV_OK)
        *n = 0;
    if (dedup_gen)
        *dedup_gen = rc == MV_OK ? g.dedup_gen : 0;
    return rc;
}

mv_err registry_group_removed_keys(registry *r, int64_t group_id, uint8_t **keys, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int s = SQLITE_DONE;
    size_t cap = 0;
    if (!r || !keys || !n)
        return MV_ERR_INVAL;
    *keys = NULL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT ring_pk FROM group_members WHERE group_id = ?1 AND status = 'removed' "
                     "AND ring_pk IS NOT NULL ORDER BY ring_pk",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = mv_array_grow(keys, &cap, *n, 32, 16)) != MV_OK)
                break;
            if ((rc = col_hex(st, 0, *keys + 32 * *n, 32)) == MV_OK)
                (*n)++;
        }
        if (rc == MV_OK && s != SQLITE_DONE)
            rc = db_err(r, s, "group removed keys");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    if (rc != MV_OK) {
        mv_free(*keys);
        *keys = NULL;
        *n = 0;
    }
    return rc;
}

mv_err registry_group_opener(registry *r, int64_t group_id, int64_t user_id, unsigned *idx,
                             uint8_t sealed[REGISTRY_GROUP_SEALED_BYTES])
{
    sqlite3_stmt *st = NULL;
    if (!r || !idx || !sealed)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "SELECT idx, sealed FROM group_openers WHERE group_id = ?1 AND user_id = ?2", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        sqlite3_bind_int64(st, 2, user_id);
        if ((rc = step_row(r, st, "group opener")) == MV_OK) {
            const void *p = sqlite3_column_blob(st, 1);
            if (!p || sqlite3_column_bytes(st, 1) != REGISTRY_GROUP_SEALED_BYTES) {
                rc = MV_ERR_IO;
            } else {
                *idx = (unsigned)sqlite3_column_int(st, 0);
                memcpy(sealed, p, REGISTRY_GROUP_SEALED_BYTES);
            }
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_event(registry *r, int64_t group_id, int64_t actor_id, const char *kind, const char *details,
                            uint64_t now)
{
    if (!r || !kind || !registry_text_ok(details, REGISTRY_GROUP_DETAILS_MAX))
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = event_locked(r, group_id, actor_id, kind, details, now);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---------- JSON ---------- */

#define SUMMARY_COLS                                                                                                \
    "g.gid, g.name, g.epoch, g.t, g.n, g.created_at, "                                                               \
    "(SELECT count(*) FROM group_members a WHERE a.group_id = g.id AND a.status = 'active'), "                       \
    "IFNULL((SELECT v.status FROM group_members v WHERE v.group_id = g.id AND v.user_id = ?1), ''), "                \
    "EXISTS (SELECT 1 FROM group_openers o WHERE o.group_id = g.id AND o.user_id = ?1)"

/* The members of GROUP_SUMMARY, in an object already opened. */
static void summary_fields(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_kstr(w, "id", col_str(st, 0));
    mv_jw_kstr(w, "name", col_str(st, 1));
    mv_jw_ku64(w, "epoch", col_u64(st, 2));
    mv_jw_ku64(w, "t", col_u64(st, 3));
    mv_jw_ku64(w, "n", col_u64(st, 4));
    mv_jw_ku64(w, "created_at", col_u64(st, 5));
    mv_jw_ku64(w, "member_count", col_u64(st, 6));
    mv_jw_kstr(w, "status", col_str(st, 7));
    mv_jw_kbool(w, "opener", sqlite3_column_int(st, 8) != 0);
}

static void summary_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    summary_fields(w, st);
    mv_jw_obj_end(w);
}

mv_err registry_groups_json(registry *r, int64_t viewer_id, int all, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    if (!r || !b)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT " SUMMARY_COLS " FROM groups g WHERE ?2 OR EXISTS (SELECT 1 FROM group_members x WHERE "
                     "x.group_id = g.id AND x.user_id = ?1) OR EXISTS (SELECT 1 FROM group_openers y WHERE "
                     "y.group_id = g.id AND y.user_id = ?1) ORDER BY g.name",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, viewer_id);
        sqlite3_bind_int(st, 2, all ? 1 : 0);
        rc = json_list(r, st, b, "groups", summary_json, "groups");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Appends key: [rows of sql bound to group_id, each written by one]; caller holds the lock. */
static void json_rows(registry *r, mv_jw *w, const char *key, const char *sql, int64_t group_id, json_row_fn one)
{
    sqlite3_stmt *st = NULL;
    int s = SQLITE_DONE;
    mv_err rc = prep(r, sql, &st);
    mv_jw_key(w, key);
    mv_jw_arr(w);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        while (w->rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
            one(w, st);
        if (s != SQLITE_DONE && s != SQLITE_ROW)
            rc = db_err(r, s, key);
    }
    sqlite3_finalize(st);
    mv_jw_arr_end(w);
    if (rc != MV_OK && w->rc == MV_OK)
        w->rc = rc;
}

static void member_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_kstr(w, "name", col_str(st, 0));
    mv_jw_kstr(w, "sign_public_key", col_str(st, 1));
    mv_jw_kstr(w, "status", col_str(st, 2));
    if (sqlite3_column_type(st, 3) == SQLITE_NULL)
        mv_jw_knull(w, "ring_public_key");
    else
        mv_jw_kstr(w, "ring_public_key", col_str(st, 3));
    mv_jw_kbool(w, "history", sqlite3_column_int(st, 4) != 0);
    mv_jw_ku64(w, "first_epoch", col_u64(st, 5));
    mv_jw_ku64(w, "joined_epoch", col_u64(st, 6));
    mv_jw_ku64(w, "removed_epoch", col_u64(st, 7));
    mv_jw_obj_end(w);
}

static void opener_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_ku64(w, "index", col_u64(st, 0));
    mv_jw_kstr(w, "name", col_str(st, 1));
    mv_jw_kstr(w, "sign_public_key", col_str(st, 2));
    mv_jw_obj_end(w);
}

static void epoch_json(mv_jw *w, sqlite3_stmt *st)
{
    mv_jw_obj(w);
    mv_jw_ku64(w, "epoch", col_u64(st, 0));
    mv_jw_ku64(w, "members", col_u64(st, 1));
    if (sqlite3_column_type(st, 2) == SQLITE_NULL)
        mv_jw_knull(w, "roster_hash");
    else
        mv_jw_kstr(w, "roster_hash", col_str(st, 2));
    mv_jw_ku64(w, "chain_start", col_u64(st, 3));
    mv_jw_ku64(w, "issued_at", col_u64(st, 4));
    mv_jw_obj_end(w);
}

mv_err registry_group_json(registry *r, int64_t group_id, int64_t viewer_id, int full, mv_buf *b)
{
    sqlite3_stmt *st = NULL;
    mv_jw w;
    if (!r || !b)
        return MV_ERR_INVAL;
    mv_jw_init(&w, b);
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r, "SELECT " SUMMARY_COLS ", g.ek, g.ek_shares, g.chain_start FROM groups g WHERE g.id = ?2", &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, viewer_id);
        sqlite3_bind_int64(st, 2, group_id);
        rc = step_row(r, st, "group");
    }
    if (rc == MV_OK) {
        mv_jw_obj(&w);
        summary_fields(&w, st);
        mv_jw_kstr(&w, "ek", col_str(st, 9));
        mv_jw_kstr(&w, "ek_shares", col_str(st, 10));
        mv_jw_ku64(&w, "chain_start", col_u64(st, 11));
        if (full) {
            json_rows(r, &w, "members",
                      "SELECT u.name, u.sign_pk, m.status, m.ring_pk, m.history, m.first_epoch, "
                      "IFNULL(m.joined_epoch, 0), IFNULL(m.removed_epoch, 0) FROM group_members m "
                      "JOIN users u ON u.id = m.user_id WHERE m.group_id = ?1 ORDER BY u.name",
                      group_id, member_json);
            json_rows(r, &w, "openers",
                      "SELECT o.idx, u.name, u.sign_pk FROM group_openers o JOIN users u ON u.id = o.user_id "
                      "WHERE o.group_id = ?1 ORDER BY o.idx",
                      group_id, opener_json);
            json_rows(r, &w, "epochs",
                      "SELECT epoch, n_members, roster_hash, chain_start, issued_at FROM group_epochs "
                      "WHERE group_id = ?1 ORDER BY epoch DESC LIMIT 1000",
                      group_id, epoch_json);
        }
        mv_jw_obj_end(&w);
        rc = mv_jw_finish(&w);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

mv_err registry_group_event_rows(registry *r, int64_t group_id, size_t limit, registry_group_event_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int s = SQLITE_DONE;
    if (!r || !fn)
        return MV_ERR_INVAL;
    pthread_mutex_lock(&r->lock);
    mv_err rc = prep(r,
                     "SELECT e.id, e.at, e.kind, e.details, IFNULL(u.name, '') FROM group_events e "
                     "LEFT JOIN users u ON u.id = e.actor_id WHERE e.group_id = ?1 ORDER BY e.id DESC LIMIT ?2",
                     &st);
    if (rc == MV_OK) {
        sqlite3_bind_int64(st, 1, group_id);
        sqlite3_bind_int64(st, 2, limit ? (sqlite3_int64)limit : -1);
        while (rc == MV_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
            registry_group_event_row row = {
                .id = sqlite3_column_int64(st, 0),
                .at = col_u64(st, 1),
                .kind = col_str(st, 2),
                .details = col_str(st, 3),
                .actor = col_str(st, 4),
            };
            rc = fn(ctx, &row);
        }
        if (rc == MV_OK && s != SQLITE_DONE && s != SQLITE_ROW)
            rc = db_err(r, s, "group events");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return rc;
}
