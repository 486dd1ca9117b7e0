/* oprf.c - RFC 9497 (V)OPRF, ristretto255-SHA512: the server learns nothing about inputs, the
 * client learns only F(k, input), and in mode 1 every evaluation is proven to use the key of pk. */
#include "medvault/mv_oprf.h"

#include <string.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_xmd.h"

#define NE MV_OPRF_ELEM_BYTES
#define NS MV_OPRF_SCALAR_BYTES

/* contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || "ristretto255-SHA512" (RFC 9497 3.1). */
#define CTX_LEN 28
/* Longest DST built here: "HashToScalar-" (13) || contextString. */
#define DST_MAX 48

static int mode_ok(mv_oprf_mode mode)
{
    return mode == MV_OPRF_MODE_OPRF || mode == MV_OPRF_MODE_VOPRF;
}

/* Writes prefix || contextString(mode) into dst (DST_MAX bytes) and returns its length. */
static size_t make_dst(uint8_t dst[DST_MAX], const char *prefix, mv_oprf_mode mode)
{
    static const char tail[] = "-ristretto255-SHA512";
    size_t n = strlen(prefix);
    memcpy(dst, prefix, n);
    memcpy(dst + n, "OPRFV1-", 7);
    dst[n + 7] = (uint8_t)mode;
    memcpy(dst + n + 8, tail, sizeof tail - 1);
    return n + CTX_LEN;
}

static void put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static mv_err hash_to_group(mv_oprf_mode mode, uint8_t out[NE], const uint8_t *input, size_t len)
{
    uint8_t dst[DST_MAX];
    size_t dst_len = make_dst(dst, "HashToGroup-", mode);
    mv_err rc = mv_r255_hash_to_group(out, input, len, dst, dst_len);
    if (rc == MV_OK && mv_r255_is_identity(out))
        rc = MV_ERR_IDENTITY; /* RFC 9497 InvalidInputError */
    return rc;
}

/* Finalize/Evaluate hash: SHA-512(I2OSP(len,2) || input || I2OSP(Ne,2) || element || "Finalize"). */
static mv_err finalize_hash(uint8_t out[MV_OPRF_OUTPUT_BYTES], const uint8_t *input, size_t len,
                            const uint8_t elem[NE])
{
    static const uint8_t label[] = "Finalize";
    uint8_t l1[2], l2[2];
    mv_sha512_ctx *c = NULL;
    put_u16(l1, len);
    put_u16(l2, NE);
    mv_err rc = mv_sha512_new(&c);
    if (rc != MV_OK)
        return rc;
    if ((rc = mv_sha512_update(c, l1, 2)) != MV_OK || (len && (rc = mv_sha512_update(c, input, len)) != MV_OK) ||
        (rc = mv_sha512_update(c, l2, 2)) != MV_OK || (rc = mv_sha512_update(c, elem, NE)) != MV_OK ||
        (rc = mv_sha512_update(c, label, sizeof label - 1)) != MV_OK) {
        mv_sha512_free(c);
        return rc;
    }
    return mv_sha512_final(c, out);
}

mv_err mv_oprf_derive_keypair(mv_oprf_mode mode, const uint8_t seed[static MV_OPRF_SEED_BYTES],
                              const uint8_t *info, size_t info_len, uint8_t sk[static MV_OPRF_SCALAR_BYTES],
                              uint8_t pk[static MV_OPRF_ELEM_BYTES])
{
    uint8_t dst[DST_MAX], ilen[2], counter = 0;
    mv_err rc = MV_OK;

    if (!sk || !pk)
        return MV_ERR_INVAL;
    memset(sk, 0, NS);
    memset(pk, 0, NE);
    if (!mode_ok(mode) || !seed || (!info && info_len) || info_len > MV_OPRF_MAX_INPUT)
        return MV_ERR_INVAL;

    /* deriveInput = seed || I2OSP(len(info), 2) || info; skS = HashToScalar(deriveInput ||
     * I2OSP(counter, 1), DST = "DeriveKeyPair" || contextString) until non-zero (RFC 9497 3.2.1). */
    size_t dst_len = make_dst(dst, "DeriveKeyPair", mode);
    put_u16(ilen, info_len);
    for (unsigned i = 0;; i++) {
        if (i > 255) {
            rc = MV_ERR_CRYPTO; /* DeriveKeyPairError */
            goto out;
        }
        counter = (uint8_t)i;
        mv_xmd_part parts[4] = {{seed, MV_OPRF_SEED_BYTES}, {ilen, 2}, {info, info_len}, {&counter, 1}};
        uint8_t wide[64];
        rc = mv_xmd_sha512_parts(wide, sizeof wide, parts, 4, dst, dst_len);
        if (rc == MV_OK)
            mv_r255_scalar_reduce64(sk, wide);
        mv_wipe(wide, sizeof wide);
        if (rc != MV_OK)
            goto out;
        if (!mv_r255_scalar_is_zero(sk))
            break;
    }
    rc = mv_r255_smul_base(pk, sk);

out:
    if (rc != MV_OK) {
        mv_wipe(sk, NS);
        memset(pk, 0, NE);
    }
    return rc;
}

mv_err mv_oprf_blind(mv_oprf_mode mode, const uint8_t *input, size_t input_len, const uint8_t *fixed_blind,
                     uint8_t blind[static MV_OPRF_SCALAR_BYTES], uint8_t blinded[static MV_OPRF_ELEM_BYTES])
{
    uint8_t p[NE];
    mv_err rc = MV_OK;

    if (!blind || !blinded)
        return MV_ERR_INVAL;
    if (!mode_ok(mode) || (!input && input_len) || input_len > MV_OPRF_MAX_INPUT ||
        (fixed_blind && mv_r255_scalar_check(fixed_blind) != MV_OK)) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (fixed_blind)
        memmove(blind, fixed_blind, NS);
    else
        mv_r255_scalar_random(blind);
    if ((rc = hash_to_group(mode, p, input, input_len)) != MV_OK)
        goto out;
    rc = mv_r255_smul(blinded, blind, p);

out:
    if (rc != MV_OK) {
        mv_wipe(blind, NS);
        memset(blinded, 0, NE);
    }
    mv_wipe(p, sizeof p);
    return rc;
}

mv_err mv_oprf_blind_evaluate(const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t *blinded, size_t count,
                              uint8_t *evaluated)
{
    mv_err rc = MV_OK;
    if (!evaluated || count == 0 || count > MV_OPRF_MAX_BATCH)
        return MV_ERR_INVAL;
    if (!sk || !blinded || mv_r255_scalar_check(sk) != MV_OK) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    /* A valid non-identity input times a non-zero scalar is never the identity in a
     * prime-order group, so mv_r255_smul's IDENTITY can only mean the input was the
     * identity: exactly RFC 9497's DeserializeElement check, at no extra cost. */
    for (size_t i = 0; i < count; i++)
        if ((rc = mv_r255_smul(evaluated + i * NE, sk, blinded + i * NE)) != MV_OK)
            goto out;
out:
    if (rc != MV_OK)
        memset(evaluated, 0, count * NE);
    return rc;
}

/* RFC 9497 2.2.1 ComputeComposites (k NULL: verifier, Z = sum d_i*D_i) and
 * ComputeCompositesFast (k given: prover, Z = k*M), in VOPRF mode with B = pk.
 * seed = SHA-512(I2OSP(Ne,2) || pk || I2OSP(len(seedDST),2) || seedDST) is computed once;
 * d_i = HashToScalar(I2OSP(64,2) || seed || I2OSP(i,2) || I2OSP(Ne,2) || C_i ||
 * I2OSP(Ne,2) || D_i || "Composite"), the transcript living in one stack buffer whose
 * prefix is written once per batch. Element checks come from mv_r255_smul (invalid ->
 * CRYPTO, identity -> IDENTITY, since d_i is non-zero except with negligible probability);
 * the prover never decodes D, which is its own BlindEvaluate output and only hashed. */
static mv_err composites(const uint8_t pk[NE], const uint8_t *C, const uint8_t *D, size_t m, const uint8_t *k,
                         uint8_t M[NE], uint8_t Z[NE])
{
    static const uint8_t comp_label[] = "Composite";
    uint8_t seed_dst[DST_MAX], h2s_dst[DST_MAX], seed[MV_SHA512_BYTES];
    uint8_t tr[2 + MV_SHA512_BYTES + 2 + 2 + NE + 2 + NE + sizeof comp_label - 1];
    uint8_t d[NS], t[NE];
    mv_sha512_ctx *c = NULL;
    mv_err rc;

    size_t seed_dst_len = make_dst(seed_dst, "Seed-", MV_OPRF_MODE_VOPRF);
    size_t h2s_dst_len = make_dst(h2s_dst, "HashToScalar-", MV_OPRF_MODE_VOPRF);
    {
        uint8_t l1[2], l2[2];
        put_u16(l1, NE);
        put_u16(l2, seed_dst_len);
        if ((rc = mv_sha512_new(&c)) != MV_OK)
            goto out;
        if ((rc = mv_sha512_update(c, l1, 2)) != MV_OK || (rc = mv_sha512_update(c, pk, NE)) != MV_OK ||
            (rc = mv_sha512_update(c, l2, 2)) != MV_OK ||
            (rc = mv_sha512_update(c, seed_dst, seed_dst_len)) != MV_OK) {
            mv_sha512_free(c);
            goto out;
        }
        if ((rc = mv_sha512_final(c, seed)) != MV_OK)
            goto out;
    }

    uint8_t *p = tr;
    put_u16(p, sizeof seed);
    memcpy(p + 2, seed, sizeof seed);
    p += 2 + sizeof seed;
    uint8_t *p_i = p;               /* I2OSP(i, 2) */
    uint8_t *p_c = p_i + 2 + 2;     /* C_i, after its length */
    uint8_t *p_d = p_c + NE + 2;    /* D_i, after its length */
    put_u16(p_i + 2, NE);
    put_u16(p_c + NE, NE);
    memcpy(p_d + NE, comp_label, sizeof comp_label - 1);

    for (size_t i = 0; i < m; i++) {
        put_u16(p_i, i);
        memcpy(p_c, C + i * NE, NE);
        memcpy(p_d, D + i * NE, NE);
        if ((rc = mv_r255_hash_to_scalar(d, tr, sizeof tr, h2s_dst, h2s_dst_len)) != MV_OK)
            goto out;
        if ((rc = mv_r255_smul(i ? t : M, d, C + i * NE)) != MV_OK)
            goto out;
        if (i && (rc = mv_r255_add(M, M, t)) != MV_OK)
            goto out;
        if (!k) {
            if ((rc = mv_r255_smul(i ? t : Z, d, D + i * NE)) != MV_OK)
                goto out;
            if (i && (rc = mv_r255_add(Z, Z, t)) != MV_OK)
                goto out;
        }
        /* The prover only hashes D (its own BlindEvaluate output): no decode needed. */
    }
    /* RFC 9497 SerializeElement fails on the identity, so an identity composite is an error. */
    if (mv_r255_is_identity(M)) {
        rc = MV_ERR_IDENTITY;
        goto out;
    }
    if (k)
        rc = mv_r255_smul(Z, k, M);
    else if (mv_r255_is_identity(Z))
        rc = MV_ERR_IDENTITY;

out:
    if (rc != MV_OK) {
        memset(M, 0, NE);
        memset(Z, 0, NE);
    }
    mv_wipe(d, sizeof d);
    return rc;
}

/* c = HashToScalar(I2OSP(Ne,2)||pk || I2OSP(Ne,2)||M || I2OSP(Ne,2)||Z || I2OSP(Ne,2)||t2 ||
 * I2OSP(Ne,2)||t3 || "Challenge") (RFC 9497 2.2.1). */
static mv_err challenge(uint8_t c[NS], const uint8_t pk[NE], const uint8_t M[NE], const uint8_t Z[NE],
                        const uint8_t t2[NE], const uint8_t t3[NE])
{
    static const uint8_t label[] = "Challenge";
    uint8_t dst[DST_MAX], tr[5 * (2 + NE) + sizeof label - 1];
    const uint8_t *e[5] = {pk, M, Z, t2, t3};
    for (size_t i = 0; i < 5; i++) {
        put_u16(tr + i * (2 + NE), NE);
        memcpy(tr + i * (2 + NE) + 2, e[i], NE);
    }
    memcpy(tr + 5 * (2 + NE), label, sizeof label - 1);
    size_t dst_len = make_dst(dst, "HashToScalar-", MV_OPRF_MODE_VOPRF);
    return mv_r255_hash_to_scalar(c, tr, sizeof tr, dst, dst_len);
}

mv_err mv_voprf_prove(const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t pk[static MV_OPRF_ELEM_BYTES],
                      const uint8_t *blinded, const uint8_t *evaluated, size_t count, const uint8_t *fixed_r,
                      uint8_t proof[static MV_OPRF_PROOF_BYTES])
{
    uint8_t M[NE], Z[NE], r[NS], t2[NE], t3[NE], c[NS], ck[NS];
    mv_err rc;

    if (!proof)
        return MV_ERR_INVAL;
    memset(proof, 0, MV_OPRF_PROOF_BYTES);
    memset(r, 0, sizeof r);
    if (!sk || !pk || !blinded || !evaluated || count == 0 || count > MV_OPRF_MAX_BATCH ||
        mv_r255_scalar_check(sk) != MV_OK || mv_r255_elem_check(pk) != MV_OK ||
        (fixed_r && mv_r255_scalar_check(fixed_r) != MV_OK)) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    if ((rc = composites(pk, blinded, evaluated, count, sk, M, Z)) != MV_OK)
        goto out;
    if (fixed_r)
        memcpy(r, fixed_r, NS);
    else
        mv_r255_scalar_random(r);
    if ((rc = mv_r255_smul_base(t2, r)) != MV_OK || (rc = mv_r255_smul(t3, r, M)) != MV_OK)
        goto out;
    if ((rc = challenge(c, pk, M, Z, t2, t3)) != MV_OK)
        goto out;
    /* s = r - c*k */
    mv_r255_scalar_mul(ck, c, sk);
    memcpy(proof, c, NS);
    mv_r255_scalar_sub(proof + NS, r, ck);

out:
    if (rc != MV_OK)
        memset(proof, 0, MV_OPRF_PROOF_BYTES);
    mv_wipe(r, sizeof r);
    mv_wipe(ck, sizeof ck);
    mv_wipe(Z, sizeof Z);
    return rc;
}

mv_err mv_voprf_verify(const uint8_t pk[static MV_OPRF_ELEM_BYTES], const uint8_t *blinded,
                       const uint8_t *evaluated, size_t count, const uint8_t proof[static MV_OPRF_PROOF_BYTES])
{
    uint8_t M[NE], Z[NE], t2[NE], t3[NE], u[NE], c[NS];
    const uint8_t *pc = proof, *ps = proof ? proof + NS : NULL;
    mv_err rc;

    if (!pk || !blinded || !evaluated || !proof || count == 0 || count > MV_OPRF_MAX_BATCH)
        return MV_ERR_INVAL;
    if ((rc = mv_r255_elem_check(pk)) != MV_OK)
        return rc;
    /* Element checks first (they say what is malformed), then the proof's scalars. */
    if ((rc = composites(pk, blinded, evaluated, count, NULL, M, Z)) != MV_OK)
        return rc;
    if (!mv_r255_scalar_is_canonical(pc) || !mv_r255_scalar_is_canonical(ps))
        return MV_ERR_VERIFY;
    /* t2 = s*G + c*pk; t3 = s*M + c*Z. Either term may be the identity for adversarial
     * c or s, which is no reason to error out: the challenge comparison decides. */
    mv_r255_smul_base_any(t2, ps);
    if ((rc = mv_r255_smul_any(u, pc, pk)) != MV_OK || (rc = mv_r255_add(t2, t2, u)) != MV_OK ||
        (rc = mv_r255_smul_any(t3, ps, M)) != MV_OK || (rc = mv_r255_smul_any(u, pc, Z)) != MV_OK ||
        (rc = mv_r255_add(t3, t3, u)) != MV_OK)
        return rc;
    if ((rc = challenge(c, pk, M, Z, t2, t3)) != MV_OK)
        return rc;
    return mv_ct_eq(c, pc, NS) ? MV_OK : MV_ERR_VERIFY;
}

mv_err mv_oprf_finalize(mv_oprf_mode mode, const uint8_t *input, size_t input_len,
                        const uint8_t blind[static MV_OPRF_SCALAR_BYTES], const uint8_t evaluated[static MV_OPRF_ELEM_BYTES],
                        uint8_t output[static MV_OPRF_OUTPUT_BYTES])
{
    uint8_t inv[NS], u[NE];
    mv_err rc;

    if (!output)
        return MV_ERR_INVAL;
    memset(inv, 0, sizeof inv);
    if (!mode_ok(mode) || (!input && input_len) || input_len > MV_OPRF_MAX_INPUT || !blind || !evaluated ||
        mv_r255_scalar_check(blind) != MV_OK) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    if ((rc = mv_r255_scalar_invert(inv, blind)) != MV_OK)
        goto out;
    if ((rc = mv_r255_smul(u, inv, evaluated)) != MV_OK)
        goto out;
    rc = finalize_hash(output, input, input_len, u);

out:
    if (rc != MV_OK)
        mv_wipe(output, MV_OPRF_OUTPUT_BYTES);
    mv_wipe(inv, sizeof inv);
    mv_wipe(u, sizeof u);
    return rc;
}

mv_err mv_oprf_evaluate(mv_oprf_mode mode, const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t *input,
                        size_t input_len, uint8_t output[static MV_OPRF_OUTPUT_BYTES])
{
    uint8_t p[NE], e[NE];
    mv_err rc;

    if (!output)
        return MV_ERR_INVAL;
    memset(e, 0, sizeof e);
    if (!mode_ok(mode) || !sk || (!input && input_len) || input_len > MV_OPRF_MAX_INPUT ||
        mv_r255_scalar_check(sk) != MV_OK) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    if ((rc = hash_to_group(mode, p, input, input_len)) != MV_OK)
        goto out;
    if ((rc = mv_r255_smul(e, sk, p)) != MV_OK)
        goto out;
    rc = finalize_hash(output, input, input_len, e);

out:
    if (rc != MV_OK)
        mv_wipe(output, MV_OPRF_OUTPUT_BYTES);
    mv_wipe(e, sizeof e);
    return rc;
}
