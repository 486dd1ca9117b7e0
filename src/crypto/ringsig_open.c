/* ringsig_open.c - opening (threshold decryption of the signer's key with Chaum-Pedersen
 * proofs), the judge, and the two Schnorr-style proofs of group sharing: possession of a ring
 * key (joining) and authorship of a signature (the owner's delete). docs/group-signature.md. */
#include "ringsig_internal.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

#define POP_CTX_MAX 1024u

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- proof of possession ---- */

/* c = HashToScalar(pk || R || SHA-512(ctx), POP). */
static mv_err pop_challenge(const uint8_t pk[32], const uint8_t R[32], const uint8_t *ctx, size_t ctx_len,
                            uint8_t c[32])
{
    uint8_t in[32 + 32 + 64];
    memcpy(in, pk, 32);
    memcpy(in + 32, R, 32);
    crypto_hash_sha512(in + 64, ctx, ctx_len);
    return rs_challenge(in, sizeof in, RS_DST_POP, c);
}

mv_err mv_ring_pop_prove(const uint8_t sk[static 32], const uint8_t pk[static 32], const uint8_t *ctx,
                         size_t ctx_len, uint8_t proof[static MV_RING_POP_BYTES])
{
    rs_nonces nn;
    uint8_t w[32], R[32], t[32];
    mv_err rc;
    if (!sk || !pk || (!ctx && ctx_len) || ctx_len > POP_CTX_MAX || !proof)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (mv_r255_scalar_check(sk) != MV_OK)
        return MV_ERR_INVAL;
    rs_nonces_init(&nn, "medvault-ring-v1-pop", sk, 32, ctx, ctx_len, NULL);
    if ((rc = rs_nonce(&nn, 'w', 0, w)) == MV_OK && (rc = mv_r255_smul_base(R, w)) == MV_OK &&
        (rc = pop_challenge(pk, R, ctx, ctx_len, proof)) == MV_OK) {
        mv_r255_scalar_mul(t, proof, sk);
        mv_r255_scalar_add(proof + 32, w, t);
    }
    rs_nonces_wipe(&nn);
    mv_wipe(w, sizeof w);
    mv_wipe(t, sizeof t);
    return rc;
}

mv_err mv_ring_pop_verify(const uint8_t pk[static 32], const uint8_t *ctx, size_t ctx_len,
                          const uint8_t proof[static MV_RING_POP_BYTES])
{
    uint8_t R[32], c[32], negc[32];
    mv_err rc;
    if (!pk || (!ctx && ctx_len) || ctx_len > POP_CTX_MAX || !proof)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (mv_r255_elem_check(pk) != MV_OK || mv_r255_scalar_check(proof) != MV_OK ||
        !mv_r255_scalar_is_canonical(proof + 32))
        return MV_ERR_AUTH;
    mv_r255_scalar_neg(negc, proof);
    /* R = z*G - c*PK. */
    mv_r255_smul_base_any(R, proof + 32);
    uint8_t t[32];
    if ((rc = mv_r255_smul_any(t, negc, pk)) != MV_OK || (rc = mv_r255_add(R, R, t)) != MV_OK)
        return MV_ERR_AUTH;
    if (pop_challenge(pk, R, ctx, ctx_len, c) != MV_OK)
        return MV_ERR_AUTH;
    return sodium_memcmp(c, proof, 32) == 0 ? MV_OK : MV_ERR_AUTH;
}

/* ---- opening ---- */

/* c = HashToScalar(roster_hash || SHA-512(sig) || u8(i) || EK_i || u || D || A1 || A2, OPEN). */
static mv_err open_challenge(const mv_ring *r, const uint8_t *sig, size_t sig_len, uint8_t idx, const uint8_t D[32],
                             const uint8_t A1[32], const uint8_t A2[32], uint8_t c[32])
{
    uint8_t in[32 + 64 + 1 + 32 * 5];
    memcpy(in, r->roster_hash, 32);
    crypto_hash_sha512(in + 32, sig, sig_len);
    in[96] = idx;
    memcpy(in + 97, r->ek_shares[idx - 1], 32);
    memcpy(in + 129, sig + RS_OFF_U, 32);
    memcpy(in + 161, D, 32);
    memcpy(in + 193, A1, 32);
    memcpy(in + 225, A2, 32);
    return rs_challenge(in, sizeof in, RS_DST_OPEN, c);
}

mv_err mv_ring_open_partial(const mv_ring *r, const uint8_t *sig, size_t sig_len, uint8_t share_index,
                            const uint8_t dk_i[static 32], const uint8_t *seed, uint8_t out[static MV_RING_PARTIAL_BYTES])
{
    rs_nonces nn;
    uint8_t w[32], A1[32], A2[32], t[32], ek_i[32];
    mv_err rc;
    if (!r || !sig || !dk_i || !out || share_index < 1 || share_index > r->n_openers)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (rs_parse_check(r, sig, sig_len) != MV_OK)
        return MV_ERR_PARSE;
    if (mv_r255_scalar_check(dk_i) != MV_OK)
        return MV_ERR_INVAL;
    /* A share that is not the one behind EK_i would make a proof nobody accepts: say so now. */
    if ((rc = mv_r255_smul_base(ek_i, dk_i)) != MV_OK)
        return rc;
    if (sodium_memcmp(ek_i, r->ek_shares[share_index - 1], 32) != 0)
        return MV_ERR_AUTH;
    const uint8_t *u = sig + RS_OFF_U;
    rs_nonces_init(&nn, "medvault-ring-v1-open", dk_i, 32, sig, sig_len, seed);
    out[0] = share_index;
    if ((rc = rs_nonce(&nn, 'w', 0, w)) == MV_OK && (rc = mv_r255_smul(out + 1, dk_i, u)) == MV_OK &&
        (rc = mv_r255_smul_base(A1, w)) == MV_OK && (rc = mv_r255_smul(A2, w, u)) == MV_OK &&
        (rc = open_challenge(r, sig, sig_len, share_index, out + 1, A1, A2, out + 33)) == MV_OK) {
        mv_r255_scalar_mul(t, out + 33, dk_i);
        mv_r255_scalar_add(out + 65, w, t);
    }
    if (rc != MV_OK)
        memset(out, 0, MV_RING_PARTIAL_BYTES);
    rs_nonces_wipe(&nn);
    mv_wipe(w, sizeof w);
    mv_wipe(t, sizeof t);
    return rc;
}

/* Checks one partial (index, D, c, z) for sig: A1 = z*G - c*EK_i, A2 = z*u - c*D. */
static mv_err partial_check(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *p)
{
    uint8_t A1[32], A2[32], negc[32], c[32];
    uint8_t idx = p[0];
    if (idx < 1 || idx > r->n_openers)
        return MV_ERR_PARSE;
    if (mv_r255_elem_check(p + 1) != MV_OK || mv_r255_scalar_check(p + 33) != MV_OK ||
        !mv_r255_scalar_is_canonical(p + 65))
        return MV_ERR_AUTH;
    mv_r255_scalar_neg(negc, p + 33);
    uint8_t t[32];
    mv_r255_smul_base_any(A1, p + 65);
    if (mv_r255_smul_any(t, negc, r->ek_shares[idx - 1]) != MV_OK || mv_r255_add(A1, A1, t) != MV_OK)
        return MV_ERR_AUTH;
    if (rs_lincomb2(A2, p + 65, sig + RS_OFF_U, negc, p + 1) != MV_OK)
        return MV_ERR_AUTH;
    if (open_challenge(r, sig, sig_len, idx, p + 1, A1, A2, c) != MV_OK)
        return MV_ERR_AUTH;
    return sodium_memcmp(c, p + 33, 32) == 0 ? MV_OK : MV_ERR_AUTH;
}

/* Checks count partials and combines them: key = v - sum_i lambda_i D_i. */
static mv_err combine(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *partials, size_t count,
                      uint8_t key[32], uint8_t *bad_share)
{
    uint32_t ids[MV_RING_MAX_OPENERS];
    uint8_t lambda[32], acc[32] = {0}, t[32];
    mv_err rc;
    if (count < r->t || count > r->n_openers)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < count; i++) {
        ids[i] = partials[MV_RING_PARTIAL_BYTES * i];
        for (size_t k = 0; k < i; k++)
            if (ids[k] == ids[i])
                return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = partial_check(r, sig, sig_len, partials + MV_RING_PARTIAL_BYTES * i)) != MV_OK) {
            if (bad_share)
                *bad_share = (uint8_t)ids[i];
            return rc == MV_ERR_PARSE ? MV_ERR_PARSE : MV_ERR_AUTH;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = mv_shamir_lagrange(ids, count, ids[i], lambda)) != MV_OK ||
            (rc = mv_r255_smul_any(t, lambda, partials + MV_RING_PARTIAL_BYTES * i + 1)) != MV_OK ||
            (rc = mv_r255_add(acc, acc, t)) != MV_OK)
            return rc;
    }
    return mv_r255_sub(key, sig + RS_OFF_V, acc);
}

static long member_of(const mv_ring *r, const uint8_t key[32])
{
    for (size_t i = 0; i < r->n_members; i++)
        if (memcmp(r->members + 32 * i, key, 32) == 0)
            return (long)i;
    return -1;
}

mv_err mv_ring_open_combine(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *partials,
                            size_t count, uint32_t *member_index, uint8_t *bad_share, mv_buf *out)
{
    uint8_t key[32], head[4 + 4 + 32 + 1];
    mv_err rc;
    if (!r || !sig || !partials || !member_index || !out)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (rs_parse_check(r, sig, sig_len) != MV_OK)
        return MV_ERR_PARSE;
    if ((rc = combine(r, sig, sig_len, partials, count, key, bad_share)) != MV_OK)
        return rc;
    long pos = member_of(r, key);
    if (pos < 0)
        return MV_ERR_NOT_FOUND;
    memcpy(head, "MVO1", 4);
    put_u32be(head + 4, (uint32_t)pos);
    memcpy(head + 8, key, 32);
    head[40] = (uint8_t)count;
    size_t before = out->len;
    if ((rc = mv_buf_append(out, head, sizeof head)) == MV_OK &&
        (rc = mv_buf_append(out, partials, MV_RING_PARTIAL_BYTES * count)) != MV_OK)
        out->len = before;
    if (rc == MV_OK)
        *member_index = (uint32_t)pos;
    return rc;
}

mv_err mv_ring_judge(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len,
                     const uint8_t *opening, size_t opening_len, uint32_t *member_index)
{
    uint8_t key[32];
    mv_err rc;
    if (!r || !sig || !opening || !member_index)
        return MV_ERR_INVAL;
    if (opening_len < MV_RING_OPENING_BYTES(1) || memcmp(opening, "MVO1", 4) != 0)
        return MV_ERR_PARSE;
    size_t count = opening[40];
    if (opening_len != MV_RING_OPENING_BYTES(count))
        return MV_ERR_PARSE;
    uint32_t pos = ((uint32_t)opening[4] << 24) | ((uint32_t)opening[5] << 16) | ((uint32_t)opening[6] << 8) |
                   opening[7];
    if (pos >= r->n_members)
        return MV_ERR_AUTH;
    if ((rc = mv_ring_verify(r, msg, len, sig, sig_len)) != MV_OK)
        return rc;
    if ((rc = combine(r, sig, sig_len, opening + 41, count, key, NULL)) != MV_OK)
        return rc == MV_ERR_NOMEM ? rc : (rc == MV_ERR_PARSE ? MV_ERR_PARSE : MV_ERR_AUTH);
    /* The opening must name the key the partials decrypt to, at the position it claims. */
    if (memcmp(key, opening + 8, 32) != 0 || memcmp(r->members + 32 * (size_t)pos, key, 32) != 0)
        return MV_ERR_AUTH;
    *member_index = pos;
    return MV_OK;
}

/* ---- authorship (link) proof ---- */

/* c = HashToScalar(roster_hash || SHA-512(sig) || u || v || T1 || T2 || SHA-512(ctx), LINK):
 * bound to the whole signature, not only to its ciphertext. */
static mv_err link_challenge(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t T1[32],
                             const uint8_t T2[32], const uint8_t *ctx, size_t ctx_len, uint8_t c[32])
{
    uint8_t in[32 + 64 + 32 * 4 + 64];
    memcpy(in, r->roster_hash, 32);
    crypto_hash_sha512(in + 32, sig, sig_len);
    memcpy(in + 96, sig + RS_OFF_U, 64);
    memcpy(in + 160, T1, 32);
    memcpy(in + 192, T2, 32);
    crypto_hash_sha512(in + 224, ctx, ctx_len);
    return rs_challenge(in, sizeof in, RS_DST_LINK, c);
}

mv_err mv_ring_link_prove(const mv_ring *r, const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                          const uint8_t *sig, size_t sig_len, const uint8_t *ctx, size_t ctx_len,
                          uint8_t proof[static MV_RING_LINK_BYTES])
{
    rs_nonces nn;
    uint8_t rr[32], u[32], w1[32], w2[32], T1[32], T2[32], t[32];
    mv_err rc;
    if (!r || !sk || (!msg && len) || !sig || (!ctx && ctx_len) || !proof)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (rs_parse_check(r, sig, sig_len) != MV_OK)
        return MV_ERR_PARSE;
    if (mv_r255_scalar_check(sk) != MV_OK)
        return MV_ERR_INVAL;
    /* Recompute the signature's randomness; if it does not give u, sk did not make sig. */
    if ((rc = rs_enc_randomness(r, sk, msg, len, rr)) != MV_OK || (rc = mv_r255_smul_base(u, rr)) != MV_OK)
        goto out;
    if (sodium_memcmp(u, sig + RS_OFF_U, 32) != 0) {
        rc = MV_ERR_AUTH;
        goto out;
    }
    rs_nonces_init(&nn, "medvault-ring-v1-link", sk, 32, ctx, ctx_len, NULL);
    if ((rc = rs_nonce(&nn, 'r', 0, w1)) == MV_OK && (rc = rs_nonce(&nn, 'k', 0, w2)) == MV_OK &&
        (rc = mv_r255_smul_base(T1, w1)) == MV_OK && (rc = mv_r255_smul(T2, w1, r->ek)) == MV_OK &&
        (rc = mv_r255_smul_base(t, w2)) == MV_OK && (rc = mv_r255_add(T2, T2, t)) == MV_OK &&
        (rc = link_challenge(r, sig, sig_len, T1, T2, ctx, ctx_len, proof)) == MV_OK) {
        mv_r255_scalar_mul(t, proof, rr);
        mv_r255_scalar_add(proof + 32, w1, t);
        mv_r255_scalar_mul(t, proof, sk);
        mv_r255_scalar_add(proof + 64, w2, t);
    }
    rs_nonces_wipe(&nn);
out:
    mv_wipe(rr, sizeof rr);
    mv_wipe(w1, sizeof w1);
    mv_wipe(w2, sizeof w2);
    mv_wipe(t, sizeof t);
    return rc;
}

mv_err mv_ring_link_verify(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *ctx, size_t ctx_len,
                           const uint8_t proof[static MV_RING_LINK_BYTES])
{
    uint8_t T1[32], T2[32], negc[32], c[32], t[32];
    if (!r || !sig || (!ctx && ctx_len) || !proof)
        return MV_ERR_INVAL;
    if (mv_crypto_init() != MV_OK)
        return MV_ERR_CRYPTO;
    if (rs_parse_check(r, sig, sig_len) != MV_OK)
        return MV_ERR_AUTH;
    if (mv_r255_scalar_check(proof) != MV_OK || !mv_r255_scalar_is_canonical(proof + 32) ||
        !mv_r255_scalar_is_canonical(proof + 64))
        return MV_ERR_AUTH;
    mv_r255_scalar_neg(negc, proof);
    /* T1 = z1*G - c*u; T2 = z1*EK + z2*G - c*v. */
    mv_r255_smul_base_any(T1, proof + 32);
    if (mv_r255_smul_any(t, negc, sig + RS_OFF_U) != MV_OK || mv_r255_add(T1, T1, t) != MV_OK)
        return MV_ERR_AUTH;
    if (rs_lincomb2(T2, proof + 32, r->ek, negc, sig + RS_OFF_V) != MV_OK)
        return MV_ERR_AUTH;
    mv_r255_smul_base_any(t, proof + 64);
    if (mv_r255_add(T2, T2, t) != MV_OK)
        return MV_ERR_AUTH;
    if (link_challenge(r, sig, sig_len, T1, T2, ctx, ctx_len, c) != MV_OK)
        return MV_ERR_AUTH;
    return sodium_memcmp(c, proof, 32) == 0 ? MV_OK : MV_ERR_AUTH;
}
