/* test_registry_groups.c - the group tables of the hospital registry (src/hospital/
 * registry_groups.c, docs/groups.md) on a real SQLite file: group names and openers, who may
 * join, every join and every removal of a joined member issuing exactly the next epoch in one
 * transaction with the change (a failing signer leaves nothing changed), no roster below two
 * members, the key ranges of members with and without history across key chains, removed and
 * re-added members, and the event log. The epoch callback here records what the registry asks
 * it to sign; the real signer (hospital_groups.c) is covered by tests/integration/test_groups.sh. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "hospital/registry.h"
#include "medvault/mv_mem.h"

static void key(uint8_t pk[32], uint8_t seed)
{
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)(seed * 31 + i);
}

static registry *open_fresh(void)
{
    registry *r = NULL;
    assert_int_equal(registry_open(tu_tmpdir(), &r), MV_OK);
    return r;
}

/* Registers an active user; *id_out her id. */
static void user(registry *r, const char *name, const char *role, uint8_t seed, int64_t *id_out)
{
    registry_new_user nu;
    registry_user u;
    const char *d[1] = {"oncology"};
    memset(&nu, 0, sizeof nu);
    nu.name = name;
    nu.role = role;
    nu.departments = d;
    nu.n_departments = strcmp(role, "admin") ? 1 : 0;
    key(nu.sign_pk, seed);
    key(nu.box_pk, (uint8_t)(seed + 100));
    nu.status = "active";
    assert_int_equal(registry_user_add(r, &nu, 1000, 1000, 4600, &u, NULL), MV_OK);
    if (id_out)
        *id_out = u.id;
}

/* What the signer was asked last, and a switch to make it fail. */
typedef struct signer {
    registry_epoch last;
    uint8_t members[8][32];
    int calls;
    mv_err fail;
} signer;

static mv_err sign_fn(void *ctx, const registry_epoch *e, mv_buf *roster, uint8_t hash[32])
{
    signer *s = ctx;
    s->calls++;
    s->last = *e;
    assert_true(e->n_members <= 8);
    memcpy(s->members, e->members, 32 * e->n_members);
    if (s->fail != MV_OK)
        return s->fail;
    if (e->n_members < 2)
        return MV_OK;
    memset(hash, (int)e->epoch, 32);
    char text[32];
    int l = snprintf(text, sizeof text, "roster %llu/%zu", (unsigned long long)e->epoch, e->n_members);
    return mv_buf_append(roster, text, (size_t)l);
}

/* A group "board" of admin 1 with one opener (the admin) and id 0x11.. */
static int64_t make_group(registry *r, int64_t admin_id, uint8_t admin_seed)
{
    registry_group g, got;
    uint8_t opener[32], sealed[REGISTRY_GROUP_SEALED_BYTES];
    memset(&g, 0, sizeof g);
    memset(g.gid, 0x11, 16);
    snprintf(g.name, sizeof g.name, "board");
    memset(g.ek, 7, 32);
    memset(g.ek_shares[0], 7, 32);
    g.t = g.n = 1;
    key(opener, admin_seed);
    memset(sealed, 9, sizeof sealed);
    assert_int_equal(registry_group_create(r, &g, opener, sealed, admin_id, 2000, NULL), MV_OK);
    assert_int_equal(registry_group_get(r, "board", &got), MV_OK);
    assert_int_equal(got.epoch, 0);
    assert_int_equal(got.chain_start, 1);
    return got.id;
}

static void test_create_rules(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, doc;
    registry_group g, got;
    uint8_t openers[3 * 32], sealed[3 * REGISTRY_GROUP_SEALED_BYTES];
    const char *why = NULL;
    user(r, "admin", "admin", 1, &admin);
    user(r, "doc", "doctor", 2, &doc);
    user(r, "pat", "patient", 3, NULL);
    assert_true(registry_group_name_ok("tumour-board_2.a"));
    assert_false(registry_group_name_ok("with space"));
    assert_false(registry_group_name_ok("0123456789abcdef0123456789abcdef")); /* an id */
    assert_false(registry_group_name_ok(""));
    memset(&g, 0, sizeof g);
    memset(g.gid, 0x22, 16);
    snprintf(g.name, sizeof g.name, "ward");
    g.t = 2;
    g.n = 3;
    memset(sealed, 1, sizeof sealed);
    key(openers, 1);
    key(openers + 32, 2);
    key(openers + 64, 3); /* a patient */
    assert_int_equal(registry_group_create(r, &g, openers, sealed, admin, 2000, &why), MV_ERR_FORBIDDEN);
    assert_string_equal(why, "an opener must be an active admin or doctor");
    assert_int_equal(registry_group_get(r, "ward", &got), MV_ERR_NOT_FOUND); /* rolled back */
    key(openers + 64, 77); /* nobody */
    assert_int_equal(registry_group_create(r, &g, openers, sealed, admin, 2000, &why), MV_ERR_NOT_FOUND);
    key(openers + 64, 2); /* doc twice */
    assert_int_equal(registry_group_create(r, &g, openers, sealed, admin, 2000, &why), MV_ERR_INVAL);
    g.n = 2;
    assert_int_equal(registry_group_create(r, &g, openers, sealed, admin, 2000, NULL), MV_OK);
    assert_int_equal(registry_group_get(r, "22222222222222222222222222222222", &got), MV_OK);
    assert_string_equal(got.name, "ward");
    assert_int_equal(got.t, 2);
    memset(g.gid, 0x33, 16);
    assert_int_equal(registry_group_create(r, &g, openers, sealed, admin, 2000, &why), MV_ERR_EXISTS);
    unsigned idx = 0;
    uint8_t s2[REGISTRY_GROUP_SEALED_BYTES];
    assert_int_equal(registry_group_opener(r, got.id, doc, &idx, s2), MV_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(registry_group_opener(r, got.id, admin + 100, &idx, s2), MV_ERR_NOT_FOUND);
    registry_close(r);
}

static void test_epochs_and_rosters(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b, c, d;
    uint8_t pks[3 * 32], ring[32];
    size_t added = 0;
    uint64_t epoch = 0, got = 0;
    signer s;
    mv_buf roster;
    const char *why = NULL;
    memset(&s, 0, sizeof s);
    mv_buf_init(&roster, 1 << 16);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    user(r, "c", "doctor", 12, &c);
    user(r, "d", "doctor", 13, &d);
    int64_t gid = make_group(r, admin, 1);
    key(pks, 10);
    key(pks + 32, 11);
    key(pks + 64, 12);
    assert_int_equal(registry_group_add(r, gid, pks, 3, 1, admin, 2001, &added, NULL), MV_OK);
    assert_int_equal(added, 3);
    assert_int_equal(registry_group_add(r, gid, pks, 1, 1, admin, 2001, &added, NULL), MV_OK);
    assert_int_equal(added, 0); /* already invited */
    assert_int_equal(registry_group_roster(r, gid, 0, &roster, &got), MV_ERR_NOT_FOUND); /* no epoch yet */
    /* d was never invited */
    key(ring, 200);
    assert_int_equal(registry_group_join(r, gid, d, ring, 2002, sign_fn, &s, &epoch, &why), MV_ERR_FORBIDDEN);
    assert_int_equal(s.calls, 0);
    /* a signer that fails leaves a invited and the group at epoch 0 */
    s.fail = MV_ERR_CRYPTO;
    assert_int_equal(registry_group_join(r, gid, a, ring, 2002, sign_fn, &s, &epoch, &why), MV_ERR_CRYPTO);
    registry_group_member m;
    assert_int_equal(registry_group_member_get(r, gid, a, &m), MV_OK);
    assert_string_equal(m.status, "invited");
    registry_group gg;
    assert_int_equal(registry_group_get(r, "board", &gg), MV_OK);
    assert_int_equal(gg.epoch, 0);
    s.fail = MV_OK;
    assert_int_equal(registry_group_join(r, gid, a, ring, 2003, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 1);
    assert_int_equal(s.last.n_members, 1);
    assert_int_equal(registry_group_roster(r, gid, 0, &roster, &got), MV_ERR_BAD_STATE); /* one member */
    assert_int_equal(registry_group_join(r, gid, a, ring, 2003, sign_fn, &s, &epoch, &why), MV_ERR_BAD_STATE);
    assert_int_equal(registry_group_join(r, gid, b, ring, 2003, sign_fn, &s, &epoch, &why), MV_ERR_EXISTS);
    uint8_t ring_b[32], ring_c[32];
    memset(ring_b, 0x01, 32); /* sorts before a's ring key */
    memset(ring_c, 0xfe, 32);
    assert_int_equal(registry_group_join(r, gid, b, ring_b, 2004, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 2);
    assert_int_equal(s.last.n_members, 2);
    assert_memory_equal(s.members[0], ring_b, 32); /* ascending */
    assert_int_equal(registry_group_join(r, gid, c, ring_c, 2005, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 3);
    assert_int_equal(registry_group_roster(r, gid, 0, &roster, &got), MV_OK);
    assert_int_equal(got, 3);
    assert_int_equal(roster.len, strlen("roster 3/3"));
    assert_memory_equal(roster.ptr, "roster 3/3", roster.len);
    roster.len = 0;
    assert_int_equal(registry_group_roster(r, gid, 2, &roster, &got), MV_OK); /* kept */
    assert_memory_equal(roster.ptr, "roster 2/2", roster.len);
    assert_int_equal(registry_group_roster(r, gid, 9, &roster, &got), MV_ERR_NOT_FOUND);
    /* Removing c issues epoch 4 without her; removing an invited-only user issues none. */
    uint8_t cpk[32], dpk[32];
    key(cpk, 12);
    key(dpk, 13);
    assert_int_equal(registry_group_remove(r, gid, cpk, admin, 2006, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 4);
    assert_int_equal(s.last.n_members, 2);
    assert_memory_not_equal(s.members[1], ring_c, 32);
    assert_int_equal(registry_group_remove(r, gid, cpk, admin, 2006, sign_fn, &s, &epoch, &why), MV_ERR_BAD_STATE);
    assert_int_equal(registry_group_remove(r, gid, dpk, admin, 2006, sign_fn, &s, &epoch, &why), MV_ERR_NOT_FOUND);
    assert_int_equal(registry_group_add(r, gid, dpk, 1, 1, admin, 2007, &added, NULL), MV_OK);
    int calls = s.calls;
    assert_int_equal(registry_group_remove(r, gid, dpk, admin, 2008, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 0);
    assert_int_equal(s.calls, calls);
    uint8_t *keys = NULL;
    size_t n = 0;
    assert_int_equal(registry_group_removed_keys(r, gid, &keys, &n), MV_OK);
    assert_int_equal(n, 1); /* c only: d never had a ring key */
    assert_memory_equal(keys, ring_c, 32);
    mv_free(keys);
    /* c added again keeps her ring key and may join with it. */
    assert_int_equal(registry_group_add(r, gid, cpk, 1, 1, admin, 2009, &added, NULL), MV_OK);
    assert_int_equal(registry_group_whois(r, gid, ring_c, &m), MV_OK);
    assert_string_equal(m.name, "c");
    assert_int_equal(registry_group_join(r, gid, c, ring_c, 2010, sign_fn, &s, &epoch, &why), MV_OK);
    assert_int_equal(epoch, 5);
    assert_int_equal(registry_group_removed_keys(r, gid, &keys, &n), MV_OK);
    assert_int_equal(n, 0);
    mv_buf_clear(&roster);
    registry_close(r);
}

static mv_err count_events(void *ctx, const registry_group_event_row *row)
{
    size_t *n = ctx;
    (void)row;
    (*n)++;
    return MV_OK;
}

static void test_key_ranges_and_history(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b, e;
    uint8_t apk[32], bpk[32], epk[32], ra[32], rb[32], re[32];
    registry_key_range kr[8];
    size_t n = 0, added = 0;
    uint64_t epoch = 0;
    signer s;
    memset(&s, 0, sizeof s);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    user(r, "e", "doctor", 12, &e);
    key(apk, 10);
    key(bpk, 11);
    key(epk, 12);
    memset(ra, 0x10, 32);
    memset(rb, 0x20, 32);
    memset(re, 0x30, 32);
    int64_t gid = make_group(r, admin, 1);
    assert_int_equal(registry_group_add(r, gid, apk, 1, 1, admin, 2001, &added, NULL), MV_OK);
    assert_int_equal(registry_group_add(r, gid, bpk, 1, 1, admin, 2001, &added, NULL), MV_OK);
    assert_int_equal(registry_group_key_ranges(r, gid, a, 2001, kr, 8, &n, NULL), MV_ERR_FORBIDDEN); /* invited */
    assert_int_equal(registry_group_join(r, gid, a, ra, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2003, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_key_ranges(r, gid, a, 2004, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kr[0].chain_start, 1);
    assert_int_equal(kr[0].first, 1);
    assert_int_equal(kr[0].last, 2);
    /* e without history: the next epoch (3, her join) starts chain 3, and she reads from it. */
    assert_int_equal(registry_group_add(r, gid, epk, 1, 0, admin, 2005, &added, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, e, re, 2006, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(epoch, 3);
    assert_int_equal(s.last.chain_start, 3);
    assert_int_equal(registry_group_remove(r, gid, bpk, admin, 2007, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(epoch, 4);
    assert_int_equal(s.last.chain_start, 3); /* a removal rotates within the chain */
    assert_int_equal(registry_group_key_ranges(r, gid, e, 2008, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kr[0].chain_start, 3);
    assert_int_equal(kr[0].first, 3);
    assert_int_equal(kr[0].last, 4);
    assert_int_equal(registry_group_key_ranges(r, gid, a, 2008, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(kr[0].chain_start, 1);
    assert_int_equal(kr[0].last, 2);
    assert_int_equal(kr[1].chain_start, 3);
    assert_int_equal(kr[1].first, 3);
    assert_int_equal(kr[1].last, 4);
    assert_int_equal(registry_group_key_ranges(r, gid, a, 2008, kr, 1, &n, NULL), MV_ERR_TOO_LARGE);
    assert_int_equal(registry_group_key_ranges(r, gid, b, 2008, kr, 8, &n, NULL), MV_ERR_FORBIDDEN); /* removed */
    size_t events = 0;
    assert_int_equal(registry_group_event_rows(r, gid, 0, count_events, &events), MV_OK);
    /* create, 3 adds, 3 joins, 3 epochs... every change and every key fetch is there */
    assert_true(events >= 1 + 3 + 3 + 4 + 1 + 3);
    registry_close(r);
}

/* Counts the events of one kind (ctx: kind_count). */
typedef struct kind_count {
    const char *kind;
    size_t n;
} kind_count;

static mv_err count_kind(void *ctx, const registry_group_event_row *row)
{
    kind_count *k = ctx;
    if (!strcmp(row->kind, k->kind))
        k->n++;
    return MV_OK;
}

static size_t events_of(registry *r, int64_t gid, const char *kind)
{
    kind_count k = {.kind = kind};
    assert_int_equal(registry_group_event_rows(r, gid, 0, count_kind, &k), MV_OK);
    return k.n;
}

/* 1 if ring is among the n ring keys at keys. */
static int has_key(const uint8_t *keys, size_t n, const uint8_t ring[32])
{
    for (size_t i = 0; i < n; i++)
        if (!memcmp(keys + 32 * i, ring, 32))
            return 1;
    return 0;
}

/* Suspending or revoking a user removes her from every group in the same transaction: a new
 * epoch without her (and a new dedup generation) where she had joined, her ring key on the
 * revocation list, no key for her; an invitation is withdrawn without an epoch; reinstating
 * her puts her back nowhere; without a signer the change is refused and nothing changes. */
static void test_suspension_removes_from_groups(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b, c, d;
    uint8_t apk[32], bpk[32], cpk[32], dpk[32], ra[32], rb[32], rc_[32];
    registry_key_range kr[8];
    registry_group g;
    registry_group_member m;
    registry_user u;
    size_t n = 0;
    uint64_t epoch = 0, gen = 0;
    uint8_t *revoked = NULL;
    const char *why = NULL;
    signer s;
    memset(&s, 0, sizeof s);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    user(r, "c", "doctor", 12, &c);
    user(r, "d", "doctor", 13, &d);
    key(apk, 10);
    key(bpk, 11);
    key(cpk, 12);
    key(dpk, 13);
    memset(ra, 0x10, 32);
    memset(rb, 0x20, 32);
    memset(rc_, 0x30, 32);
    int64_t gid = make_group(r, admin, 1);
    uint8_t pks[4 * 32];
    memcpy(pks, apk, 32);
    memcpy(pks + 32, bpk, 32);
    memcpy(pks + 64, cpk, 32);
    memcpy(pks + 96, dpk, 32);
    assert_int_equal(registry_group_add(r, gid, pks, 4, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, a, ra, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, c, rc_, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(epoch, 3);
    assert_int_equal(registry_group_get(r, "board", &g), MV_OK);
    assert_int_equal(g.dedup_gen, 1); /* joins never change it */
    /* Without a signer, suspending a member is refused and changes nothing. */
    assert_int_equal(registry_user_set_status(r, cpk, "suspended", 2003, &u, &why), MV_ERR_INVAL);
    assert_int_equal(registry_user_get(r, cpk, &u), MV_OK);
    assert_string_equal(u.status, "active");
    assert_int_equal(registry_group_member_get(r, gid, c, &m), MV_OK);
    assert_string_equal(m.status, "active");
    int calls = s.calls;
    assert_int_equal(registry_user_set_status_groups(r, cpk, "suspended", 2004, sign_fn, &s, &u, &why), MV_OK);
    assert_string_equal(u.status, "suspended");
    assert_int_equal(s.calls, calls + 1);
    assert_int_equal(s.last.epoch, 4);
    assert_int_equal(s.last.n_members, 2);
    assert_int_equal(s.last.dedup_gen, 2);
    assert_false(has_key(&s.members[0][0], 2, rc_));
    assert_int_equal(registry_group_member_get(r, gid, c, &m), MV_OK);
    assert_string_equal(m.status, "removed");
    assert_int_equal(m.removed_epoch, 4);
    assert_int_equal(registry_group_removed_keys(r, gid, &revoked, &n), MV_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(revoked, rc_, 32);
    mv_free(revoked);
    assert_int_equal(registry_group_key_ranges(r, gid, c, 2005, kr, 8, &n, NULL), MV_ERR_FORBIDDEN);
    assert_int_equal(registry_group_key_ranges(r, gid, a, 2005, kr, 8, &n, &gen), MV_OK);
    assert_int_equal(gen, 2);
    assert_int_equal(kr[0].last, 4);
    /* Revoking d, only invited: her invitation goes, no epoch. */
    calls = s.calls;
    assert_int_equal(registry_user_set_status_groups(r, dpk, "revoked", 2006, sign_fn, &s, &u, &why), MV_OK);
    assert_int_equal(s.calls, calls);
    assert_int_equal(registry_group_member_get(r, gid, d, &m), MV_OK);
    assert_string_equal(m.status, "removed");
    assert_int_equal(registry_group_get(r, "board", &g), MV_OK);
    assert_int_equal(g.epoch, 4);
    assert_int_equal(g.dedup_gen, 2);
    /* Reinstated, c is in no group until the admin adds her again. */
    assert_int_equal(registry_user_set_status_groups(r, cpk, "active", 2007, sign_fn, &s, &u, &why), MV_OK);
    assert_int_equal(s.calls, calls);
    assert_int_equal(registry_group_member_get(r, gid, c, &m), MV_OK);
    assert_string_equal(m.status, "removed");
    assert_int_equal(events_of(r, gid, "remove"), 2);
    /* A later epoch (b removed) lists a alone: never a suspended user whatever her row says. */
    assert_int_equal(registry_group_remove(r, gid, bpk, admin, 2008, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(s.last.n_members, 1);
    assert_int_equal(s.last.dedup_gen, 3);
    registry_close(r);
}

/* A member keeps one ring key per group: after removal and a new invitation, a join with
 * another key is refused (409 at the hospital) and the same key is accepted. */
static void test_rejoin_same_ring_key(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b;
    uint8_t apk[32], bpk[32], ra[32], rb[32], other[32];
    uint64_t epoch = 0;
    const char *why = NULL;
    registry_group_member m;
    signer s;
    memset(&s, 0, sizeof s);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    key(apk, 10);
    key(bpk, 11);
    memset(ra, 0x10, 32);
    memset(rb, 0x20, 32);
    memset(other, 0x40, 32);
    int64_t gid = make_group(r, admin, 1);
    assert_int_equal(registry_group_add(r, gid, apk, 1, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_add(r, gid, bpk, 1, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, a, ra, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_remove(r, gid, apk, admin, 2003, sign_fn, &s, &epoch, NULL), MV_OK);
    assert_int_equal(registry_group_add(r, gid, apk, 1, -1, admin, 2004, NULL, NULL), MV_OK);
    int calls = s.calls;
    assert_int_equal(registry_group_join(r, gid, a, other, 2005, sign_fn, &s, &epoch, &why), MV_ERR_EXISTS);
    assert_non_null(strstr(why, "another ring key"));
    assert_int_equal(s.calls, calls);
    assert_int_equal(registry_group_member_get(r, gid, a, &m), MV_OK);
    assert_string_equal(m.status, "invited");
    assert_memory_equal(m.ring_pk, ra, 32);
    assert_int_equal(registry_group_join(r, gid, a, ra, 2006, sign_fn, &s, &epoch, NULL), MV_OK);
    registry_close(r);
}

/* Without history a member reads from her join epoch, which starts a chain, even when other
 * epochs came between the add and the join; a removed member added again gets no history by
 * default, and history when asked. */
static void test_no_history_from_join(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b, e;
    uint8_t apk[32], bpk[32], epk[32], ra[32], rb[32], re[32];
    registry_key_range kr[8];
    registry_group_member m;
    size_t n = 0;
    uint64_t epoch = 0;
    signer s;
    memset(&s, 0, sizeof s);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    user(r, "e", "doctor", 12, &e);
    key(apk, 10);
    key(bpk, 11);
    key(epk, 12);
    memset(ra, 0x10, 32);
    memset(rb, 0x20, 32);
    memset(re, 0x30, 32);
    int64_t gid = make_group(r, admin, 1);
    assert_int_equal(registry_group_add(r, gid, apk, 1, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, a, ra, 2002, sign_fn, &s, &epoch, NULL), MV_OK); /* 1 */
    assert_int_equal(registry_group_add(r, gid, epk, 1, 0, admin, 2003, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_add(r, gid, bpk, 1, 1, admin, 2003, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2004, sign_fn, &s, &epoch, NULL), MV_OK); /* 2 */
    assert_int_equal(s.last.chain_start, 1); /* b's join is no new chain */
    assert_int_equal(registry_group_join(r, gid, e, re, 2005, sign_fn, &s, &epoch, NULL), MV_OK); /* 3 */
    assert_int_equal(epoch, 3);
    assert_int_equal(s.last.chain_start, 3);
    assert_int_equal(registry_group_key_ranges(r, gid, e, 2006, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kr[0].first, 3);
    assert_int_equal(kr[0].chain_start, 3);
    /* b removed and added again: no history unless asked. */
    assert_int_equal(registry_group_remove(r, gid, bpk, admin, 2007, sign_fn, &s, &epoch, NULL), MV_OK); /* 4 */
    assert_int_equal(registry_group_add(r, gid, bpk, 1, -1, admin, 2008, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_member_get(r, gid, b, &m), MV_OK);
    assert_int_equal(m.history, 0);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2009, sign_fn, &s, &epoch, NULL), MV_OK); /* 5 */
    assert_int_equal(registry_group_key_ranges(r, gid, b, 2010, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(kr[0].first, 5);
    assert_int_equal(registry_group_remove(r, gid, bpk, admin, 2011, sign_fn, &s, &epoch, NULL), MV_OK); /* 6 */
    assert_int_equal(registry_group_add(r, gid, bpk, 1, 1, admin, 2012, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_member_get(r, gid, b, &m), MV_OK);
    assert_int_equal(m.history, 1);
    /* A user never in the group gets history by default. */
    uint8_t fpk[32];
    int64_t f;
    user(r, "f", "doctor", 14, &f);
    key(fpk, 14);
    assert_int_equal(registry_group_add(r, gid, fpk, 1, -1, admin, 2013, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_member_get(r, gid, f, &m), MV_OK);
    assert_int_equal(m.history, 1);
    registry_close(r);
}

/* A member's key fetches are logged once per epoch, not once per fetch. */
static void test_key_fetch_logged_once_per_epoch(void **state)
{
    (void)state;
    registry *r = open_fresh();
    int64_t admin, a, b;
    uint8_t apk[32], bpk[32], ra[32], rb[32];
    registry_key_range kr[8];
    size_t n = 0;
    uint64_t epoch = 0;
    signer s;
    memset(&s, 0, sizeof s);
    user(r, "admin", "admin", 1, &admin);
    user(r, "a", "doctor", 10, &a);
    user(r, "b", "doctor", 11, &b);
    key(apk, 10);
    key(bpk, 11);
    memset(ra, 0x10, 32);
    memset(rb, 0x20, 32);
    int64_t gid = make_group(r, admin, 1);
    assert_int_equal(registry_group_add(r, gid, apk, 1, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_add(r, gid, bpk, 1, 1, admin, 2001, NULL, NULL), MV_OK);
    assert_int_equal(registry_group_join(r, gid, a, ra, 2002, sign_fn, &s, &epoch, NULL), MV_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(registry_group_key_ranges(r, gid, a, 2003 + (uint64_t)i, kr, 8, &n, NULL), MV_OK);
    assert_int_equal(events_of(r, gid, "key"), 1);
    assert_int_equal(registry_group_join(r, gid, b, rb, 2010, sign_fn, &s, &epoch, NULL), MV_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(registry_group_key_ranges(r, gid, a, 2011 + (uint64_t)i, kr, 8, &n, NULL), MV_OK);
        assert_int_equal(registry_group_key_ranges(r, gid, b, 2011 + (uint64_t)i, kr, 8, &n, NULL), MV_OK);
    }
    assert_int_equal(events_of(r, gid, "key"), 3); /* a in epochs 1 and 2, b in epoch 2 */
    registry_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rules),
        cmocka_unit_test(test_epochs_and_rosters),
        cmocka_unit_test(test_key_ranges_and_history),
        cmocka_unit_test(test_suspension_removes_from_groups),
        cmocka_unit_test(test_rejoin_same_ring_key),
        cmocka_unit_test(test_no_history_from_join),
        cmocka_unit_test(test_key_fetch_logged_once_per_epoch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
