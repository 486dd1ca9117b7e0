/* hospital_groups.c - the hospital as group manager (issue 15, docs/groups.md): groups and
 * their members, the hospital-signed roster of every epoch, the group revocation list, the
 * group key chain (key regression) and the group's dedup tokens.
 *
 * What this file upholds: a roster is only ever signed over ring keys whose holders proved
 * possession bound to the group and their own user key; every membership change issues a new
 * epoch in the same registry transaction; a removed or never-joined user receives no group key
 * and no token; the key chain seeds and the token key never leave DIR/privileges, and only the
 * chain key of an epoch a member may read, and the dedup secret of the current generation,
 * leave, sealed to her X25519 key. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hospital/hospital_internal.h"
#include "medvault/mv_box.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_crypto.h"
#include "medvault/mv_group.h"
#include "medvault/mv_log.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_ringsig.h"
#include "medvault/mv_shamir.h"

#define COMPONENT HOSP_COMPONENT
#define MAX_ADD 256                       /* users per POST .../members */
#define ANSWER_MAX ((size_t)4 << 20)      /* a JSON answer */
#define ROSTER_MAX ((size_t)1 << 20)      /* MVG1 of 4096 members and 8 openers: ~131 KiB */
#define NOTE_MAX 200                      /* bytes of an opening's note */
#define SEALED_KEY_BYTES (MV_GROUP_KEY_BYTES + MV_BOX_SEAL_BYTES)

/* ---------- helpers ---------- */

/* The group named by the path segment after /v1/groups/ (a name or a 32-hex id) into *g;
 * answers 404 and returns 1 if there is none. */
static int path_group(struct hosp *h, const mv_http_request *req, mv_http_response *resp, registry_group *g)
{
    static const char prefix[] = "/v1/groups/";
    char seg[REGISTRY_GROUP_NAME_MAX + 1];
    const char *p = req->path;
    if (strncmp(p, prefix, sizeof prefix - 1) != 0) {
        mv_http_respond_json_error(resp, 404, "no such endpoint");
        return 1;
    }
    p += sizeof prefix - 1;
    size_t n = strcspn(p, "/");
    if (n == 0 || n > REGISTRY_GROUP_NAME_MAX) {
        mv_http_respond_json_error(resp, 404, "no such group");
        return 1;
    }
    memcpy(seg, p, n);
    seg[n] = 0;
    mv_err rc = registry_group_get(h->reg, seg, g);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, "no such group");
        return 1;
    }
    return 0;
}

/* The group's secrets in DIR/privileges, written atomically before anything refers to them. */
typedef enum { GK_CHAIN, GK_TOKENS, GK_DEDUP } group_key_kind;

/* group-<id>-chain-<start>.key (the seed of the key chain starting at epoch n),
 * group-<id>-tokens.key (n unused) or group-<id>-dedup-<n>.key (dedup secret generation n). */
static mv_err group_key(struct hosp *h, const uint8_t gid[16], group_key_kind kind, uint64_t n, int create,
                        uint8_t key[32])
{
    char hex[33], fname[96];
    mv_err rc = mv_hex_encode(hex, sizeof hex, gid, 16);
    if (rc != MV_OK)
        return rc;
    switch (kind) {
    case GK_CHAIN:
        snprintf(fname, sizeof fname, "group-%s-chain-%llu.key", hex, (unsigned long long)n);
        break;
    case GK_TOKENS:
        snprintf(fname, sizeof fname, "group-%s-tokens.key", hex);
        break;
    case GK_DEDUP:
        snprintf(fname, sizeof fname, "group-%s-dedup-%llu.key", hex, (unsigned long long)n);
        break;
    }
    return hosp_key_file(h, fname, create, key, NULL);
}

static int is_admin(const hosp_caller *c)
{
    return c->user.role == REGISTRY_ROLE_ADMIN;
}

/* 1 if the caller is an opener of g. */
static int is_opener(struct hosp *h, const registry_group *g, const hosp_caller *c)
{
    unsigned idx = 0;
    uint8_t sealed[REGISTRY_GROUP_SEALED_BYTES];
    return registry_group_opener(h->reg, g->id, c->user.id, &idx, sealed) == MV_OK;
}

mv_err hosp_group_sign_epoch(void *ctx, const registry_epoch *e, mv_buf *out, uint8_t hash[32])
{
    struct hosp *h = ctx;
    uint8_t seed[32];
    mv_roster r, parsed;
    mv_ring ring;
    /* A new chain's seed and a new dedup secret exist before any epoch using them is
     * committed: a crash in between leaves an unused file, which the retry takes over. */
    mv_err rc = group_key(h, e->g->gid, GK_CHAIN, e->chain_start, 1, seed);
    if (rc == MV_OK)
        rc = group_key(h, e->g->gid, GK_DEDUP, e->dedup_gen, 1, seed);
    mv_wipe(seed, sizeof seed);
    if (rc != MV_OK || e->n_members < MV_RING_MIN_MEMBERS)
        return rc;
    memset(&r, 0, sizeof r);
    memset(&parsed, 0, sizeof parsed);
    memcpy(r.issuer, mv_identity_sign_pk(h->id), 32);
    memcpy(r.group_id, e->g->gid, 16);
    r.epoch = e->epoch;
    r.issued_at = e->now;
    memcpy(r.ek, e->g->ek, 32);
    r.t = (uint8_t)e->g->t;
    r.n_openers = (uint8_t)e->g->n;
    memcpy(r.ek_shares, e->g->ek_shares, 32 * (size_t)e->g->n);
    r.n_members = e->n_members;
    if (!(r.members = mv_mallocarray(e->n_members, 32)))
        return MV_ERR_NOMEM;
    memcpy(r.members, e->members, 32 * e->n_members);
    size_t before = out->len;
    rc = mv_roster_sign(&r, mv_identity_sign_pk(h->id), mv_identity_sign_sk(h->id), out);
    /* Parse what is served, so the hash shown is the one signatures bind to. */
    if (rc == MV_OK &&
        (rc = mv_roster_verify(out->ptr + before, out->len - before, mv_identity_sign_pk(h->id), &parsed)) == MV_OK &&
        (rc = mv_roster_ring(&parsed, &ring)) == MV_OK)
        memcpy(hash, ring.roster_hash, 32);
    mv_roster_clear(&parsed);
    mv_free(r.members);
    return rc;
}

/* Answers a failed epoch-issuing registry call (why from the registry, when it said). */
static void respond_change_err(mv_http_response *resp, mv_err rc, const char *why)
{
    if (rc == MV_ERR_CRYPTO || rc == MV_ERR_INVAL)
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot sign a group roster: %s", mv_strerror(rc));
    hosp_respond_err(resp, rc, why);
}

/* A decimal of at most 18 digits into *out; 1 if s is not one. */
static int parse_u64(const char *s, uint64_t *out)
{
    size_t l = strlen(s);
    uint64_t v = 0;
    if (l == 0 || l > 18)
        return 1;
    for (size_t i = 0; i < l; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* ---------- POST /v1/groups ---------- */

/* Reads a hex string member of exactly n bytes at v; 1 if it is not one. */
static int hex_at(const mv_json *v, uint8_t *out, size_t n)
{
    size_t l = 0;
    const char *s = mv_json_str(v, &l);
    return !s || mv_hex_decode_exact(out, n, s, l) != MV_OK;
}

/* Checks EK and its public shares: valid elements, and EK_1 = EK for n = 1 or the shares
 * interpolating to EK for t of n. */
static int shares_ok(const registry_group *g)
{
    if (mv_r255_elem_check(g->ek) != MV_OK || mv_r255_is_identity(g->ek))
        return 0;
    for (unsigned i = 0; i < g->n; i++)
        if (mv_r255_elem_check(g->ek_shares[i]) != MV_OK)
            return 0;
    if (g->n == 1)
        return memcmp(g->ek_shares[0], g->ek, 32) == 0;
    return mv_public_shares_check(&g->ek_shares[0][0], g->n, g->t, g->ek) == MV_OK;
}

/* {"name","ek","t","n","ek_shares":[hex...],"openers":[{"user":hex,"sealed":hex}...]}. */
void hosp_groups_create(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                        const hosp_caller *caller, const char *param)
{
    mv_json *root = NULL;
    registry_group g;
    uint8_t openers[REGISTRY_GROUP_MAX_OPENERS * 32], sealed[REGISTRY_GROUP_MAX_OPENERS * REGISTRY_GROUP_SEALED_BYTES];
    uint8_t key[32];
    const char *name = NULL, *why = NULL;
    uint64_t t = 0, n = 0;
    mv_buf b;
    (void)param;
    mv_buf_init(&b, 1 << 12);
    memset(&g, 0, sizeof g);
    if (hosp_json_body(req, resp, &root) || hosp_opt_str(root, "name", resp, &name))
        goto out;
    if (!name || !registry_group_name_ok(name)) {
        mv_http_respond_json_error(resp, 400, "name: 1-64 characters of [A-Za-z0-9_.-], not 32 hex digits");
        goto out;
    }
    const mv_json *js = mv_json_get(root, "ek_shares"), *jo = mv_json_get(root, "openers");
    if (mv_json_get_u64(root, "t", &t) != MV_OK || mv_json_get_u64(root, "n", &n) != MV_OK || n < 1 ||
        n > REGISTRY_GROUP_MAX_OPENERS || t < 1 || t > n || mv_json_type_of(js) != MV_JSON_ARRAY ||
        mv_json_type_of(jo) != MV_JSON_ARRAY || mv_json_len(js) != n || mv_json_len(jo) != n) {
        mv_http_respond_json_error(resp, 400,
                                   "t and n (1 <= t <= n <= 8), ek_shares and openers (n of each) are required");
        goto out;
    }
    snprintf(g.name, sizeof g.name, "%s", name);
    g.t = (unsigned)t;
    g.n = (unsigned)n;
    if (mv_json_get_hex(root, "ek", g.ek, 32) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "ek must be 64 hex digits");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const mv_json *o = mv_json_at(jo, i);
        if (hex_at(mv_json_at(js, i), g.ek_shares[i], 32) || hex_at(mv_json_get(o, "user"), openers + 32 * i, 32) ||
            hex_at(mv_json_get(o, "sealed"), sealed + REGISTRY_GROUP_SEALED_BYTES * i, REGISTRY_GROUP_SEALED_BYTES)) {
            mv_http_respond_json_error(resp, 400,
                                       "every ek_share is 64 hex digits; every opener is {\"user\": 64 hex, "
                                       "\"sealed\": 160 hex}");
            goto out;
        }
    }
    if (!shares_ok(&g)) {
        mv_http_respond_json_error(resp, 400, "ek and ek_shares are not a valid sharing of one opener key");
        goto out;
    }
    mv_err rc = mv_random_bytes(g.gid, sizeof g.gid);
    /* Its keys exist before the group does: a crash in between leaves unused files only. */
    if (rc == MV_OK && (rc = group_key(h, g.gid, GK_TOKENS, 0, 1, key)) == MV_OK &&
        (rc = group_key(h, g.gid, GK_CHAIN, 1, 1, key)) == MV_OK)
        rc = group_key(h, g.gid, GK_DEDUP, 1, 1, key);
    mv_wipe(key, sizeof key);
    if (rc == MV_OK)
        rc = registry_group_create(h->reg, &g, openers, sealed, caller->user.id, (uint64_t)time(NULL), &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "id", g.gid, 16);
    mv_jw_kstr(&w, "name", g.name);
    mv_jw_ku64(&w, "epoch", 0);
    mv_jw_ku64(&w, "t", g.t);
    mv_jw_ku64(&w, "n", g.n);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 201, &b);
    hosp_metric_add(h, "medvault_hospital_groups_created_total", "Groups created", "", 1);
    mv_log(MV_LOG_INFO, COMPONENT, "created a group with %u of %u openers", g.t, g.n);
out:
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* ---------- GET /v1/groups, GET /v1/groups/{g} ---------- */

void hosp_groups_list(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    mv_buf b;
    (void)req, (void)param;
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_groups_json(h->reg, caller->user.id, is_admin(caller), &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* The admin and the openers see members, openers and epochs; a member (of any status) the
 * summary; anyone else is refused. */
void hosp_groups_get(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                     const char *param)
{
    registry_group g;
    registry_group_member m;
    mv_buf b;
    (void)param;
    if (path_group(h, req, resp, &g))
        return;
    int full = is_admin(caller) || is_opener(h, &g, caller);
    if (!full && registry_group_member_get(h->reg, g.id, caller->user.id, &m) != MV_OK) {
        mv_http_respond_json_error(resp, 403, "you are not invited to this group");
        return;
    }
    mv_buf_init(&b, ANSWER_MAX);
    mv_err rc = registry_group_json(h->reg, g.id, caller->user.id, full, &b);
    if (rc == MV_OK)
        mv_http_respond_json(resp, 200, &b);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/groups/{g}/members, DELETE /v1/groups/{g}/members/{user} ---------- */

/* {"users":[64 hex...], "history":bool}: without history, a user never in the group gets
 * history and a removed member added again does not (registry_group_add). */
void hosp_groups_add(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                     const char *param)
{
    registry_group g;
    mv_json *root = NULL;
    uint8_t *users = NULL;
    size_t added = 0;
    int history = -1;
    const char *why = NULL;
    mv_buf b;
    (void)param;
    mv_buf_init(&b, 1 << 12);
    if (path_group(h, req, resp, &g) || hosp_json_body(req, resp, &root))
        goto out;
    const mv_json *ju = mv_json_get(root, "users"), *jh = mv_json_get(root, "history");
    size_t n = mv_json_len(ju);
    if (mv_json_type_of(ju) != MV_JSON_ARRAY || n == 0 || n > MAX_ADD || (jh && mv_json_bool(jh, &history) != MV_OK)) {
        mv_http_respond_json_error(resp, 400, "users must be an array of 1 to 256 sign keys; history a boolean");
        goto out;
    }
    if (!(users = mv_mallocarray(n, 32))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (hex_at(mv_json_at(ju, i), users + 32 * i, 32)) {
            mv_http_respond_json_error(resp, 400, "every user is a sign key of 64 hex digits");
            goto out;
        }
    mv_err rc = registry_group_add(h->reg, g.id, users, n, history, caller->user.id, (uint64_t)time(NULL), &added, &why);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, why);
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "added", added);
    mv_jw_ku64(&w, "epoch", g.epoch);
    if (history >= 0)
        mv_jw_kbool(&w, "history", history);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
out:
    mv_free(users);
    mv_json_free(root);
    mv_buf_clear(&b);
}

/* Answers {"epoch":E, ...extra} with status. */
static void respond_epoch(mv_http_response *resp, int status, uint64_t epoch, const char *flag, int value)
{
    mv_buf b;
    mv_jw w;
    mv_buf_init(&b, 256);
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "epoch", epoch);
    if (flag)
        mv_jw_kbool(&w, flag, value);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), status, &b);
    mv_buf_clear(&b);
}

/* Two segments after the group: the last one is param (a 64-hex user or ring key). */
static int key_param(const char *param, mv_http_response *resp, uint8_t key[32], const char *what)
{
    if (mv_hex_decode_exact(key, 32, param, strlen(param)) != MV_OK) {
        mv_http_respond_json_error(resp, 400, what);
        return 1;
    }
    return 0;
}

void hosp_groups_remove(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                        const hosp_caller *caller, const char *param)
{
    registry_group g;
    uint8_t user[32];
    uint64_t epoch = 0;
    const char *why = NULL;
    if (path_group(h, req, resp, &g) ||
        key_param(param, resp, user, "expected /v1/groups/{group}/members/<64 hex digits of a sign key>"))
        return;
    mv_err rc = registry_group_remove(h->reg, g.id, user, caller->user.id, (uint64_t)time(NULL), hosp_group_sign_epoch, h, &epoch,
                                      &why);
    if (rc != MV_OK) {
        respond_change_err(resp, rc, why);
        return;
    }
    respond_epoch(resp, 200, epoch ? epoch : g.epoch, "removed", 1);
    mv_log(MV_LOG_INFO, COMPONENT, "removed a group member (epoch %llu)", (unsigned long long)(epoch ? epoch : g.epoch));
}

/* ---------- POST /v1/groups/{g}/join ---------- */

/* {"ring_public_key":hex, "proof":hex}: the proof is bound to group id || the caller's key. */
void hosp_groups_join(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                      const char *param)
{
    registry_group g;
    mv_json *root = NULL;
    uint8_t pk[32], proof[MV_RING_POP_BYTES], ctx[16 + 32];
    uint64_t epoch = 0;
    const char *why = NULL;
    (void)param;
    if (path_group(h, req, resp, &g) || hosp_json_body(req, resp, &root))
        goto out;
    if (mv_json_get_hex(root, "ring_public_key", pk, 32) != MV_OK ||
        mv_json_get_hex(root, "proof", proof, sizeof proof) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "ring_public_key (64 hex) and proof (128 hex) are required");
        goto out;
    }
    memcpy(ctx, g.gid, 16);
    memcpy(ctx + 16, caller->cred.subject, 32);
    if (mv_r255_elem_check(pk) != MV_OK || mv_r255_is_identity(pk) ||
        mv_ring_pop_verify(pk, ctx, sizeof ctx, proof) != MV_OK) {
        mv_http_respond_json_error(resp, 400, "the proof of possession of the ring key does not verify");
        goto out;
    }
    mv_err rc = registry_group_join(h->reg, g.id, caller->user.id, pk, (uint64_t)time(NULL), hosp_group_sign_epoch, h, &epoch, &why);
    if (rc != MV_OK) {
        respond_change_err(resp, rc, why);
        goto out;
    }
    respond_epoch(resp, 200, epoch, NULL, 0);
    mv_log(MV_LOG_INFO, COMPONENT, "a member joined a group (epoch %llu)", (unsigned long long)epoch);
out:
    mv_json_free(root);
}

/* ---------- GET /v1/groups/{g}/roster, GET /v1/groups/{g}/revocations (public) ---------- */

void hosp_groups_roster(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                        const hosp_caller *caller, const char *param)
{
    registry_group g;
    char es[24];
    uint64_t want = 0, got = 0;
    mv_buf b;
    (void)caller, (void)param;
    if (path_group(h, req, resp, &g))
        return;
    int has = hosp_query(req, resp, "epoch", es, sizeof es);
    if (has < 0)
        return;
    if (has && (parse_u64(es, &want) || want == 0)) {
        mv_http_respond_json_error(resp, 400, "epoch must be a positive integer");
        return;
    }
    if (want > g.epoch) {
        mv_http_respond_json_error(resp, 404, "no such epoch: the group has not reached it");
        return;
    }
    mv_buf_init(&b, ROSTER_MAX);
    mv_err rc = g.epoch == 0 ? MV_ERR_BAD_STATE : registry_group_roster(h->reg, g.id, want, &b, &got);
    if (rc == MV_OK) {
        char ep[24];
        snprintf(ep, sizeof ep, "%llu", (unsigned long long)got);
        mv_http_respond_bytes(resp, 200, b.ptr, b.len);
        if (mv_http_response_header(resp, "MV-Group-Epoch", ep) != MV_OK)
            mv_log(MV_LOG_WARN, COMPONENT, "cannot add MV-Group-Epoch to a roster");
    } else if (rc == MV_ERR_BAD_STATE) {
        mv_http_respond_json_error(resp, 409, "the group has fewer than 2 joined members in this epoch: "
                                              "there is no roster and nobody can sign until more join");
    } else {
        hosp_respond_err(resp, rc, "no such epoch");
    }
    mv_buf_clear(&b);
}

void hosp_groups_revocations(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                             const hosp_caller *caller, const char *param)
{
    registry_group g;
    uint8_t *keys = NULL;
    size_t n = 0;
    uint64_t now = (uint64_t)time(NULL);
    mv_buf b;
    (void)caller, (void)param;
    if (path_group(h, req, resp, &g))
        return;
    mv_buf_init(&b, (size_t)1 << 20);
    mv_err rc = registry_group_removed_keys(h->reg, g.id, &keys, &n);
    if (rc == MV_OK)
        rc = mv_revocation_sign(keys, n, g.epoch, now, now + h->cfg->revocation_poll_seconds,
                                mv_identity_sign_pk(h->id), mv_identity_sign_sk(h->id), &b);
    if (rc == MV_OK)
        mv_http_respond_bytes(resp, 200, b.ptr, b.len);
    else
        hosp_respond_err(resp, rc, NULL);
    mv_free(keys);
    mv_buf_clear(&b);
}

/* ---------- GET /v1/groups/{g}/key ---------- */

/* {"group":hex,"epoch":E,"ranges":[{"first_epoch","last_epoch","sealed":hex}...],
 * "dedup":{"generation":G,"sealed":hex}}: for each chain the caller may read, the key of its
 * last epoch she may read, sealed to her X25519 key (older epochs of the chain she derives by
 * regression, newer ones she cannot); and the group's dedup secret of the current generation,
 * sealed the same way, with which she makes the group's dedup tokens and block keys herself
 * until the next removal (docs/decisions/0012). */
void hosp_groups_key(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                     const char *param)
{
    registry_group g;
    registry_key_range *ranges = NULL;
    size_t n = 0;
    uint64_t gen = 0;
    uint8_t seed[32], k[MV_GROUP_KEY_BYTES], sealed[SEALED_KEY_BYTES];
    mv_buf b;
    (void)param;
    mv_buf_init(&b, ANSWER_MAX);
    if (path_group(h, req, resp, &g))
        goto out;
    if (!(ranges = mv_mallocarray(REGISTRY_GROUP_MAX_RANGES, sizeof *ranges))) {
        mv_http_respond_json_error(resp, 503, "out of memory");
        goto out;
    }
    mv_err rc = registry_group_key_ranges(h->reg, g.id, caller->user.id, (uint64_t)time(NULL), ranges,
                                          REGISTRY_GROUP_MAX_RANGES, &n, &gen);
    if (rc == MV_ERR_FORBIDDEN) {
        mv_http_respond_json_error(resp, 403, "only a member who has joined (and was not removed) gets the group key");
        goto out;
    }
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 409, "the group has no epoch yet");
        goto out;
    }
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, NULL);
        goto out;
    }
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_khex(&w, "group", g.gid, 16);
    mv_jw_ku64(&w, "epoch", ranges[n - 1].last);
    mv_jw_key(&w, "ranges");
    mv_jw_arr(&w);
    for (size_t i = 0; i < n && rc == MV_OK; i++) {
        if ((rc = group_key(h, g.gid, GK_CHAIN, ranges[i].chain_start, 0, seed)) == MV_OK &&
            (rc = mv_group_key_at(seed, ranges[i].last, k)) == MV_OK &&
            (rc = mv_box_seal(sealed, k, sizeof k, caller->user.box_pk)) == MV_OK) {
            mv_jw_obj(&w);
            mv_jw_ku64(&w, "first_epoch", ranges[i].first);
            mv_jw_ku64(&w, "last_epoch", ranges[i].last);
            mv_jw_khex(&w, "sealed", sealed, sizeof sealed);
            mv_jw_obj_end(&w);
        }
        mv_wipe(seed, sizeof seed);
        mv_wipe(k, sizeof k);
    }
    mv_jw_arr_end(&w);
    _Static_assert(MV_GROUP_KEY_BYTES == 32, "the dedup secret is sealed like a chain key");
    /* Generation 1 of a group made before dedup secrets existed is made on first use. */
    if (rc == MV_OK && (rc = group_key(h, g.gid, GK_DEDUP, gen, gen == 1, k)) == MV_OK &&
        (rc = mv_box_seal(sealed, k, sizeof k, caller->user.box_pk)) == MV_OK) {
        mv_jw_key(&w, "dedup");
        mv_jw_obj(&w);
        mv_jw_ku64(&w, "generation", gen);
        mv_jw_khex(&w, "sealed", sealed, sizeof sealed);
        mv_jw_obj_end(&w);
    }
    mv_wipe(k, sizeof k);
    mv_jw_obj_end(&w);
    if (rc == MV_OK)
        rc = mv_jw_finish(&w);
    else
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot derive a group key: %s", mv_strerror(rc));
    mv_http_respond_built(resp, rc, 200, &b);
out:
    mv_free(ranges);
    mv_buf_clear(&b);
}

/* ---------- POST /v1/groups/{g}/tokens ---------- */

/* ShareTokenGen with the group's own privilege key, for active members only: the answer is
 * shaped as POST /v1/tokens', with the group id in place of a department. */
void hosp_groups_tokens(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                        const hosp_caller *caller, const char *param)
{
    registry_group g;
    registry_group_member m;
    uint8_t key[32];
    char label[33];
    (void)param;
    if (path_group(h, req, resp, &g))
        return;
    if (registry_group_member_get(h->reg, g.id, caller->user.id, &m) != MV_OK || strcmp(m.status, "active") != 0) {
        mv_http_respond_json_error(resp, 403, "only a member who has joined (and was not removed) gets group tokens");
        return;
    }
    mv_json *root = NULL;
    uint8_t *tags = NULL;
    size_t n = 0;
    if (hosp_tags_parse(req, resp, &root, &tags, &n))
        goto out;
    mv_err rc = group_key(h, g.gid, GK_TOKENS, 0, 0, key);
    if (rc == MV_OK)
        rc = mv_hex_encode(label, sizeof label, g.gid, 16);
    if (rc != MV_OK) {
        mv_log(MV_LOG_ERROR, COMPONENT, "cannot load a group token key: %s", mv_strerror(rc));
        hosp_respond_err(resp, rc, NULL);
        goto out;
    }
    const char *labels[1] = {label};
    const uint8_t *keys[1] = {key};
    hosp_tokens_answer(h, resp, MV_TOKEN_HMAC_SHA256, labels, keys, 1, tags, n);
out:
    mv_free(tags);
    mv_json_free(root);
    mv_wipe(key, sizeof key);
}

/* ---------- openers ---------- */

/* GET /v1/groups/{g}/opener-share: {"index","t","n","sealed"} for an opener. */
void hosp_groups_opener_share(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                              const hosp_caller *caller, const char *param)
{
    registry_group g;
    unsigned idx = 0;
    uint8_t sealed[REGISTRY_GROUP_SEALED_BYTES];
    mv_buf b;
    (void)param;
    if (path_group(h, req, resp, &g))
        return;
    mv_err rc = registry_group_opener(h->reg, g.id, caller->user.id, &idx, sealed);
    if (rc == MV_ERR_NOT_FOUND) {
        mv_http_respond_json_error(resp, 403, "you are not an opener of this group");
        return;
    }
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, NULL);
        return;
    }
    mv_buf_init(&b, 1 << 12);
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_ku64(&w, "index", idx);
    mv_jw_ku64(&w, "t", g.t);
    mv_jw_ku64(&w, "n", g.n);
    mv_jw_khex(&w, "sealed", sealed, sizeof sealed);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
    mv_buf_clear(&b);
}

/* Answers 403 and returns 1 unless the caller is an admin or an opener of g. */
static int need_admin_or_opener(struct hosp *h, const registry_group *g, const hosp_caller *caller,
                                mv_http_response *resp)
{
    if (is_admin(caller) || is_opener(h, g, caller))
        return 0;
    mv_http_respond_json_error(resp, 403, "only an admin or an opener of this group may do this");
    return 1;
}

/* POST /v1/groups/{g}/openings {"record":32 hex, "version":N, "signer":64 hex?, "note":text?}:
 * logs that the caller opened (or asked to open) a signature of that record version. */
void hosp_groups_openings(struct hosp *h, const mv_http_request *req, mv_http_response *resp,
                          const hosp_caller *caller, const char *param)
{
    registry_group g;
    mv_json *root = NULL;
    uint8_t record[16], signer[32];
    uint64_t version = 0;
    const char *note = NULL;
    char rhex[33], shex[65], details[REGISTRY_GROUP_DETAILS_MAX + 1];
    (void)param;
    if (path_group(h, req, resp, &g) || need_admin_or_opener(h, &g, caller, resp) ||
        hosp_json_body(req, resp, &root) || hosp_opt_str(root, "note", resp, &note))
        goto out;
    const mv_json *js = mv_json_get(root, "signer");
    if (mv_json_get_hex(root, "record", record, 16) != MV_OK || mv_json_get_u64(root, "version", &version) != MV_OK ||
        (js && hex_at(js, signer, 32)) || !registry_text_ok(note, NOTE_MAX)) {
        mv_http_respond_json_error(resp, 400, "record (32 hex) and version are required; signer is 64 hex; note at "
                                              "most 200 bytes of text");
        goto out;
    }
    if (mv_hex_encode(rhex, sizeof rhex, record, 16) != MV_OK ||
        (js && mv_hex_encode(shex, sizeof shex, signer, 32) != MV_OK)) {
        mv_http_respond_json_error(resp, 500, "internal error");
        goto out;
    }
    snprintf(details, sizeof details, "record %s version %llu%s%s%s%s", rhex, (unsigned long long)version,
             js ? " signer " : "", js ? shex : "", note && note[0] ? ": " : "", note ? note : "");
    mv_err rc = registry_group_event(h->reg, g.id, caller->user.id, "opening", details, (uint64_t)time(NULL));
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, NULL);
        goto out;
    }
    respond_epoch(resp, 201, g.epoch, "logged", 1);
out:
    mv_json_free(root);
}

/* GET /v1/groups/{g}/members/{ring key}: the user behind a ring key (after an opening). */
void hosp_groups_whois(struct hosp *h, const mv_http_request *req, mv_http_response *resp, const hosp_caller *caller,
                       const char *param)
{
    registry_group g;
    registry_group_member m;
    uint8_t ring[32];
    char details[96], hex[65];
    mv_buf b;
    if (path_group(h, req, resp, &g) || need_admin_or_opener(h, &g, caller, resp) ||
        key_param(param, resp, ring, "expected /v1/groups/{group}/members/<64 hex digits of a ring key>"))
        return;
    mv_err rc = registry_group_whois(h->reg, g.id, ring, &m);
    if (rc != MV_OK) {
        hosp_respond_err(resp, rc, "no member of this group has that ring key");
        return;
    }
    /* Naming a signer is an act of the manager that the group's log keeps. */
    if (mv_hex_encode(hex, sizeof hex, ring, 32) == MV_OK) {
        snprintf(details, sizeof details, "who is ring key %.16s...", hex);
        if (registry_group_event(h->reg, g.id, caller->user.id, "opening", details, (uint64_t)time(NULL)) != MV_OK) {
            mv_http_respond_json_error(resp, 503, "cannot log the look-up; retry");
            return;
        }
    }
    mv_buf_init(&b, 1 << 12);
    mv_jw w;
    mv_jw_init(&w, &b);
    mv_jw_obj(&w);
    mv_jw_kstr(&w, "name", m.name);
    mv_jw_khex(&w, "sign_public_key", m.sign_pk, 32);
    mv_jw_kstr(&w, "status", m.status);
    mv_jw_khex(&w, "ring_public_key", m.ring_pk, 32);
    mv_jw_ku64(&w, "joined_epoch", m.joined_epoch);
    mv_jw_ku64(&w, "removed_epoch", m.removed_epoch);
    mv_jw_obj_end(&w);
    mv_http_respond_built(resp, mv_jw_finish(&w), 200, &b);
    mv_buf_clear(&b);
}
