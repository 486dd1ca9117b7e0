/* ringsig.c - the accountable ring signature's roster context, signing and (batch)
 * verification (docs/group-signature.md). Only libsodium's ristretto255 operations are used,
 * through mv_r255: scalar multiplication, addition, hashing to the group and to scalars. */
#include "ringsig_internal.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

static const uint8_t ONE[32] = {1};

static void put_u64be(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_u64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* ---- shared helpers (ringsig_internal.h) ---- */

mv_err rs_challenge(const uint8_t *data, size_t len, const char *dst, uint8_t out[32])
{
    mv_err rc = mv_r255_hash_to_scalar(out, data, len, (const uint8_t *)dst, strlen(dst));
    if (rc == MV_OK && mv_r255_scalar_is_zero(out))
        rc = MV_ERR_CRYPTO;
    return rc;
}

void rs_nonces_init(rs_nonces *n, const char *label, const uint8_t *secret, size_t secret_len, const uint8_t *ctx,
                    size_t ctx_len, const uint8_t *seed)
{
    uint8_t fresh[32];
    crypto_hash_sha512_state st;
    if (!seed) {
        randombytes_buf(fresh, sizeof fresh);
        seed = fresh;
    }
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, (const uint8_t *)label, strlen(label));
    crypto_hash_sha512_update(&st, secret, secret_len);
    crypto_hash_sha512_update(&st, ctx, ctx_len);
    crypto_hash_sha512_update(&st, seed, 32);
    crypto_hash_sha512_final(&st, n->key);
    mv_wipe(&st, sizeof st);
    mv_wipe(fresh, sizeof fresh);
}

mv_err rs_nonce(const rs_nonces *n, char tag, unsigned j, uint8_t out[32])
{
    uint8_t in[66];
    memcpy(in, n->key, 64);
    in[64] = (uint8_t)tag;
    in[65] = (uint8_t)j;
    mv_err rc = rs_challenge(in, sizeof in, RS_DST_NONCE, out);
    mv_wipe(in, sizeof in);
    return rc;
}

void rs_nonces_wipe(rs_nonces *n)
{
    mv_wipe(n->key, sizeof n->key);
}

mv_err rs_enc_randomness(const mv_ring *r, const uint8_t sk[32], const uint8_t *msg, size_t len, uint8_t out[32])
{
    uint8_t in[32 + 32 + 64];
    memcpy(in, sk, 32);
    memcpy(in + 32, r->roster_hash, 32);
    crypto_hash_sha512(in + 64, msg, len);
    mv_err rc = rs_challenge(in, sizeof in, RS_DST_ENC, out);
    mv_wipe(in, sizeof in);
    return rc;
}

mv_err rs_lincomb2(uint8_t out[32], const uint8_t a[32], const uint8_t p[32], const uint8_t b[32],
                   const uint8_t q[32])
{
    uint8_t x[32], y[32];
    mv_err rc = mv_r255_smul_any(x, a, p);
    if (rc == MV_OK)
        rc = mv_r255_smul_any(y, b, q);
    if (rc == MV_OK)
        rc = mv_r255_add(out, x, y);
    mv_wipe(x, sizeof x);
    mv_wipe(y, sizeof y);
    return rc;
}

/* ---- the roster context ---- */

static unsigned bits_for(size_t n)
{
    unsigned m = 1;
    while (((size_t)1 << m) < n)
        m++;
    return m;
}

mv_err mv_ring_init(mv_ring *r)
{
    mv_err rc;
    if (!r || !r->members)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (r->epoch == 0 || r->n_members < MV_RING_MIN_MEMBERS || r->n_members > MV_RING_MAX_MEMBERS || r->t < 1 ||
        r->n_openers < r->t || r->n_openers > MV_RING_MAX_OPENERS)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < r->n_members; i++) {
        if (mv_r255_elem_check(r->members + 32 * i) != MV_OK)
            return MV_ERR_CRYPTO;
        if (i && memcmp(r->members + 32 * (i - 1), r->members + 32 * i, 32) >= 0)
            return MV_ERR_PARSE;
    }
    if (mv_r255_elem_check(r->ek) != MV_OK)
        return MV_ERR_CRYPTO;
    for (unsigned i = 0; i < r->n_openers; i++)
        if (mv_r255_elem_check(r->ek_shares[i]) != MV_OK)
            return MV_ERR_CRYPTO;
    if (r->n_openers == 1) {
        if (sodium_memcmp(r->ek_shares[0], r->ek, 32) != 0)
            return MV_ERR_CRYPTO;
    } else if (mv_public_shares_check(&r->ek_shares[0][0], r->n_openers, r->t, r->ek) != MV_OK) {
        return MV_ERR_CRYPTO;
    }
    r->bits = bits_for(r->n_members);

    static const char tag[] = "medvault-ring-v1-roster";
    uint8_t b[8];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)tag, sizeof tag - 1);
    crypto_hash_sha256_update(&st, r->group_id, sizeof r->group_id);
    put_u64be(b, r->epoch);
    crypto_hash_sha256_update(&st, b, 8);
    crypto_hash_sha256_update(&st, r->ek, 32);
    b[0] = r->t;
    b[1] = r->n_openers;
    crypto_hash_sha256_update(&st, b, 2);
    for (unsigned i = 0; i < r->n_openers; i++)
        crypto_hash_sha256_update(&st, r->ek_shares[i], 32);
    b[0] = (uint8_t)(r->n_members >> 24);
    b[1] = (uint8_t)(r->n_members >> 16);
    b[2] = (uint8_t)(r->n_members >> 8);
    b[3] = (uint8_t)r->n_members;
    crypto_hash_sha256_update(&st, b, 4);
    crypto_hash_sha256_update(&st, r->members, 32 * r->n_members);
    crypto_hash_sha256_final(&st, r->roster_hash);

    /* G_j = hash_to_ristretto255("G" || u8(j)), H = hash_to_ristretto255("H"): nobody knows a
     * relation between them, which is what binds the vector commitments. */
    for (unsigned j = 0; j <= r->bits; j++) {
        uint8_t in[2] = {j < r->bits ? 'G' : 'H', (uint8_t)j};
        size_t in_len = j < r->bits ? 2 : 1;
        if ((rc = mv_r255_hash_to_group(r->gens[j], in, in_len, (const uint8_t *)RS_DST_GEN,
                                        sizeof RS_DST_GEN - 1)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

size_t mv_ring_sig_bytes(const mv_ring *r)
{
    return r ? MV_RING_SIG_BYTES(r->bits) : 0;
}

mv_err mv_ring_derive_key(const uint8_t box_sk[static 32], const uint8_t group_id[static MV_RING_GROUP_ID_BYTES],
                          uint8_t sk[static 32], uint8_t pk[static 32])
{
    uint8_t in[32 + MV_RING_GROUP_ID_BYTES];
    mv_err rc;
    if (!box_sk || !group_id || !sk || !pk)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    memcpy(in, box_sk, 32);
    memcpy(in + 32, group_id, MV_RING_GROUP_ID_BYTES);
    rc = rs_challenge(in, sizeof in, RS_DST_KEY, sk);
    if (rc == MV_OK)
        rc = mv_r255_smul_base(pk, sk);
    if (rc != MV_OK)
        mv_wipe(sk, 32);
    mv_wipe(in, sizeof in);
    return rc;
}

mv_err mv_ring_sig_epoch(const uint8_t *sig, size_t sig_len, uint64_t *epoch)
{
    if (!sig || !epoch || sig_len < RS_OFF_U || sig[0] != RS_VERSION)
        return MV_ERR_PARSE;
    *epoch = get_u64be(sig + 2);
    return MV_OK;
}

/* ---- signing ---- */

/* Copies b over a when bit is 1, in constant time. */
static void cmov32(uint8_t a[32], const uint8_t b[32], unsigned bit)
{
    uint8_t mask = (uint8_t)(0u - (bit & 1u));
    for (int i = 0; i < 32; i++)
        a[i] ^= (uint8_t)(mask & (a[i] ^ b[i]));
}

/* s*p for the signer's secret-dependent products. An identity result (a zero bit of the
 * signer's position, two padding keys) must take the same path as any other: mv_r255_smul
 * re-checks its input when the result is the identity, which would leak how many times that
 * happened. libsodium writes the result (zeros for the identity) before it reports it, so the
 * report is ignored here; p is always a valid element of ours. */
static void ct_smul(uint8_t out[32], const uint8_t s[32], const uint8_t p[32])
{
    uint8_t t[32];
    int ignored = crypto_scalarmult_ristretto255(t, s, p);
    (void)ignored;
    memcpy(out, t, 32);
    mv_wipe(t, sizeof t);
}

/* out = s*H + sum_j v[j]*G_j for j < m (the signer's commitments: constant time in v). */
static mv_err vcommit(const mv_ring *r, const uint8_t (*v)[32], const uint8_t s[32], uint8_t out[32])
{
    uint8_t t[32];
    mv_err rc = MV_OK;
    ct_smul(out, s, r->gens[r->bits]);
    for (unsigned j = 0; rc == MV_OK && j < r->bits; j++) {
        ct_smul(t, v[j], r->gens[j]);
        rc = mv_r255_add(out, out, t);
    }
    mv_wipe(t, sizeof t);
    return rc;
}

/* The coefficients Q_k = sum_i p_{i,k} * P_i (k < m) of the polynomials p_i(x) =
 * prod_j f_{j,i_j}(x), f_{j,1} = l_j x + a_j, f_{j,0} = (1 - l_j) x - a_j, computed bottom-up
 * over the bits of i: a node joining children L (bit j = 0) and R (bit j = 1) is
 * x * select(l_j; L, R) + a_j * (R - L). About 2 * 2^m scalar multiplications instead of
 * m * 2^m, and the signer's bits are used only by constant-time selects and scalar
 * multiplications. */
static mv_err gk_coefficients(const mv_ring *r, const unsigned *lbits, const uint8_t (*a)[32], uint8_t (*q)[32])
{
    const unsigned m = r->bits;
    const size_t full = (size_t)1 << m;
    uint8_t(*cur)[32] = mv_mallocarray(full * (m + 1), 32);
    uint8_t(*nxt)[32] = mv_mallocarray(full * (m + 1), 32);
    uint8_t d[32], s[32];
    mv_err rc = MV_OK;
    if (!cur || !nxt) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Level 0: node i is the constant polynomial P_i (the ring padded with its last key). */
    for (size_t i = 0; i < full; i++) {
        size_t src = i < r->n_members ? i : r->n_members - 1;
        memcpy(cur[i], r->members + 32 * src, 32);
    }
    size_t nodes = full;
    for (unsigned j = 0; j < m && rc == MV_OK; j++) {
        const unsigned deg = j; /* children have coefficients 0..j */
        for (size_t t = 0; t < nodes / 2 && rc == MV_OK; t++) {
            uint8_t(*L)[32] = cur + (2 * t) * (deg + 1);
            uint8_t(*R)[32] = cur + (2 * t + 1) * (deg + 1);
            uint8_t(*N)[32] = nxt + t * (deg + 2);
            for (unsigned k = 0; k <= deg + 1 && rc == MV_OK; k++) {
                if (k >= 1) {
                    memcpy(s, L[k - 1], 32);
                    cmov32(s, R[k - 1], lbits[j]);
                } else {
                    memset(s, 0, 32);
                }
                if (k <= deg) {
                    if ((rc = mv_r255_sub(d, R[k], L[k])) == MV_OK) {
                        ct_smul(d, a[j], d);
                        rc = mv_r255_add(N[k], s, d);
                    }
                } else {
                    memcpy(N[k], s, 32);
                }
            }
        }
        uint8_t(*tmp)[32] = cur;
        cur = nxt;
        nxt = tmp;
        nodes /= 2;
    }
    if (rc == MV_OK)
        memcpy(q, cur, (size_t)m * 32);
out:
    if (cur)
        mv_wipe(cur, full * (m + 1) * 32);
    if (nxt)
        mv_wipe(nxt, full * (m + 1) * 32);
    mv_free(cur);
    mv_free(nxt);
    mv_wipe(d, sizeof d);
    mv_wipe(s, sizeof s);
    return rc;
}

/* The transcript hashed into the challenge: roster hash, SHA-512(msg) and the signature's
 * first part (header and every commitment). */
static mv_err challenge_of(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, uint8_t x[32])
{
    size_t head = RS_OFF_F(r->bits);
    uint8_t buf[32 + 64 + RS_OFF_F(MV_RING_MAX_BITS)];
    memcpy(buf, r->roster_hash, 32);
    crypto_hash_sha512(buf + 32, msg, len);
    memcpy(buf + 96, sig, head);
    return rs_challenge(buf, 96 + head, RS_DST_CHALLENGE, x);
}

struct sign_secrets {
    uint8_t sk[32], pk[32], r[32];
    uint8_t a[MV_RING_MAX_BITS][32], lsc[MV_RING_MAX_BITS][32], cv[MV_RING_MAX_BITS][32], dv[MV_RING_MAX_BITS][32];
    uint8_t rho[MV_RING_MAX_BITS][32];
    uint8_t ra[32], rb[32], rc_[32], rd[32], sr[32], sk_nonce[32];
    uint8_t q[MV_RING_MAX_BITS][32];
    unsigned lbits[MV_RING_MAX_BITS];
    uint8_t t1[32], t2[32];
};

mv_err mv_ring_sign(const mv_ring *r, const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                    const uint8_t *seed, mv_buf *out)
{
    struct sign_secrets *S = NULL;
    uint8_t *sig = NULL;
    rs_nonces nn;
    mv_err rc;
    memset(&nn, 0, sizeof nn);
    if (!r || !sk || (!msg && len) || !out)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (r->bits < 1 || r->bits > MV_RING_MAX_BITS || r->n_members < MV_RING_MIN_MEMBERS)
        return MV_ERR_INVAL;
    if (mv_r255_scalar_check(sk) != MV_OK)
        return MV_ERR_INVAL;
    const unsigned m = r->bits;
    const size_t siglen = MV_RING_SIG_BYTES(m);
    S = mv_secure_alloc(sizeof *S);
    sig = mv_malloc(siglen);
    if (!S || !sig) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memset(S, 0, sizeof *S);
    memcpy(S->sk, sk, 32);
    if ((rc = mv_r255_smul_base(S->pk, S->sk)) != MV_OK)
        goto out;
    /* The signer's position, found without a branch on which entry matched. */
    uint32_t pos = 0, found = 0;
    for (size_t i = 0; i < r->n_members; i++) {
        uint32_t eq = (uint32_t)(sodium_memcmp(S->pk, r->members + 32 * i, 32) + 1); /* 1 equal, 0 not */
        pos |= (uint32_t)i & (0u - eq);
        found |= eq;
    }
    if (!found) {
        rc = MV_ERR_NOT_FOUND;
        goto out;
    }
    for (unsigned j = 0; j < m; j++) {
        S->lbits[j] = (pos >> j) & 1u;
        memset(S->lsc[j], 0, 32);
        S->lsc[j][0] = (uint8_t)S->lbits[j];
    }
    pos = 0;

    /* Nonces: bound to the secret key, the roster and the message, plus 32 fresh (or fixed)
     * bytes, so a broken RNG alone cannot repeat one. */
    {
        uint8_t ctx[32 + 64];
        memcpy(ctx, r->roster_hash, 32);
        crypto_hash_sha512(ctx + 32, msg, len);
        rs_nonces_init(&nn, "medvault-ring-v1-sign", S->sk, 32, ctx, sizeof ctx, seed);
    }
    for (unsigned j = 0; j < m && rc == MV_OK; j++) {
        if ((rc = rs_nonce(&nn, 'a', j, S->a[j])) == MV_OK)
            rc = rs_nonce(&nn, 'p', j, S->rho[j]);
    }
    if (rc == MV_OK && (rc = rs_nonce(&nn, 'A', 0, S->ra)) == MV_OK && (rc = rs_nonce(&nn, 'B', 0, S->rb)) == MV_OK &&
        (rc = rs_nonce(&nn, 'C', 0, S->rc_)) == MV_OK && (rc = rs_nonce(&nn, 'D', 0, S->rd)) == MV_OK &&
        (rc = rs_nonce(&nn, 'r', 0, S->sr)) == MV_OK)
        rc = rs_nonce(&nn, 'k', 0, S->sk_nonce);
    if (rc == MV_OK)
        rc = rs_enc_randomness(r, S->sk, msg, len, S->r);
    if (rc != MV_OK)
        goto out;

    /* Header and ciphertext: u = r*G, v = r*EK + PK. */
    sig[0] = RS_VERSION;
    sig[1] = (uint8_t)m;
    put_u64be(sig + 2, r->epoch);
    if ((rc = mv_r255_smul_base(sig + RS_OFF_U, S->r)) != MV_OK ||
        (rc = mv_r255_smul(sig + RS_OFF_V, S->r, r->ek)) != MV_OK ||
        (rc = mv_r255_add(sig + RS_OFF_V, sig + RS_OFF_V, S->pk)) != MV_OK)
        goto out;

    /* Bit commitments: A to a_j, B to l_j, C to a_j(1 - 2 l_j), D to -a_j^2. */
    for (unsigned j = 0; j < m; j++) {
        uint8_t two_l[32];
        mv_r255_scalar_add(two_l, S->lsc[j], S->lsc[j]);
        mv_r255_scalar_sub(S->cv[j], ONE, two_l);
        mv_r255_scalar_mul(S->cv[j], S->cv[j], S->a[j]);
        mv_r255_scalar_mul(S->dv[j], S->a[j], S->a[j]);
        mv_r255_scalar_neg(S->dv[j], S->dv[j]);
        mv_wipe(two_l, sizeof two_l);
    }
    if ((rc = vcommit(r, (const uint8_t(*)[32])S->a, S->ra, sig + RS_OFF_A)) != MV_OK ||
        (rc = vcommit(r, (const uint8_t(*)[32])S->lsc, S->rb, sig + RS_OFF_B)) != MV_OK ||
        (rc = vcommit(r, (const uint8_t(*)[32])S->cv, S->rc_, sig + RS_OFF_C)) != MV_OK ||
        (rc = vcommit(r, (const uint8_t(*)[32])S->dv, S->rd, sig + RS_OFF_D)) != MV_OK)
        goto out;

    /* G_k = (rho_k*G, rho_k*EK - Q_k): sum_i p_{i,k} = 0 for k < m, so u and v drop out. */
    if ((rc = gk_coefficients(r, S->lbits, (const uint8_t(*)[32])S->a, S->q)) != MV_OK)
        goto out;
    for (unsigned k = 0; k < m; k++) {
        uint8_t *g1 = sig + RS_OFF_G + 64 * k, *g2 = g1 + 32;
        if ((rc = mv_r255_smul_base(g1, S->rho[k])) != MV_OK || (rc = mv_r255_smul(g2, S->rho[k], r->ek)) != MV_OK ||
            (rc = mv_r255_sub(g2, g2, S->q[k])) != MV_OK)
            goto out;
    }

    /* Knowledge of (r, sk) behind (u, v): T1 = s_r*G, T2 = s_r*EK + s_k*G. */
    if ((rc = mv_r255_smul_base(S->t1, S->sk_nonce)) != MV_OK ||
        (rc = mv_r255_smul_base(sig + RS_OFF_T1(m), S->sr)) != MV_OK ||
        (rc = mv_r255_smul(S->t2, S->sr, r->ek)) != MV_OK ||
        (rc = mv_r255_add(sig + RS_OFF_T2(m), S->t2, S->t1)) != MV_OK)
        goto out;

    uint8_t x[32], xp[32], t[32];
    if ((rc = challenge_of(r, msg, len, sig, x)) != MV_OK)
        goto out;
    /* f_j = l_j x + a_j; z_A = r_B x + r_A; z_C = r_C x + r_D. */
    for (unsigned j = 0; j < m; j++) {
        mv_r255_scalar_mul(t, S->lsc[j], x);
        mv_r255_scalar_add(sig + RS_OFF_F(m) + 32 * j, t, S->a[j]);
    }
    mv_r255_scalar_mul(t, S->rb, x);
    mv_r255_scalar_add(sig + RS_OFF_ZA(m), t, S->ra);
    mv_r255_scalar_mul(t, S->rc_, x);
    mv_r255_scalar_add(sig + RS_OFF_ZC(m), t, S->rd);
    /* z_d = r x^m - sum_k rho_k x^k. */
    uint8_t zd[32] = {0};
    memcpy(xp, ONE, 32);
    for (unsigned k = 0; k < m; k++) {
        mv_r255_scalar_mul(t, S->rho[k], xp);
        mv_r255_scalar_sub(zd, zd, t);
        mv_r255_scalar_mul(xp, xp, x);
    }
    mv_r255_scalar_mul(t, S->r, xp);
    mv_r255_scalar_add(sig + RS_OFF_ZD(m), zd, t);
    /* z_r = s_r + x r; z_k = s_k + x sk. */
    mv_r255_scalar_mul(t, x, S->r);
    mv_r255_scalar_add(sig + RS_OFF_ZR(m), S->sr, t);
    mv_r255_scalar_mul(t, x, S->sk);
    mv_r255_scalar_add(sig + RS_OFF_ZK(m), S->sk_nonce, t);
    mv_wipe(t, sizeof t);
    mv_wipe(zd, sizeof zd);
    rc = mv_buf_append(out, sig, siglen);
out:
    rs_nonces_wipe(&nn);
    if (S) {
        mv_wipe(S, sizeof *S);
        mv_secure_free(S);
    }
    mv_free(sig);
    return rc;
}

/* ---- verification ---- */

mv_err rs_parse_check(const mv_ring *r, const uint8_t *sig, size_t sig_len)
{
    const unsigned m = r->bits;
    if (!sig || sig_len != MV_RING_SIG_BYTES(m) || sig[0] != RS_VERSION || sig[1] != m ||
        get_u64be(sig + 2) != r->epoch)
        return MV_ERR_AUTH;
    for (size_t off = RS_OFF_U; off < RS_OFF_F(m); off += 32)
        if (mv_r255_elem_check(sig + off) != MV_OK)
            return MV_ERR_AUTH;
    for (size_t off = RS_OFF_F(m); off < sig_len; off += 32)
        if (!mv_r255_scalar_is_canonical(sig + off))
            return MV_ERR_AUTH;
    return MV_OK;
}

/* acc += s * p. */
static mv_err acc_add(uint8_t acc[32], const uint8_t s[32], const uint8_t p[32])
{
    uint8_t t[32];
    mv_err rc = mv_r255_smul_any(t, s, p);
    if (rc == MV_OK)
        rc = mv_r255_add(acc, acc, t);
    return rc;
}

/* A random 128-bit weight: a combination that does not cancel an error except with
 * probability 2^-128. */
static void weight(uint8_t w[32])
{
    memset(w, 0, 32);
    randombytes_buf(w, 16);
    w[0] |= 1;
}

/* Adds one signature's six equations, each times a random weight, to acc; adds its weighted
 * coefficients of the shared bases (H, G_j, G, EK, the members) to the running sums. */
struct shared_coefs {
    uint8_t h[32], g[MV_RING_MAX_BITS][32], base[32], ek[32];
    uint8_t *pk; /* n_members * 32 */
    uint8_t *p;  /* 2^m * 32 scratch */
};

static mv_err add_one(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, struct shared_coefs *sc,
                      uint8_t acc[32])
{
    const unsigned m = r->bits;
    const size_t full = (size_t)1 << m;
    uint8_t x[32], xm[32], w[6][32], t[32], u2[32], xk[32];
    const uint8_t *f = sig + RS_OFF_F(m);
    mv_err rc;
    if ((rc = rs_parse_check(r, sig, MV_RING_SIG_BYTES(m))) != MV_OK)
        return rc;
    if ((rc = challenge_of(r, msg, len, sig, x)) != MV_OK)
        return MV_ERR_AUTH;
    for (int e = 0; e < 6; e++)
        weight(w[e]);

    /* E1: x*B + A - z_A*H - sum f_j G_j = 0, weight w0. */
    if ((rc = acc_add(acc, w[0], sig + RS_OFF_A)) != MV_OK)
        return rc;
    mv_r255_scalar_mul(t, w[0], x);
    if ((rc = acc_add(acc, t, sig + RS_OFF_B)) != MV_OK)
        return rc;
    /* E2: x*C + D - z_C*H - sum f_j (x - f_j) G_j = 0, weight w1. */
    if ((rc = acc_add(acc, w[1], sig + RS_OFF_D)) != MV_OK)
        return rc;
    mv_r255_scalar_mul(t, w[1], x);
    if ((rc = acc_add(acc, t, sig + RS_OFF_C)) != MV_OK)
        return rc;
    mv_r255_scalar_mul(t, w[0], sig + RS_OFF_ZA(m));
    mv_r255_scalar_sub(sc->h, sc->h, t);
    mv_r255_scalar_mul(t, w[1], sig + RS_OFF_ZC(m));
    mv_r255_scalar_sub(sc->h, sc->h, t);
    for (unsigned j = 0; j < m; j++) {
        uint8_t xf[32];
        mv_r255_scalar_mul(t, w[0], f + 32 * j);
        mv_r255_scalar_sub(sc->g[j], sc->g[j], t);
        mv_r255_scalar_sub(xf, x, f + 32 * j);
        mv_r255_scalar_mul(xf, xf, f + 32 * j);
        mv_r255_scalar_mul(t, w[1], xf);
        mv_r255_scalar_sub(sc->g[j], sc->g[j], t);
    }

    /* p_i(x) = prod_j (bit j of i ? f_j : x - f_j), built by doubling. */
    memcpy(sc->p, ONE, 32);
    for (unsigned j = 0, size = 1; j < m; j++, size *= 2) {
        uint8_t xf[32];
        mv_r255_scalar_sub(xf, x, f + 32 * j);
        for (size_t i = 0; i < size; i++) {
            mv_r255_scalar_mul(sc->p + 32 * (i + size), sc->p + 32 * i, f + 32 * j);
            mv_r255_scalar_mul(sc->p + 32 * i, sc->p + 32 * i, xf);
        }
    }
    /* E3: x^m u - sum x^k G_k.1 - z_d G = 0 (w2); E4: x^m v - sum p_i P_i - sum x^k G_k.2 -
     * z_d EK = 0 (w3); E5: T1 + x u - z_r G = 0 (w4); E6: T2 + x v - z_r EK - z_k G = 0 (w5). */
    memcpy(xk, ONE, 32);
    for (unsigned k = 0; k < m; k++) {
        mv_r255_scalar_mul(t, w[2], xk);
        mv_r255_scalar_neg(t, t);
        if ((rc = acc_add(acc, t, sig + RS_OFF_G + 64 * k)) != MV_OK)
            return rc;
        mv_r255_scalar_mul(t, w[3], xk);
        mv_r255_scalar_neg(t, t);
        if ((rc = acc_add(acc, t, sig + RS_OFF_G + 64 * k + 32)) != MV_OK)
            return rc;
        mv_r255_scalar_mul(xk, xk, x);
    }
    memcpy(xm, xk, 32);
    for (size_t i = 0; i < full; i++) {
        size_t dst = i < r->n_members ? i : r->n_members - 1;
        mv_r255_scalar_mul(t, w[3], sc->p + 32 * i);
        mv_r255_scalar_sub(sc->pk + 32 * dst, sc->pk + 32 * dst, t);
    }
    /* u: w2 x^m + w4 x; v: w3 x^m + w5 x. */
    mv_r255_scalar_mul(t, w[2], xm);
    mv_r255_scalar_mul(u2, w[4], x);
    mv_r255_scalar_add(t, t, u2);
    if ((rc = acc_add(acc, t, sig + RS_OFF_U)) != MV_OK)
        return rc;
    mv_r255_scalar_mul(t, w[3], xm);
    mv_r255_scalar_mul(u2, w[5], x);
    mv_r255_scalar_add(t, t, u2);
    if ((rc = acc_add(acc, t, sig + RS_OFF_V)) != MV_OK)
        return rc;
    if ((rc = acc_add(acc, w[4], sig + RS_OFF_T1(m))) != MV_OK || (rc = acc_add(acc, w[5], sig + RS_OFF_T2(m))) != MV_OK)
        return rc;
    /* G: -(w2 z_d + w4 z_r + w5 z_k); EK: -(w3 z_d + w5 z_r). */
    mv_r255_scalar_mul(t, w[2], sig + RS_OFF_ZD(m));
    mv_r255_scalar_sub(sc->base, sc->base, t);
    mv_r255_scalar_mul(t, w[4], sig + RS_OFF_ZR(m));
    mv_r255_scalar_sub(sc->base, sc->base, t);
    mv_r255_scalar_mul(t, w[5], sig + RS_OFF_ZK(m));
    mv_r255_scalar_sub(sc->base, sc->base, t);
    mv_r255_scalar_mul(t, w[3], sig + RS_OFF_ZD(m));
    mv_r255_scalar_sub(sc->ek, sc->ek, t);
    mv_r255_scalar_mul(t, w[5], sig + RS_OFF_ZR(m));
    mv_r255_scalar_sub(sc->ek, sc->ek, t);
    return MV_OK;
}

mv_err mv_ring_verify_batch(const mv_ring *r, size_t count, const uint8_t *const *msgs, const size_t *lens,
                            const uint8_t *const *sigs, const size_t *sig_lens)
{
    struct shared_coefs sc;
    uint8_t acc[32] = {0}, t[32];
    mv_err rc;
    memset(&sc, 0, sizeof sc);
    if (!r || !msgs || !lens || !sigs || !sig_lens || count == 0)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (r->bits < 1 || r->bits > MV_RING_MAX_BITS || r->n_members < MV_RING_MIN_MEMBERS)
        return MV_ERR_INVAL;
    for (size_t s = 0; s < count; s++)
        if (!sigs[s] || (!msgs[s] && lens[s]) || sig_lens[s] != MV_RING_SIG_BYTES(r->bits))
            return MV_ERR_AUTH;
    sc.pk = mv_calloc(r->n_members, 32);
    sc.p = mv_calloc((size_t)1 << r->bits, 32);
    if (!sc.pk || !sc.p) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t s = 0; s < count; s++)
        if ((rc = add_one(r, msgs[s], lens[s], sigs[s], &sc, acc)) != MV_OK)
            goto out;
    /* The shared bases, once for the whole batch: the members (the cost that grows with N),
     * the commitment generators, G and EK. */
    for (size_t i = 0; i < r->n_members; i++)
        if ((rc = acc_add(acc, sc.pk + 32 * i, r->members + 32 * i)) != MV_OK)
            goto out;
    for (unsigned j = 0; j < r->bits; j++)
        if ((rc = acc_add(acc, sc.g[j], r->gens[j])) != MV_OK)
            goto out;
    if ((rc = acc_add(acc, sc.h, r->gens[r->bits])) != MV_OK || (rc = acc_add(acc, sc.ek, r->ek)) != MV_OK)
        goto out;
    mv_r255_smul_base_any(t, sc.base);
    if ((rc = mv_r255_add(acc, acc, t)) != MV_OK)
        goto out;
    rc = mv_r255_is_identity(acc) ? MV_OK : MV_ERR_AUTH;
out:
    mv_free(sc.pk);
    mv_free(sc.p);
    if (rc != MV_OK && rc != MV_ERR_NOMEM && rc != MV_ERR_INVAL)
        rc = MV_ERR_AUTH;
    return rc;
}

mv_err mv_ring_verify(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    return mv_ring_verify_batch(r, 1, &msg, &len, &sig, &sig_len);
}
