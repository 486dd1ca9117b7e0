/* dkg.c - Joint-Feldman DKG and proactive refresh: no process ever holds the OPRF key, every
 * share is checked against public commitments, and a refresh changes every share but never k. */
#include "medvault/mv_dkg.h"

#include <string.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"
#include "medvault/mv_shamir.h"

#define NS MV_DKG_SCALAR_BYTES
#define NE MV_DKG_ELEM_BYTES

struct mv_dkg {
    uint32_t my_id;
    size_t t, n;
    int refresh;
    uint8_t *coeffs;     /* t*NS: this dealer's polynomial (secret) */
    uint8_t *my_comm;    /* t*NE */
    uint8_t *comm;       /* n*t*NE: dealer j's commitments at (j-1)*t*NE */
    uint8_t *shares;     /* n*NS: share from dealer j (replaced by a verified reveal; secret) */
    uint8_t *orig;       /* n*NS: share as first delivered by dealer j (secret) */
    uint8_t *have;       /* n flags: deal from j stored */
    uint8_t *complaint;  /* n flags: this participant's open complaint against j */
    uint8_t *disq;       /* n flags: j disqualified */
};

static int id_ok(const mv_dkg *d, uint32_t id)
{
    return id >= 1 && id <= d->n;
}

void mv_dkg_free(mv_dkg *d)
{
    if (!d)
        return;
    if (d->coeffs) {
        mv_wipe(d->coeffs, d->t * NS);
        mv_free(d->coeffs);
    }
    if (d->shares) {
        mv_wipe(d->shares, d->n * NS);
        mv_free(d->shares);
    }
    if (d->orig) {
        mv_wipe(d->orig, d->n * NS);
        mv_free(d->orig);
    }
    mv_free(d->my_comm);
    mv_free(d->comm);
    mv_free(d->have);
    mv_free(d->complaint);
    mv_free(d->disq);
    mv_wipe(d, sizeof *d);
    mv_free(d);
}

mv_err mv_dkg_new(uint32_t my_id, size_t t, size_t n, int refresh, mv_dkg **out)
{
    mv_dkg *d = NULL;
    mv_err rc = MV_OK;

    if (!out)
        return MV_ERR_INVAL;
    *out = NULL;
    if (n == 0 || n > MV_DKG_MAX_PARTIES || t == 0 || t > n || my_id == 0 || my_id > n)
        return MV_ERR_INVAL;
    if (!(d = mv_calloc(1, sizeof *d))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    d->my_id = my_id;
    d->t = t;
    d->n = n;
    d->refresh = refresh != 0;
    d->coeffs = mv_calloc(t, NS);
    d->my_comm = mv_calloc(t, NE);
    d->comm = mv_calloc(n * t, NE);
    d->shares = mv_calloc(n, NS);
    d->orig = mv_calloc(n, NS);
    d->have = mv_calloc(n, 1);
    d->complaint = mv_calloc(n, 1);
    d->disq = mv_calloc(n, 1);
    if (!d->coeffs || !d->my_comm || !d->comm || !d->shares || !d->orig || !d->have || !d->complaint ||
        !d->disq) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < t; k++)
        mv_r255_scalar_random(d->coeffs + k * NS);
    if (d->refresh)
        memset(d->coeffs, 0, NS); /* a sharing of zero */
    if ((rc = mv_feldman_commit(d->coeffs, t, d->my_comm)) != MV_OK)
        goto out;
    /* Our own deal, from ourselves. */
    size_t me = my_id - 1;
    memcpy(d->comm + me * t * NE, d->my_comm, t * NE);
    if ((rc = mv_shamir_poly_eval(d->coeffs, t, my_id, d->shares + me * NS)) != MV_OK)
        goto out;
    memcpy(d->orig + me * NS, d->shares + me * NS, NS);
    d->have[me] = 1;
    *out = d;
    d = NULL;
out:
    mv_dkg_free(d);
    return rc;
}

const uint8_t *mv_dkg_my_commitments(const mv_dkg *d)
{
    return d ? d->my_comm : NULL;
}

mv_err mv_dkg_share_for(const mv_dkg *d, uint32_t to_id, uint8_t share[static MV_DKG_SCALAR_BYTES])
{
    if (!share)
        return MV_ERR_INVAL;
    if (!d || !id_ok(d, to_id)) {
        memset(share, 0, NS);
        return MV_ERR_INVAL;
    }
    return mv_shamir_poly_eval(d->coeffs, d->t, to_id, share);
}

mv_err mv_dkg_receive(mv_dkg *d, uint32_t from_id, const uint8_t *commitments, size_t t,
                      const uint8_t share[static MV_DKG_SCALAR_BYTES])
{
    if (!d || !commitments || !share || !id_ok(d, from_id))
        return MV_ERR_INVAL;
    size_t j = from_id - 1;
    uint8_t *cj = d->comm + j * d->t * NE;

    if (d->have[j]) {
        /* Redelivery is harmless; a different deal is equivocation and is dropped. */
        if (t == d->t && mv_ct_eq(cj, commitments, t * NE) && mv_ct_eq(d->orig + j * NS, share, NS))
            return d->complaint[j] ? MV_ERR_VERIFY : MV_OK;
        return MV_ERR_EXISTS;
    }
    if (t != d->t) {
        d->disq[j] = 1;
        return MV_ERR_PROTOCOL;
    }
    for (size_t k = 0; k < t; k++) {
        if (mv_r255_elem_check(commitments + k * NE) == MV_ERR_CRYPTO) {
            d->disq[j] = 1;
            return MV_ERR_PROTOCOL;
        }
    }
    /* Refresh: a_0 = 0, so C_0 must be the identity (else k would change). DKG: a_0 must be
     * a real contribution. */
    if (mv_r255_is_identity(commitments) != d->refresh) {
        d->disq[j] = 1;
        return MV_ERR_PROTOCOL;
    }
    memcpy(cj, commitments, t * NE);
    memcpy(d->shares + j * NS, share, NS);
    memcpy(d->orig + j * NS, share, NS);
    d->have[j] = 1;
    mv_err rc = mv_feldman_verify(cj, t, d->my_id, share);
    if (rc == MV_OK)
        return MV_OK;
    d->complaint[j] = 1;
    return MV_ERR_VERIFY;
}

mv_err mv_dkg_resolve(mv_dkg *d, uint32_t dealer, uint32_t complainer, const uint8_t *revealed_share)
{
    if (!d || !id_ok(d, dealer) || !id_ok(d, complainer) || dealer == complainer)
        return MV_ERR_INVAL;
    size_t j = dealer - 1;
    if (!d->have[j])
        return MV_ERR_BAD_STATE;
    if (!revealed_share ||
        mv_feldman_verify(d->comm + j * d->t * NE, d->t, complainer, revealed_share) != MV_OK) {
        d->disq[j] = 1;
        return MV_ERR_VERIFY;
    }
    if (complainer == d->my_id) {
        memcpy(d->shares + j * NS, revealed_share, NS);
        d->complaint[j] = 0;
    }
    return MV_OK;
}

int mv_dkg_disqualified(const mv_dkg *d, uint32_t id)
{
    return d && id_ok(d, id) && d->disq[id - 1];
}

mv_err mv_dkg_digest(const mv_dkg *d, uint8_t out[static MV_DKG_DIGEST_BYTES])
{
    static const uint8_t label[] = "medvault-dkg-v1";
    mv_sha256_ctx *c = NULL;
    uint8_t hdr[9];
    mv_err rc;

    if (!d || !out)
        return MV_ERR_INVAL;
    for (size_t j = 0; j < d->n; j++)
        if (!d->have[j])
            return MV_ERR_BAD_STATE;
    /* t and n are <= MV_DKG_MAX_PARTIES, so 4 bytes each are exact. */
    for (size_t i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(d->t >> (8 * (3 - i)));
        hdr[4 + i] = (uint8_t)(d->n >> (8 * (3 - i)));
    }
    hdr[8] = (uint8_t)d->refresh;
    if ((rc = mv_sha256_new(&c)) != MV_OK)
        return rc;
    if ((rc = mv_sha256_update(c, label, sizeof label - 1)) != MV_OK ||
        (rc = mv_sha256_update(c, hdr, sizeof hdr)) != MV_OK ||
        (rc = mv_sha256_update(c, d->comm, d->n * d->t * NE)) != MV_OK) {
        mv_sha256_free(c);
        return rc;
    }
    return mv_sha256_final(c, out);
}

mv_err mv_dkg_finish(mv_dkg *d, const uint8_t *old_share, const uint8_t *old_public_shares,
                     uint8_t share[static MV_DKG_SCALAR_BYTES], uint8_t *public_shares,
                     uint8_t group_pk[static MV_DKG_ELEM_BYTES])
{
    uint8_t acc[NS] = {0}, check[NE];
    uint8_t *csum = NULL;
    uint32_t *ids = NULL;
    mv_err rc = MV_OK;

    if (!d || !share || !public_shares || !group_pk)
        return MV_ERR_INVAL;
    if (d->refresh ? (!old_share || !old_public_shares) : (old_share || old_public_shares)) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    for (size_t j = 0; j < d->n; j++) {
        if (d->disq[j]) {
            rc = MV_ERR_PROTOCOL;
            goto out;
        }
    }
    for (size_t j = 0; j < d->n; j++) {
        if (!d->have[j] || d->complaint[j]) {
            rc = MV_ERR_BAD_STATE;
            goto out;
        }
    }
    if (d->refresh) {
        if (!mv_r255_scalar_is_canonical(old_share)) {
            rc = MV_ERR_INVAL;
            goto out;
        }
        for (size_t j = 0; j < d->n; j++) {
            if (mv_r255_elem_check(old_public_shares + j * NE) != MV_OK) {
                rc = MV_ERR_INVAL;
                goto out;
            }
        }
        mv_r255_smul_base_any(check, old_share);
        if (!mv_ct_eq(check, old_public_shares + (d->my_id - 1) * NE, NE)) {
            rc = MV_ERR_INVAL;
            goto out;
        }
    }

    /* share = sum_j s_j (+ old share). */
    for (size_t j = 0; j < d->n; j++)
        mv_r255_scalar_add(acc, acc, d->shares + j * NS);
    if (d->refresh)
        mv_r255_scalar_add(acc, acc, old_share);

    /* By linearity, sum_j eval(C_j, i) = eval(sum_j C_j, i): sum the commitments once. */
    if (!(csum = mv_calloc(d->t, NE))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    for (size_t j = 0; j < d->n; j++)
        for (size_t k = 0; k < d->t; k++)
            if ((rc = mv_r255_add(csum + k * NE, csum + k * NE, d->comm + (j * d->t + k) * NE)) != MV_OK)
                goto out;
    for (size_t i = 0; i < d->n; i++) {
        if ((rc = mv_feldman_eval(csum, d->t, (uint32_t)(i + 1), public_shares + i * NE)) != MV_OK)
            goto out;
        if (d->refresh &&
            (rc = mv_r255_add(public_shares + i * NE, public_shares + i * NE, old_public_shares + i * NE)) != MV_OK)
            goto out;
    }

    if (d->refresh) {
        if (!(ids = mv_calloc(d->t, sizeof *ids))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < d->t; i++)
            ids[i] = (uint32_t)(i + 1);
        if ((rc = mv_shamir_combine_elements(ids, old_public_shares, d->t, group_pk)) != MV_OK) {
            rc = MV_ERR_INVAL;
            goto out;
        }
    } else {
        if (mv_r255_is_identity(csum)) {
            rc = MV_ERR_PROTOCOL;
            goto out;
        }
        memcpy(group_pk, csum, NE);
    }

    mv_r255_smul_base_any(check, acc);
    if (!mv_ct_eq(check, public_shares + (d->my_id - 1) * NE, NE)) {
        rc = MV_ERR_CRYPTO;
        goto out;
    }
    memcpy(share, acc, NS);

out:
    if (rc != MV_OK) {
        mv_wipe(share, NS);
        memset(public_shares, 0, d->n * NE);
        memset(group_pk, 0, NE);
    }
    mv_wipe(acc, sizeof acc);
    mv_free(csum);
    mv_free(ids);
    return rc;
}
