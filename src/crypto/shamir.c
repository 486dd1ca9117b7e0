/* shamir.c - Shamir sharing and Feldman commitments over ristretto255: any t shares determine
 * the secret, fewer reveal nothing, and every share can be checked against public commitments. */
#include "medvault/mv_shamir.h"

#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"

#define NS MV_SHAMIR_SCALAR_BYTES
#define NE MV_SHAMIR_ELEM_BYTES

/* Horner: f(x) = a_0 + x(a_1 + x(a_2 + ...)). a0 and rest (a_1..a_{t-1}) are passed apart so
 * that split needs no copy of the secret. */
static void horner(uint8_t out[NS], const uint8_t a0[NS], const uint8_t *rest, size_t t, uint32_t x)
{
    uint8_t xs[NS], acc[NS];
    mv_r255_scalar_from_u64(xs, x);
    if (t == 1) {
        memcpy(out, a0, NS);
        return;
    }
    memcpy(acc, rest + (t - 2) * NS, NS);
    for (size_t k = t - 2; k-- > 0;) {
        mv_r255_scalar_mul(acc, acc, xs);
        mv_r255_scalar_add(acc, acc, rest + k * NS);
    }
    mv_r255_scalar_mul(acc, acc, xs);
    mv_r255_scalar_add(out, acc, a0);
    mv_wipe(acc, sizeof acc);
}

static int all_canonical(const uint8_t *s, size_t count)
{
    int ok = 1;
    for (size_t i = 0; i < count; i++)
        ok &= mv_r255_scalar_is_canonical(s + i * NS);
    return ok;
}

mv_err mv_shamir_poly_eval(const uint8_t *coeffs, size_t t, uint32_t x, uint8_t out[static MV_SHAMIR_SCALAR_BYTES])
{
    if (!out)
        return MV_ERR_INVAL;
    if (!coeffs || t == 0 || t > MV_SHAMIR_MAX_PARTIES || !all_canonical(coeffs, t)) {
        memset(out, 0, NS);
        return MV_ERR_INVAL;
    }
    horner(out, coeffs, coeffs + NS, t, x);
    return MV_OK;
}

mv_err mv_shamir_split(const uint8_t secret[static MV_SHAMIR_SCALAR_BYTES], size_t t, size_t n,
                       const uint8_t *fixed_coeffs, uint8_t *shares)
{
    uint8_t *rest = NULL;
    mv_err rc = MV_OK;

    if (!shares || n == 0 || n > MV_SHAMIR_MAX_PARTIES)
        return MV_ERR_INVAL;
    if (!secret || t == 0 || t > n || !mv_r255_scalar_is_canonical(secret) ||
        (fixed_coeffs && !all_canonical(fixed_coeffs, t - 1))) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    if (t > 1) {
        if (!(rest = mv_mallocarray(t - 1, NS))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t k = 0; k + 1 < t; k++) {
            if (fixed_coeffs)
                memcpy(rest + k * NS, fixed_coeffs + k * NS, NS);
            else
                mv_r255_scalar_random(rest + k * NS);
        }
    }
    for (size_t i = 0; i < n; i++)
        horner(shares + i * NS, secret, rest, t, (uint32_t)(i + 1));

out:
    if (rc != MV_OK)
        mv_wipe(shares, n * NS);
    if (rest) {
        mv_wipe(rest, (t - 1) * NS);
        mv_free(rest);
    }
    return rc;
}

mv_err mv_shamir_lagrange(const uint32_t *ids, size_t count, uint32_t id, uint8_t lambda[static MV_SHAMIR_SCALAR_BYTES])
{
    uint8_t num[NS], den[NS], xj[NS], xi[NS], diff[NS];
    int found = 0;

    if (!lambda)
        return MV_ERR_INVAL;
    memset(lambda, 0, NS);
    if (!ids || count == 0 || count > MV_SHAMIR_MAX_PARTIES || id == 0)
        return MV_ERR_INVAL;
    for (size_t a = 0; a < count; a++) {
        if (ids[a] == 0)
            return MV_ERR_INVAL;
        for (size_t b = a + 1; b < count; b++)
            if (ids[a] == ids[b])
                return MV_ERR_INVAL;
        found |= ids[a] == id;
    }
    if (!found)
        return MV_ERR_INVAL;

    /* lambda_i = prod_{j != i} x_j / (x_j - x_i): one inversion for the whole product. */
    mv_r255_scalar_from_u64(num, 1);
    mv_r255_scalar_from_u64(den, 1);
    mv_r255_scalar_from_u64(xi, id);
    for (size_t j = 0; j < count; j++) {
        if (ids[j] == id)
            continue;
        mv_r255_scalar_from_u64(xj, ids[j]);
        mv_r255_scalar_mul(num, num, xj);
        mv_r255_scalar_sub(diff, xj, xi);
        mv_r255_scalar_mul(den, den, diff);
    }
    /* den is a product of non-zero differences of distinct ids < 2^32 < L: never zero. */
    if (mv_r255_scalar_invert(den, den) != MV_OK)
        return MV_ERR_INVAL;
    mv_r255_scalar_mul(lambda, num, den);
    return MV_OK;
}

mv_err mv_shamir_combine_scalars(const uint32_t *ids, const uint8_t *shares, size_t count,
                                 uint8_t secret[static MV_SHAMIR_SCALAR_BYTES])
{
    uint8_t lambda[NS], term[NS], acc[NS] = {0};
    mv_err rc = MV_OK;

    if (!secret)
        return MV_ERR_INVAL;
    if (!shares) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = mv_shamir_lagrange(ids, count, ids ? ids[i] : 0, lambda)) != MV_OK)
            goto out;
        if (!mv_r255_scalar_is_canonical(shares + i * NS)) {
            rc = MV_ERR_CRYPTO;
            goto out;
        }
        mv_r255_scalar_mul(term, lambda, shares + i * NS);
        mv_r255_scalar_add(acc, acc, term);
    }
    if (count == 0)
        rc = MV_ERR_INVAL;
out:
    if (rc == MV_OK)
        memcpy(secret, acc, NS);
    else
        memset(secret, 0, NS);
    mv_wipe(acc, sizeof acc);
    mv_wipe(term, sizeof term);
    return rc;
}

/* out = sum_i lambdas[i] * (element b of server i's batch). */
static mv_err combine_one(const uint8_t *lambdas, size_t count, const uint8_t *const *elems, size_t b,
                          uint8_t out[NE])
{
    uint8_t acc[NE], term[NE];
    mv_err rc;
    for (size_t i = 0; i < count; i++) {
        /* lambda_i != 0, so an identity term means an identity input (rejected). */
        if ((rc = mv_r255_smul(i ? term : acc, lambdas + i * NS, elems[i] + b * NE)) != MV_OK)
            return rc;
        if (i && (rc = mv_r255_add(acc, acc, term)) != MV_OK)
            return rc;
    }
    if (mv_r255_is_identity(acc))
        return MV_ERR_IDENTITY;
    memcpy(out, acc, NE);
    return MV_OK;
}

mv_err mv_shamir_combine_batch(const uint32_t *ids, size_t count, const uint8_t *const *elems, size_t batch,
                               uint8_t *out)
{
    uint8_t *lambdas = NULL;
    mv_err rc = MV_OK;

    if (!out || batch == 0 || batch > MV_SHAMIR_MAX_BATCH)
        return MV_ERR_INVAL;
    if (!ids || !elems || count == 0 || count > MV_SHAMIR_MAX_PARTIES) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (!elems[i]) {
            rc = MV_ERR_INVAL;
            goto out;
        }
    }
    if (!(lambdas = mv_mallocarray(count, NS))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        if ((rc = mv_shamir_lagrange(ids, count, ids[i], lambdas + i * NS)) != MV_OK)
            goto out;
    for (size_t b = 0; b < batch; b++)
        if ((rc = combine_one(lambdas, count, elems, b, out + b * NE)) != MV_OK)
            goto out;
out:
    if (rc != MV_OK)
        memset(out, 0, batch * NE);
    mv_free(lambdas);
    return rc;
}

mv_err mv_shamir_combine_elements(const uint32_t *ids, const uint8_t *elems, size_t count,
                                  uint8_t out[static MV_SHAMIR_ELEM_BYTES])
{
    const uint8_t *ptrs[MV_SHAMIR_MAX_PARTIES];
    if (!out)
        return MV_ERR_INVAL;
    if (!elems || count == 0 || count > MV_SHAMIR_MAX_PARTIES) {
        memset(out, 0, NE);
        return MV_ERR_INVAL;
    }
    for (size_t i = 0; i < count; i++)
        ptrs[i] = elems + i * NE;
    return mv_shamir_combine_batch(ids, count, ptrs, 1, out);
}

mv_err mv_feldman_commit(const uint8_t *coeffs, size_t t, uint8_t *commitments)
{
    if (!commitments || t == 0 || t > MV_SHAMIR_MAX_PARTIES)
        return MV_ERR_INVAL;
    if (!coeffs || !all_canonical(coeffs, t)) {
        memset(commitments, 0, t * NE);
        return MV_ERR_INVAL;
    }
    for (size_t k = 0; k < t; k++)
        mv_r255_smul_base_any(commitments + k * NE, coeffs + k * NS);
    return MV_OK;
}

mv_err mv_feldman_eval(const uint8_t *commitments, size_t t, uint32_t id, uint8_t out[static MV_SHAMIR_ELEM_BYTES])
{
    uint8_t xs[NS], acc[NE];
    mv_err rc = MV_OK;

    if (!out)
        return MV_ERR_INVAL;
    if (!commitments || t == 0 || t > MV_SHAMIR_MAX_PARTIES || id == 0) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    for (size_t k = 0; k < t; k++) {
        if (mv_r255_elem_check(commitments + k * NE) == MV_ERR_CRYPTO) {
            rc = MV_ERR_CRYPTO;
            goto out;
        }
    }
    /* Horner in the exponent: acc = C_{t-1}; acc = id*acc + C_k for k = t-2 .. 0. */
    mv_r255_scalar_from_u64(xs, id);
    memcpy(acc, commitments + (t - 1) * NE, NE);
    for (size_t k = t - 1; k-- > 0;) {
        if ((rc = mv_r255_smul_any(acc, xs, acc)) != MV_OK || (rc = mv_r255_add(acc, acc, commitments + k * NE)) != MV_OK)
            goto out;
    }
    memcpy(out, acc, NE);
out:
    if (rc != MV_OK)
        memset(out, 0, NE);
    return rc;
}

mv_err mv_feldman_verify(const uint8_t *commitments, size_t t, uint32_t id,
                         const uint8_t share[static MV_SHAMIR_SCALAR_BYTES])
{
    uint8_t want[NE], got[NE];
    mv_err rc;
    if (!share)
        return MV_ERR_INVAL;
    if ((rc = mv_feldman_eval(commitments, t, id, want)) != MV_OK)
        return rc;
    if (!mv_r255_scalar_is_canonical(share))
        return MV_ERR_VERIFY;
    mv_r255_smul_base_any(got, share);
    return mv_ct_eq(got, want, NE) ? MV_OK : MV_ERR_VERIFY;
}

mv_err mv_public_shares_check(const uint8_t *public_shares, size_t n, size_t t, const uint8_t group_pk[32])
{
    uint32_t ids[MV_SHAMIR_MAX_PARTIES];
    uint8_t got[32];
    mv_err rc;
    if (!public_shares || t == 0 || t > n || n > MV_SHAMIR_MAX_PARTIES)
        return MV_ERR_INVAL;
    for (size_t start = 0; start + t <= n; start++) {
        for (size_t i = 0; i < t; i++)
            ids[i] = (uint32_t)(start + i + 1);
        rc = mv_shamir_combine_elements(ids, public_shares + start * 32, t, got);
        if (rc != MV_OK)
            return rc == MV_ERR_INVAL ? MV_ERR_INVAL : MV_ERR_VERIFY;
        if (!mv_ct_eq(got, group_pk, 32))
            return MV_ERR_VERIFY;
    }
    return MV_OK;
}
