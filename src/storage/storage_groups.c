/* storage_groups.c - admission of anonymous group operations: the ring signature is the only
 * authorisation, so everything an unauthenticated peer can make the server do before it
 * verifies one is bounded (a body cap at header time, a per-address rate limit, a cap on
 * concurrent verifications, cheap checks of time, epoch and nonce first), and nothing about
 * the signer is logged: the server learns "some current member" and no more. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/endian.h"
#include "medvault/mv_clock.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_file.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_httpc.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "net/addr_limit.h"
#include "pre_proxy.h"
#include "storage_groups.h"

/* Rosters: a fetched roster is trusted for ROSTER_TTL_MS, then fetched again, so a removal
 * reaches this server within that time; a signature claiming a newer epoch makes it fetch
 * at once, but not more often than ROSTER_MIN_REFETCH_MS (a forged epoch costs the hospital
 * nothing more). Anonymous peers choose the group ids, so what they can make this server ask
 * the hospital is bounded: one fetch per group at a time (single flight: others use the
 * roster held, or are told to retry), at most ROSTER_MAX_FETCHES fetches at once (503
 * beyond), each given ROSTER_FETCH_TIMEOUT_MS (a slow hospital holds at most that many
 * workers for that long), and a group the hospital does not know (404) or that has no roster
 * yet (409) is remembered for ROSTER_NEG_TTL_MS in a table of its own, so that random ids
 * never evict a real group's roster. */
#define ROSTER_TTL_MS 2000u
#define ROSTER_MIN_REFETCH_MS 250u
#define ROSTER_SLOTS 64u
#define ROSTER_FETCH_TIMEOUT_MS 1000L
#define ROSTER_MAX_FETCHES 4u
#define ROSTER_NEG_SLOTS 256u
#define ROSTER_NEG_TTL_MS 15000u
#define ROSTER_MAX_BYTES ((size_t)256 << 10) /* MVG1 with 4096 members and 8 openers is ~132 KiB */
/* Per-address limit of group operations: a burst of 60, then one every 100 ms. */
#define LIMIT_SLOTS 4096u
#define LIMIT_BURST 60u
#define LIMIT_INTERVAL_MS 100u
/* Replay cache: nonces of verified operations, two generations of gen_seconds each (twice the
 * configured clock skew, at least GEN_MIN_SECONDS), so a nonce is remembered for at least
 * twice the skew: as long as its timestamp is accepted. Each generation holds REPLAY_CAP
 * nonces (REPLAY_SLOTS open-addressed slots at keyed positions); a full generation refuses
 * further operations (503) rather than forget a nonce. Groups are spread over REPLAY_PARTS
 * partitions by a keyed hash of their id, each holding at most REPLAY_PART_CAP nonces a
 * generation: the members of one group cannot fill the cache for every group. */
#define REPLAY_SLOTS ((size_t)1 << 18)
#define REPLAY_CAP ((size_t)1 << 17)
#define REPLAY_PARTS 32u
#define REPLAY_PART_CAP (REPLAY_CAP / 4)
#define GEN_MIN_SECONDS 600u

/* Anonymous bodies in flight: an anonymous peer may make this server buffer up to
 * MV_GROUP_OPS_MAX_BODY per request, so the bytes all anonymous bodies hold at once are
 * bounded (ANON_BODY_BUDGET, reserved at the body gate before a byte is buffered, released
 * when the request ends), and so are the large ones one address holds (ANON_LARGE_PER_ADDR
 * of ANON_LARGE_BYTES or more): 503 beyond either. */
#define ANON_BODY_BUDGET ((uint64_t)128 << 20)
#define ANON_BODIES_MAX 256u
#define ANON_LARGE_BYTES ((uint64_t)1 << 20)
#define ANON_LARGE_PER_ADDR 2u

typedef struct anon_body {
    const void *impl; /* the request (mv_http_request.impl), NULL if the slot is free */
    char remote[48];
    uint64_t bytes;
} anon_body;

typedef struct roster_entry {
    uint8_t g[16];
    mv_roster roster;
    mv_ring ring;
    uint64_t fetched_ms;
    unsigned refs;  /* holders outside the table, plus 1 while in the table */
} roster_entry;

/* A group the hospital answered 404 or 409 for, until until_ms. */
typedef struct roster_neg {
    uint8_t g[16];
    mv_err rc; /* MV_ERR_NOT_FOUND or MV_ERR_BAD_STATE */
    uint64_t until_ms;
} roster_neg;

typedef struct replay_gen {
    uint8_t (*slot)[MV_GROUP_NONCE_BYTES];
    uint8_t *used;
    size_t n;
    size_t part_n[REPLAY_PARTS]; /* nonces of each partition */
} replay_gen;

struct storage_groups {
    pthread_mutex_t mu;       /* the roster table and the replay cache */
    pthread_mutex_t write_mu; /* group records: one writer at a time */
    net_addr_limit *limit;
    atomic_uint verifying;
    unsigned max_verifying;
    roster_entry *rosters[ROSTER_SLOTS];
    roster_neg neg[ROSTER_NEG_SLOTS];
    uint8_t fetching[ROSTER_MAX_FETCHES][16]; /* groups whose roster is being fetched */
    uint8_t fetching_used[ROSTER_MAX_FETCHES];
    pthread_mutex_t body_mu;  /* the anonymous bodies in flight */
    anon_body bodies[ANON_BODIES_MAX];
    uint64_t body_bytes;      /* their sum */
    replay_gen gen[2];        /* [0] current, [1] previous */
    uint64_t gen_index;       /* unix time / gen_seconds of gen[0] */
    uint64_t gen_seconds;
    uint64_t hash_key[4];     /* random: slot positions and partitions are not the peer's to choose */
};

/* ---------- start, stop ---------- */

static void gen_free(replay_gen *r)
{
    mv_free(r->slot);
    mv_free(r->used);
    memset(r, 0, sizeof *r);
}

static mv_err gen_alloc(replay_gen *r)
{
    memset(r, 0, sizeof *r);
    r->slot = mv_calloc(REPLAY_SLOTS, MV_GROUP_NONCE_BYTES);
    r->used = mv_calloc(REPLAY_SLOTS, 1);
    if (!r->slot || !r->used) {
        gen_free(r);
        return MV_ERR_NOMEM;
    }
    return MV_OK;
}

static void roster_release_locked(roster_entry *e)
{
    if (e && --e->refs == 0) {
        mv_roster_clear(&e->roster);
        mv_free(e);
    }
}

mv_err storage_groups_start(storage_srv *s)
{
    storage_groups *gs = mv_calloc(1, sizeof *gs);
    mv_err rc = MV_ERR_NOMEM;
    char path[4096];
    if (!gs)
        return MV_ERR_NOMEM;
    pthread_mutex_init(&gs->mu, NULL);
    pthread_mutex_init(&gs->write_mu, NULL);
    pthread_mutex_init(&gs->body_mu, NULL);
    atomic_init(&gs->verifying, 0);
    /* Verifications are CPU-bound: at most half the workers (at least one) verify at once,
     * so signed requests keep being served while anonymous peers wait. */
    gs->max_verifying = s->cfg->threads > 1 ? s->cfg->threads / 2 : 1;
    gs->gen_seconds = s->cfg->skew_seconds * 2 > GEN_MIN_SECONDS ? s->cfg->skew_seconds * 2 : GEN_MIN_SECONDS;
    gs->gen_index = (uint64_t)time(NULL) / gs->gen_seconds;
    if ((rc = gen_alloc(&gs->gen[0])) != MV_OK || (rc = gen_alloc(&gs->gen[1])) != MV_OK)
        goto out;
    if ((rc = mv_random_bytes(&gs->hash_key, sizeof gs->hash_key)) != MV_OK)
        goto out;
    if ((rc = net_addr_limit_new(LIMIT_SLOTS, LIMIT_BURST, LIMIT_INTERVAL_MS, &gs->limit)) != MV_OK)
        goto out;
    if ((rc = mv_path_join(path, sizeof path, s->cfg->dir, "groups")) != MV_OK ||
        (rc = mv_file_mkdir(path, 0700)) != MV_OK) {
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "cannot create the groups directory");
        goto out;
    }
    s->groups = gs;
    gs = NULL;
out:
    if (gs)
        storage_groups_stop(gs);
    return rc;
}

void storage_groups_stop(storage_groups *gs)
{
    if (!gs)
        return;
    for (size_t i = 0; i < ROSTER_SLOTS; i++)
        roster_release_locked(gs->rosters[i]);
    gen_free(&gs->gen[0]);
    gen_free(&gs->gen[1]);
    net_addr_limit_free(gs->limit);
    pthread_mutex_destroy(&gs->mu);
    pthread_mutex_destroy(&gs->write_mu);
    pthread_mutex_destroy(&gs->body_mu);
    mv_free(gs);
}

void storage_groups_lock(storage_srv *s)
{
    pthread_mutex_lock(&s->groups->write_mu);
}

void storage_groups_unlock(storage_srv *s)
{
    pthread_mutex_unlock(&s->groups->write_mu);
}

/* ---------- metrics ---------- */

/* The five signed operations are named by the crypto layer (one list for every party); the
 * manager's delete is the storage server's own kind. */
const char *storage_groups_op_name(uint8_t op)
{
    return op == GROUP_ENTRY_ADMIN_DELETE ? "admin_delete" : mv_group_op_name((enum mv_group_op)op);
}

void storage_groups_count(storage_srv *s, uint8_t op, const char *outcome)
{
    char labels[80];
    snprintf(labels, sizeof labels, "op=\"%s\",outcome=\"%s\"", storage_groups_op_name(op), outcome);
    storage_count(s, "medvault_storage_group_ops_total", "Group operations by operation and outcome", labels, 1);
}

/* ---------- the body gate ---------- */

/* "/v1/groups/<32 hex>/ops": *g receives the group id. */
static int is_ops_path(const char *path, uint8_t g[16])
{
    static const char prefix[] = "/v1/groups/";
    size_t n = sizeof prefix - 1;
    if (strncmp(path, prefix, n) != 0 || strlen(path) != n + 32 + 4 || strcmp(path + n + 32, "/ops") != 0)
        return 0;
    return mv_hex_decode_exact(g, 16, path + n, 32) == MV_OK;
}

/* Reserves n bytes for req's anonymous body: 1, or 0 if the global budget, the table or the
 * address's share of large bodies is spent. */
static int body_reserve(storage_groups *gs, const mv_http_request *req, uint64_t n)
{
    anon_body *free_slot = NULL;
    unsigned large = 0;
    int ok = 0;
    pthread_mutex_lock(&gs->body_mu);
    for (size_t i = 0; i < ANON_BODIES_MAX; i++) {
        const anon_body *b = &gs->bodies[i];
        if (!b->impl)
            free_slot = free_slot ? free_slot : &gs->bodies[i];
        else if (b->bytes >= ANON_LARGE_BYTES && strcmp(b->remote, req->remote_addr) == 0)
            large++;
    }
    if (free_slot && gs->body_bytes + n <= ANON_BODY_BUDGET && (n < ANON_LARGE_BYTES || large < ANON_LARGE_PER_ADDR)) {
        free_slot->impl = req->impl;
        snprintf(free_slot->remote, sizeof free_slot->remote, "%s", req->remote_addr);
        free_slot->bytes = n;
        gs->body_bytes += n;
        ok = 1;
    }
    pthread_mutex_unlock(&gs->body_mu);
    return ok;
}

int storage_body_gate(void *ctx, const mv_http_request *req)
{
    storage_srv *s = ctx;
    uint8_t g[16];
    /* An anonymous group operation may carry up to MV_GROUP_OPS_MAX_BODY: its announced length
     * is checked here, before a byte of it is buffered, and the address must have budget left
     * (so a large body costs the peer one extra unit of its limit). Everything else needs a
     * signature that verifies from the headers. */
    if (!strcmp(req->method, "POST") && is_ops_path(req->path, g)) {
        const char *cl = mv_http_header(req, "Content-Length");
        char *end = NULL;
        unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
        if (!cl || end == cl || *end || n > MV_GROUP_OPS_MAX_BODY)
            return 0;
        if (!net_addr_limit_take(s->groups->limit, req->remote_addr, net_addr_limit_now_ms(), NULL))
            return 0;
        return body_reserve(s->groups, req, n) ? 1 : MV_HTTP_GATE_BUSY;
    }
    /* A re-encryption proxy route is read only up to the largest upload, announced. */
    if (pre_proxy_is_path(req->path) && !pre_proxy_body_ok(req))
        return 0;
    return mv_http_gate_signed(s->auth, req);
}

void storage_body_done(void *ctx, const mv_http_request *req)
{
    storage_groups *gs = ((storage_srv *)ctx)->groups;
    pthread_mutex_lock(&gs->body_mu);
    for (size_t i = 0; i < ANON_BODIES_MAX; i++)
        if (gs->bodies[i].impl == req->impl) {
            gs->body_bytes -= gs->bodies[i].bytes;
            memset(&gs->bodies[i], 0, sizeof gs->bodies[i]);
            break;
        }
    pthread_mutex_unlock(&gs->body_mu);
}

/* ---------- rosters ---------- */

static mv_err roster_fetch(storage_srv *s, const uint8_t g[16], uint64_t epoch, mv_roster *out)
{
    char url[MV_REVOCATION_URL_MAX + 128], ghex[33];
    mv_httpc_call c;
    mv_err rc;
    memset(out, 0, sizeof *out);
    if (!s->cfg->hospital_url[0])
        return MV_ERR_UNAVAILABLE;
    if ((rc = mv_hex_encode(ghex, sizeof ghex, g, 16)) != MV_OK)
        return rc;
    if (epoch)
        snprintf(url, sizeof url, "%s/v1/groups/%s/roster?epoch=%llu", s->cfg->hospital_url, ghex,
                 (unsigned long long)epoch);
    else
        snprintf(url, sizeof url, "%s/v1/groups/%s/roster", s->cfg->hospital_url, ghex);
    mv_httpc_call_init(&c);
    c.url = url;
    c.timeout_ms = ROSTER_FETCH_TIMEOUT_MS;
    c.response.max = ROSTER_MAX_BYTES;
    if ((rc = mv_httpc_run(&c, 1)) == MV_OK)
        rc = c.rc;
    if (rc == MV_OK && c.status == 404)
        rc = MV_ERR_NOT_FOUND;
    else if (rc == MV_OK && c.status == 409)
        rc = MV_ERR_BAD_STATE; /* fewer than two members joined: no roster yet */
    else if (rc == MV_OK && c.status != 200)
        rc = MV_ERR_HTTP;
    if (rc == MV_OK && (rc = mv_roster_verify(c.response.ptr, c.response.len, s->cfg->hospital_pk, out)) != MV_OK)
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "a group roster from the hospital does not verify: %s",
               mv_strerror(rc));
    if (rc == MV_OK && (memcmp(out->group_id, g, 16) != 0 || (epoch && out->epoch != epoch))) {
        mv_log(MV_LOG_ERROR, STORAGE_COMPONENT, "the hospital answered a roster of another group or epoch");
        rc = MV_ERR_PROTOCOL;
    }
    if (rc != MV_OK)
        mv_roster_clear(out);
    mv_httpc_call_clear(&c);
    return rc;
}

static roster_entry **slot_of(storage_groups *gs, const uint8_t g[16])
{
    roster_entry **oldest = &gs->rosters[0];
    for (size_t i = 0; i < ROSTER_SLOTS; i++) {
        if (gs->rosters[i] && memcmp(gs->rosters[i]->g, g, 16) == 0)
            return &gs->rosters[i];
        if (!gs->rosters[i])
            oldest = &gs->rosters[i];
        else if (*oldest && gs->rosters[i]->fetched_ms < (*oldest)->fetched_ms)
            oldest = &gs->rosters[i];
    }
    return oldest;
}

/* The negative answer remembered for g (MV_ERR_NOT_FOUND, MV_ERR_BAD_STATE), or MV_OK. */
static mv_err neg_lookup_locked(const storage_groups *gs, const uint8_t g[16], uint64_t now)
{
    for (size_t i = 0; i < ROSTER_NEG_SLOTS; i++)
        if (gs->neg[i].until_ms > now && memcmp(gs->neg[i].g, g, 16) == 0)
            return gs->neg[i].rc;
    return MV_OK;
}

/* Remembers rc for g, in place of the entry that expires first. */
static void neg_put_locked(storage_groups *gs, const uint8_t g[16], mv_err rc, uint64_t now)
{
    roster_neg *n = &gs->neg[0];
    for (size_t i = 0; i < ROSTER_NEG_SLOTS; i++) {
        if (memcmp(gs->neg[i].g, g, 16) == 0) {
            n = &gs->neg[i];
            break;
        }
        if (gs->neg[i].until_ms < n->until_ms)
            n = &gs->neg[i];
    }
    memcpy(n->g, g, 16);
    n->rc = rc;
    n->until_ms = now + ROSTER_NEG_TTL_MS;
}

/* Starts a fetch for g: its flight slot, or ROSTER_MAX_FETCHES if g is being fetched already
 * (*same set) or every slot is taken. */
static size_t flight_take_locked(storage_groups *gs, const uint8_t g[16], int *same)
{
    size_t free_slot = ROSTER_MAX_FETCHES;
    *same = 0;
    for (size_t i = 0; i < ROSTER_MAX_FETCHES; i++) {
        if (gs->fetching_used[i] && memcmp(gs->fetching[i], g, 16) == 0) {
            *same = 1;
            return ROSTER_MAX_FETCHES;
        }
        if (!gs->fetching_used[i] && free_slot == ROSTER_MAX_FETCHES)
            free_slot = i;
    }
    if (free_slot < ROSTER_MAX_FETCHES) {
        memcpy(gs->fetching[free_slot], g, 16);
        gs->fetching_used[free_slot] = 1;
    }
    return free_slot;
}

/* The current roster of g, fresh enough for a signature claiming want_epoch: from the table,
 * or fetched and verified. *out holds a reference (roster_release). Errors: MV_ERR_NOT_FOUND
 * (no such group), MV_ERR_BAD_STATE (no roster yet), MV_ERR_BUSY (the fetch cap is reached,
 * or g is being fetched and no roster of it is held: retry), a fetch error. */
static mv_err roster_get(storage_srv *s, const uint8_t g[16], uint64_t want_epoch, roster_entry **out)
{
    storage_groups *gs = s->groups;
    uint64_t now = mv_mono_ms();
    roster_entry *e = NULL, *held = NULL;
    size_t flight = ROSTER_MAX_FETCHES;
    int same = 0;
    mv_err rc = MV_OK;
    pthread_mutex_lock(&gs->mu);
    roster_entry **slot = slot_of(gs, g);
    if (*slot && memcmp((*slot)->g, g, 16) == 0) {
        held = *slot;
        uint64_t age = now - held->fetched_ms;
        if (age < ROSTER_TTL_MS && (want_epoch <= held->roster.epoch || age < ROSTER_MIN_REFETCH_MS))
            e = held;
    } else {
        rc = neg_lookup_locked(gs, g, now);
    }
    if (!e && rc == MV_OK && (flight = flight_take_locked(gs, g, &same)) == ROSTER_MAX_FETCHES) {
        /* Somebody is fetching this group's roster now: the one held serves meanwhile (it is
         * at most the fetch timeout past its time to live). */
        if (same && held)
            e = held;
        else
            rc = MV_ERR_BUSY;
    }
    if (e)
        e->refs++;
    pthread_mutex_unlock(&gs->mu);
    if (e || rc != MV_OK) {
        *out = e;
        return rc;
    }
    if (!(e = mv_calloc(1, sizeof *e)))
        rc = MV_ERR_NOMEM;
    else if ((rc = roster_fetch(s, g, 0, &e->roster)) == MV_OK)
        rc = mv_roster_ring(&e->roster, &e->ring);
    pthread_mutex_lock(&gs->mu);
    gs->fetching_used[flight] = 0;
    if (rc == MV_ERR_NOT_FOUND || rc == MV_ERR_BAD_STATE)
        neg_put_locked(gs, g, rc, mv_mono_ms());
    if (rc == MV_OK) {
        memcpy(e->g, g, 16);
        e->fetched_ms = mv_mono_ms();
        e->refs = 2; /* the table's and the caller's */
        slot = slot_of(gs, g);
        if (*slot && memcmp((*slot)->g, g, 16) == 0 && (*slot)->roster.epoch > e->roster.epoch) {
            /* An older roster than the one held (a lagging or replayed answer): an epoch
             * never goes back, so the held one stays and serves. */
            roster_release_locked(e);
            roster_release_locked(e);
            e = *slot;
            e->refs++;
        } else {
            roster_release_locked(*slot);
            *slot = e;
        }
    }
    pthread_mutex_unlock(&gs->mu);
    if (rc != MV_OK && e) {
        mv_roster_clear(&e->roster);
        mv_free(e);
        e = NULL;
    }
    *out = e;
    return rc;
}

static void roster_release(storage_srv *s, roster_entry *e)
{
    pthread_mutex_lock(&s->groups->mu);
    roster_release_locked(e);
    pthread_mutex_unlock(&s->groups->mu);
}

mv_err storage_groups_link_check(storage_srv *s, const uint8_t g[16], const group_entry *v1, const uint8_t *ctx,
                                 size_t ctx_len, const uint8_t link[static MV_RING_LINK_BYTES])
{
    mv_roster r;
    mv_ring ring;
    mv_err rc = roster_fetch(s, g, v1->epoch, &r);
    if (rc != MV_OK)
        return rc;
    if ((rc = mv_roster_ring(&r, &ring)) == MV_OK)
        rc = mv_ring_link_verify(&ring, v1->sig, v1->sig_len, ctx, ctx_len, link) == MV_OK ? MV_OK : MV_ERR_AUTH;
    mv_roster_clear(&r);
    return rc;
}

/* ---------- the replay cache ---------- */

/* A keyed multiply-shift hash of 16 bytes to bits bits: a member choosing nonces (or group
 * ids) cannot make them share a position without the key. */
static uint64_t keyed16(const storage_groups *gs, const uint8_t b[16], unsigned bits)
{
    uint64_t h = (mv_le_get(b, 8) ^ gs->hash_key[0]) * (gs->hash_key[1] | 1) +
                 (mv_le_get(b + 8, 8) ^ gs->hash_key[2]) * (gs->hash_key[3] | 1);
    return h >> (64 - bits);
}

static size_t replay_pos(const storage_groups *gs, const uint8_t nonce[MV_GROUP_NONCE_BYTES])
{
    return (size_t)keyed16(gs, nonce, 18); /* REPLAY_SLOTS = 2^18 */
}

static int gen_has(const storage_groups *gs, const replay_gen *r, const uint8_t nonce[MV_GROUP_NONCE_BYTES])
{
    for (size_t i = replay_pos(gs, nonce), k = 0; k < REPLAY_SLOTS && r->used[i]; i = (i + 1) & (REPLAY_SLOTS - 1), k++)
        if (memcmp(r->slot[i], nonce, MV_GROUP_NONCE_BYTES) == 0)
            return 1;
    return 0;
}

static void replay_rotate_locked(storage_groups *gs)
{
    uint64_t now_gen = (uint64_t)time(NULL) / gs->gen_seconds;
    if (now_gen == gs->gen_index)
        return;
    replay_gen old = gs->gen[1];
    gs->gen[1] = now_gen == gs->gen_index + 1 ? gs->gen[0] : old;
    gs->gen[0] = now_gen == gs->gen_index + 1 ? old : gs->gen[0];
    memset(gs->gen[0].used, 0, REPLAY_SLOTS);
    gs->gen[0].n = 0;
    memset(gs->gen[0].part_n, 0, sizeof gs->gen[0].part_n);
    if (now_gen != gs->gen_index + 1) { /* more than a generation passed: forget both */
        memset(gs->gen[1].used, 0, REPLAY_SLOTS);
        gs->gen[1].n = 0;
        memset(gs->gen[1].part_n, 0, sizeof gs->gen[1].part_n);
    }
    gs->gen_index = now_gen;
}

/* MV_OK if nonce is new; MV_ERR_REPLAY if seen. With insert, records it for group g
 * (MV_ERR_BUSY if the current generation, or g's partition of it, is full). */
static mv_err replay_check(storage_groups *gs, const uint8_t g[16], const uint8_t nonce[MV_GROUP_NONCE_BYTES],
                           int insert)
{
    size_t part = (size_t)keyed16(gs, g, 5); /* REPLAY_PARTS = 2^5 */
    mv_err rc = MV_OK;
    pthread_mutex_lock(&gs->mu);
    replay_rotate_locked(gs);
    if (gen_has(gs, &gs->gen[0], nonce) || gen_has(gs, &gs->gen[1], nonce)) {
        rc = MV_ERR_REPLAY;
    } else if (insert) {
        replay_gen *r = &gs->gen[0];
        if (r->n >= REPLAY_CAP || r->part_n[part] >= REPLAY_PART_CAP) {
            rc = MV_ERR_BUSY;
        } else {
            size_t i = replay_pos(gs, nonce);
            while (r->used[i])
                i = (i + 1) & (REPLAY_SLOTS - 1);
            memcpy(r->slot[i], nonce, MV_GROUP_NONCE_BYTES);
            r->used[i] = 1;
            r->n++;
            r->part_n[part]++;
        }
    }
    pthread_mutex_unlock(&gs->mu);
    return rc;
}

/* ---------- POST /v1/groups/{g}/ops ---------- */

static void refuse(storage_srv *s, uint8_t op, const char *outcome, mv_http_response *resp, int status,
                   const char *message)
{
    storage_groups_count(s, op, outcome);
    mv_http_respond_json_error(resp, status, message);
}

static void set_retry_after(mv_http_response *resp, uint64_t seconds)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)(seconds ? seconds : 1));
    if (mv_http_response_header(resp, "Retry-After", v) != MV_OK)
        mv_http_respond_json_error(resp, 500, "internal error");
}

/* The checks that cost neither hashing the payload nor a signature verification: time,
 * epoch, nonce, the roster. Returns 1 with *e (a reference) when they pass; otherwise it has
 * answered. */
static int precheck(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, mv_http_response *resp,
                    roster_entry **out)
{
    storage_groups *gs = s->groups;
    uint64_t now = (uint64_t)time(NULL), skew = s->cfg->skew_seconds;
    roster_entry *e = NULL;
    uint64_t sig_epoch = 0;
    mv_err rc;
    if (f->timestamp + skew < now || f->timestamp > now + skew) {
        refuse(s, f->op, "stale_time", resp, 401, "the operation's time is outside the accepted clock skew");
        return 0;
    }
    if (mv_ring_sig_epoch(f->sig, f->sig_len, &sig_epoch) != MV_OK || sig_epoch != f->epoch) {
        refuse(s, f->op, "bad_signature", resp, 401, "the group signature does not verify");
        return 0;
    }
    if (replay_check(gs, g, f->nonce, 0) != MV_OK) {
        refuse(s, f->op, "replay", resp, 401, "replayed operation (nonce seen before)");
        return 0;
    }
    if ((rc = roster_get(s, g, f->epoch, &e)) != MV_OK) {
        if (rc == MV_ERR_NOT_FOUND) {
            refuse(s, f->op, "no_group", resp, 404, "no such group at the hospital");
        } else if (rc == MV_ERR_BAD_STATE) {
            refuse(s, f->op, "no_roster", resp, 409, "the group has no roster yet (fewer than 2 joined members)");
        } else {
            refuse(s, f->op, rc == MV_ERR_BUSY ? "busy" : "roster_unavailable", resp, 503,
                   "the group's roster is unavailable; retry");
            set_retry_after(resp, 1);
        }
        return 0;
    }
    if (f->epoch > e->roster.epoch) {
        /* Newer than the roster fetched under ROSTER_MIN_REFETCH_MS ago: the group changed
         * just now (or the epoch is forged). The member retries after the refetch interval. */
        roster_release(s, e);
        refuse(s, f->op, "roster_refresh", resp, 503, "the group's roster is being refreshed; retry");
        set_retry_after(resp, 1);
        return 0;
    }
    if (f->epoch != e->roster.epoch) {
        char m[96];
        snprintf(m, sizeof m, "stale roster: the group's current epoch is %llu", (unsigned long long)e->roster.epoch);
        roster_release(s, e);
        refuse(s, f->op, "stale_roster", resp, 409, m);
        return 0;
    }
    *out = e;
    return 1;
}

/* The signature over msg under e's ring (under the concurrency cap), then the nonce is
 * remembered. Releases e. Returns 1 when the operation is admitted; otherwise it has answered. */
static int admit(storage_srv *s, const uint8_t g[16], roster_entry *e, const mv_group_op_frame *f,
                 const uint8_t *msg, mv_http_response *resp)
{
    storage_groups *gs = s->groups;
    mv_err rc;
    if (atomic_fetch_add(&gs->verifying, 1) >= gs->max_verifying) {
        atomic_fetch_sub(&gs->verifying, 1);
        roster_release(s, e);
        refuse(s, f->op, "busy", resp, 503, "too many group operations at once; retry");
        set_retry_after(resp, 1);
        return 0;
    }
    rc = mv_ring_verify(&e->ring, msg, MV_GROUP_OP_MSG_BYTES, f->sig, f->sig_len);
    atomic_fetch_sub(&gs->verifying, 1);
    roster_release(s, e);
    if (rc != MV_OK) {
        refuse(s, f->op, "bad_signature", resp, 401, "the group signature does not verify");
        return 0;
    }
    /* Only a verified operation's nonce is remembered: an anonymous peer cannot fill the
     * cache and so make it forget a member's nonce. */
    if ((rc = replay_check(gs, g, f->nonce, 1)) != MV_OK) {
        if (rc == MV_ERR_REPLAY) {
            refuse(s, f->op, "replay", resp, 401, "replayed operation (nonce seen before)");
        } else {
            refuse(s, f->op, "busy", resp, 503, "too many group operations; retry");
            set_retry_after(resp, 5);
        }
        return 0;
    }
    return 1;
}

void storage_handle_group_ops(storage_srv *s, const char *arg, const mv_http_request *req, mv_http_response *resp)
{
    uint8_t g[16], body_hash[32], msg[MV_GROUP_OP_MSG_BYTES];
    uint64_t retry = 0;
    mv_group_op_frame f;
    mv_group_content content;
    roster_entry *e = NULL;
    const char *what = "";
    char m[128];
    mv_err rc;
    if (!net_addr_limit_take(s->groups->limit, req->remote_addr, net_addr_limit_now_ms(), &retry)) {
        refuse(s, 0, "rate_limited", resp, 429, "too many group operations from this address; retry later");
        set_retry_after(resp, retry);
        return;
    }
    if (strlen(arg) != 36 || mv_hex_decode_exact(g, 16, arg, 32) != MV_OK) {
        refuse(s, 0, "malformed", resp, 404, "no such endpoint");
        return;
    }
    if ((rc = mv_group_op_decode(req->body, req->body_len, &f, &what)) != MV_OK) {
        snprintf(m, sizeof m, "malformed MVGO frame: %s", what);
        refuse(s, 0, "malformed", resp, rc == MV_ERR_TOO_LARGE ? 413 : 400, m);
        return;
    }
    memset(&content, 0, sizeof content);
    if (f.op != MV_GROUP_OP_PUT && f.op != MV_GROUP_OP_MODIFY && f.payload_len) {
        refuse(s, f.op, "malformed", resp, 400, "only put and modify carry a payload");
        return;
    }
    if (f.op == MV_GROUP_OP_READ && f.version > MV_GROUP_READ_HEAD &&
        (f.version <= MV_GROUP_READ_VERSION || f.version - MV_GROUP_READ_VERSION > GROUP_MAX_VERSIONS)) {
        refuse(s, f.op, "malformed", resp, 400,
               "a read's version is 0 (content), 1 (header only) or 2^63 + v (version v's content)");
        return;
    }
    if ((f.op == MV_GROUP_OP_DELETE) != (f.link != NULL)) {
        refuse(s, f.op, "malformed", resp, 400, "a delete carries a link proof, other operations none");
        return;
    }
    /* Time, nonce and roster first: hashing a 32 MiB payload (and checking its tags) is the
     * cost an anonymous peer could otherwise impose with stale or replayed operations. */
    if (!precheck(s, g, &f, resp, &e))
        return;
    if ((f.op == MV_GROUP_OP_PUT || f.op == MV_GROUP_OP_MODIFY) &&
        mv_group_content_decode(f.payload, f.payload_len, 1, &content, &what) != MV_OK) {
        roster_release(s, e);
        snprintf(m, sizeof m, "malformed MVGC payload: %s", what);
        refuse(s, f.op, "malformed", resp, 400, m);
        return;
    }
    if ((rc = mv_sha256(body_hash, f.payload, f.payload_len)) != MV_OK) {
        roster_release(s, e);
        refuse(s, f.op, "error", resp, 500, "internal error");
        return;
    }
    mv_group_op_msg(g, f.epoch, (enum mv_group_op)f.op, f.record_id, f.version, f.timestamp, f.nonce, body_hash, msg);
    if (!admit(s, g, e, &f, msg, resp))
        return;
    switch ((enum mv_group_op)f.op) {
    case MV_GROUP_OP_PUT:
    case MV_GROUP_OP_MODIFY: group_records_write(s, g, &f, msg, &content, resp); break;
    case MV_GROUP_OP_DELETE: group_records_delete(s, g, &f, msg, resp); break;
    case MV_GROUP_OP_READ: group_records_read(s, g, &f, resp); break;
    case MV_GROUP_OP_LIST: group_records_list(s, g, resp); break;
    }
}
