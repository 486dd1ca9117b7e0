/* group.c - the signed epoch roster "MVG1", the group key chain with key regression and the
 * group operation message (docs/groups.md, include/medvault/mv_group.h). */
#include "medvault/mv_group.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "medvault/mv_hkdf.h"
#include "medvault/mv_hmac.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define ROSTER_MAGIC "MVG1"
#define ROSTER_DOMAIN "medvault-group-roster-v1\n"
#define ROSTER_DOMAIN_LEN (sizeof ROSTER_DOMAIN - 1)
#define REGRESS_LABEL "medvault group key regress v1"
#define FILE_INFO "medvault group file v1"
#define OP_DOMAIN "medvault-group-op-v1\n"

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static size_t roster_body_len(size_t n_openers, size_t n_members)
{
    return 106 + 32 * n_openers + 32 * n_members;
}

void mv_roster_clear(mv_roster *r)
{
    if (!r)
        return;
    mv_free(r->members);
    memset(r, 0, sizeof *r);
}

/* A ring over r's fields, checked by mv_ring_init (members must already be ascending). */
static mv_err ring_of(const mv_roster *r, const uint8_t *members, mv_ring *ring)
{
    memset(ring, 0, sizeof *ring);
    memcpy(ring->group_id, r->group_id, sizeof ring->group_id);
    ring->epoch = r->epoch;
    ring->members = members;
    ring->n_members = r->n_members;
    memcpy(ring->ek, r->ek, 32);
    ring->t = r->t;
    ring->n_openers = r->n_openers;
    memcpy(ring->ek_shares, r->ek_shares, sizeof ring->ek_shares);
    return mv_ring_init(ring);
}

mv_err mv_roster_ring(const mv_roster *r, mv_ring *ring)
{
    if (!r || !ring || !r->members)
        return MV_ERR_INVAL;
    return ring_of(r, r->members, ring);
}

long mv_roster_find(const mv_roster *r, const uint8_t pk[static 32])
{
    if (!r || !pk || !r->members)
        return -1;
    for (size_t i = 0; i < r->n_members; i++)
        if (memcmp(r->members + 32 * i, pk, 32) == 0)
            return (long)i;
    return -1;
}

mv_err mv_roster_sign(const mv_roster *r, const uint8_t hospital_pk[static 32], const uint8_t hospital_sk[static 64],
                      mv_buf *out)
{
    uint8_t *members = NULL, *msg = NULL;
    mv_ring ring;
    mv_err rc;
    if (!r || !hospital_pk || !hospital_sk || !out || !r->members || r->epoch == 0 ||
        r->n_members < MV_RING_MIN_MEMBERS || r->n_members > MV_RING_MAX_MEMBERS || r->n_openers < 1 ||
        r->n_openers > MV_RING_MAX_OPENERS)
        return MV_ERR_INVAL;
    /* The signing key must be the issuer's: refuse a roster nobody could verify. */
    uint8_t derived[32];
    memcpy(derived, hospital_sk + 32, 32);
    if (memcmp(derived, hospital_pk, 32) != 0)
        return MV_ERR_INVAL;
    members = mv_mallocarray(r->n_members, 32);
    size_t body = roster_body_len(r->n_openers, r->n_members);
    msg = mv_malloc(ROSTER_DOMAIN_LEN + body + 64);
    if (!members || !msg) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(members, r->members, 32 * r->n_members);
    qsort(members, r->n_members, 32, cmp32);
    for (size_t i = 1; i < r->n_members; i++)
        if (memcmp(members + 32 * (i - 1), members + 32 * i, 32) == 0) {
            rc = MV_ERR_PARSE;
            goto out;
        }
    if ((rc = ring_of(r, members, &ring)) != MV_OK)
        goto out;
    uint8_t *p = msg + ROSTER_DOMAIN_LEN;
    memcpy(msg, ROSTER_DOMAIN, ROSTER_DOMAIN_LEN);
    memcpy(p, ROSTER_MAGIC, 4);
    memcpy(p + 4, hospital_pk, 32);
    memcpy(p + 36, r->group_id, 16);
    put_be(p + 52, r->epoch, 8);
    put_be(p + 60, r->issued_at, 8);
    memcpy(p + 68, r->ek, 32);
    p[100] = r->t;
    p[101] = r->n_openers;
    for (unsigned i = 0; i < r->n_openers; i++)
        memcpy(p + 102 + 32 * i, r->ek_shares[i], 32);
    size_t off = 102 + 32 * (size_t)r->n_openers;
    put_be(p + off, r->n_members, 4);
    memcpy(p + off + 4, members, 32 * r->n_members);
    if ((rc = mv_sign(p + body, msg, ROSTER_DOMAIN_LEN + body, hospital_sk)) != MV_OK)
        goto out;
    rc = mv_buf_append(out, p, body + 64);
out:
    mv_free(members);
    mv_free(msg);
    return rc;
}

mv_err mv_roster_verify(const uint8_t *in, size_t len, const uint8_t hospital_pk[static 32], mv_roster *out)
{
    uint8_t *msg = NULL;
    mv_ring ring;
    mv_err rc;
    if (!in || !hospital_pk || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len < 106 + 32 + 64 || memcmp(in, ROSTER_MAGIC, 4) != 0)
        return MV_ERR_PARSE;
    unsigned t = in[100], n = in[101];
    if (n < 1 || n > MV_RING_MAX_OPENERS || t < 1 || t > n)
        return MV_ERR_PARSE;
    size_t off = 102 + 32 * (size_t)n;
    if (len < off + 4 + 64)
        return MV_ERR_PARSE;
    uint64_t members = get_be(in + off, 4);
    if (members < MV_RING_MIN_MEMBERS || members > MV_RING_MAX_MEMBERS)
        return MV_ERR_PARSE;
    size_t body = roster_body_len(n, (size_t)members);
    if (len != body + 64)
        return MV_ERR_PARSE;
    if (sodium_memcmp(in + 4, hospital_pk, 32) != 0)
        return MV_ERR_AUTH;
    if (!(msg = mv_malloc(ROSTER_DOMAIN_LEN + body)))
        return MV_ERR_NOMEM;
    memcpy(msg, ROSTER_DOMAIN, ROSTER_DOMAIN_LEN);
    memcpy(msg + ROSTER_DOMAIN_LEN, in, body);
    rc = mv_sign_verify(in + body, msg, ROSTER_DOMAIN_LEN + body, hospital_pk);
    mv_free(msg);
    if (rc != MV_OK)
        return MV_ERR_AUTH;
    memcpy(out->issuer, in + 4, 32);
    memcpy(out->group_id, in + 36, 16);
    out->epoch = get_be(in + 52, 8);
    out->issued_at = get_be(in + 60, 8);
    memcpy(out->ek, in + 68, 32);
    out->t = (uint8_t)t;
    out->n_openers = (uint8_t)n;
    for (unsigned i = 0; i < n; i++)
        memcpy(out->ek_shares[i], in + 102 + 32 * i, 32);
    out->n_members = (size_t)members;
    if (!(out->members = mv_mallocarray(out->n_members, 32))) {
        mv_roster_clear(out);
        return MV_ERR_NOMEM;
    }
    memcpy(out->members, in + off + 4, 32 * out->n_members);
    if (out->epoch == 0)
        rc = MV_ERR_PARSE;
    else
        rc = ring_of(out, out->members, &ring);
    if (rc != MV_OK)
        mv_roster_clear(out);
    return rc;
}

/* ---- the key chain ---- */

static mv_err regress(uint8_t key[32], uint64_t steps)
{
    mv_err rc = MV_OK;
    for (uint64_t i = 0; i < steps && rc == MV_OK; i++)
        rc = mv_hmac_sha256(key, key, 32, REGRESS_LABEL, sizeof REGRESS_LABEL - 1);
    return rc;
}

mv_err mv_group_key_at(const uint8_t seed[static 32], uint64_t epoch, uint8_t out[static MV_GROUP_KEY_BYTES])
{
    if (!seed || !out || epoch < 1 || epoch > MV_GROUP_MAX_EPOCHS)
        return MV_ERR_INVAL;
    memcpy(out, seed, 32);
    mv_err rc = regress(out, MV_GROUP_MAX_EPOCHS - epoch);
    if (rc != MV_OK)
        mv_wipe(out, 32);
    return rc;
}

mv_err mv_group_key_regress(const uint8_t key[static MV_GROUP_KEY_BYTES], uint64_t epoch, uint64_t older,
                            uint8_t out[static MV_GROUP_KEY_BYTES])
{
    if (!key || !out || older < 1 || older > epoch || epoch > MV_GROUP_MAX_EPOCHS)
        return MV_ERR_INVAL;
    memmove(out, key, 32);
    mv_err rc = regress(out, epoch - older);
    if (rc != MV_OK)
        mv_wipe(out, 32);
    return rc;
}

mv_err mv_group_file_key(const uint8_t key[static MV_GROUP_KEY_BYTES],
                         const uint8_t group_id[static MV_RING_GROUP_ID_BYTES], uint64_t epoch, uint8_t out[static 32])
{
    uint8_t info[sizeof FILE_INFO - 1 + 8];
    if (!key || !group_id || !out)
        return MV_ERR_INVAL;
    memcpy(info, FILE_INFO, sizeof FILE_INFO - 1);
    put_be(info + sizeof FILE_INFO - 1, epoch, 8);
    return mv_hkdf_sha256(out, 32, group_id, MV_RING_GROUP_ID_BYTES, key, MV_GROUP_KEY_BYTES, info, sizeof info);
}

void mv_group_op_msg(const uint8_t group_id[static MV_RING_GROUP_ID_BYTES], uint64_t epoch, enum mv_group_op op,
                     const uint8_t record_id[static 16], uint64_t version, uint64_t timestamp,
                     const uint8_t nonce[static 16], const uint8_t body_hash[static 32],
                     uint8_t out[static MV_GROUP_OP_MSG_BYTES])
{
    uint8_t *p = out;
    memcpy(p, OP_DOMAIN, 21);
    p += 21;
    memcpy(p, group_id, 16);
    p += 16;
    put_be(p, epoch, 8);
    p += 8;
    *p++ = (uint8_t)op;
    memcpy(p, record_id, 16);
    p += 16;
    put_be(p, version, 8);
    p += 8;
    put_be(p, timestamp, 8);
    p += 8;
    memcpy(p, nonce, 16);
    p += 16;
    memcpy(p, body_hash, 32);
}

mv_err mv_group_op_parse(const uint8_t *msg, size_t len, mv_group_op_fields *out)
{
    if (!msg || !out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len != MV_GROUP_OP_MSG_BYTES || memcmp(msg, OP_DOMAIN, 21) != 0)
        return MV_ERR_PARSE;
    const uint8_t *p = msg + 21;
    memcpy(out->group_id, p, 16);
    out->epoch = get_be(p + 16, 8);
    uint8_t op = p[24];
    if (op < MV_GROUP_OP_PUT || op > MV_GROUP_OP_LIST)
        return MV_ERR_PARSE;
    out->op = (enum mv_group_op)op;
    memcpy(out->record_id, p + 25, 16);
    out->version = get_be(p + 41, 8);
    out->timestamp = get_be(p + 49, 8);
    memcpy(out->nonce, p + 57, 16);
    memcpy(out->body_hash, p + 73, 32);
    return MV_OK;
}

const char *mv_group_op_name(enum mv_group_op op)
{
    switch (op) {
    case MV_GROUP_OP_PUT: return "put";
    case MV_GROUP_OP_MODIFY: return "modify";
    case MV_GROUP_OP_DELETE: return "delete";
    case MV_GROUP_OP_READ: return "read";
    case MV_GROUP_OP_LIST: return "list";
    }
    return "unknown";
}
