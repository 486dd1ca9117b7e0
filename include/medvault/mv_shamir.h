/* mv_shamir.h - Shamir secret sharing over the ristretto255 scalar field, Lagrange combination
 * of shares and of group elements (the threshold OPRF combine), and Feldman commitments.
 *
 * A degree t-1 polynomial f(x) = a_0 + a_1 x + ... + a_{t-1} x^{t-1} with a_0 the secret;
 * participant i (a uint32 >= 1) holds f(i). Any t shares determine a_0; fewer reveal nothing.
 * Feldman commitments C_k = a_k*G let anyone check a share: f(i)*G = sum_k i^k * C_k.
 * Scalars are 32-byte little-endian canonical; elements 32-byte ristretto255 encodings.
 * All functions are thread-safe (no state) and wipe their secret temporaries. */
#ifndef MV_SHAMIR_H
#define MV_SHAMIR_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_SHAMIR_SCALAR_BYTES 32
#define MV_SHAMIR_ELEM_BYTES 32
/* Caps on t, n and on the number of shares combined at once. */
#define MV_SHAMIR_MAX_PARTIES 256
/* Cap on the batch of mv_shamir_combine_batch (the OPRF batch cap). */
#define MV_SHAMIR_MAX_BATCH 1024

/* out = f(x) for f with coefficients coeffs[0..t) (32 bytes each, coeffs[0] the constant
 * term), by Horner's rule. x may be 0 (gives coeffs[0]).
 * Errors: MV_ERR_INVAL (NULL, t 0 or > MV_SHAMIR_MAX_PARTIES, a non-canonical
 * coefficient; out zeroed). */
MV_API mv_err mv_shamir_poly_eval(const uint8_t *coeffs, size_t t, uint32_t x,
                                  uint8_t out[static MV_SHAMIR_SCALAR_BYTES]) __attribute__((warn_unused_result));

/* Splits secret into n shares with threshold t (1 <= t <= n <= MV_SHAMIR_MAX_PARTIES): the
 * share of participant i (1..n) is written at shares + (i-1)*32. fixed_coeffs: NULL draws
 * a_1..a_{t-1} at random (production); otherwise (t-1)*32 bytes of canonical scalars
 * (test vectors). secret may be zero (a sharing of zero).
 * Errors: MV_ERR_INVAL (bad t/n, NULL, non-canonical secret or coefficient; shares
 * zeroed), MV_ERR_NOMEM. */
MV_API mv_err mv_shamir_split(const uint8_t secret[static MV_SHAMIR_SCALAR_BYTES], size_t t, size_t n,
                              const uint8_t *fixed_coeffs, uint8_t *shares) __attribute__((warn_unused_result));

/* lambda = the Lagrange coefficient of `id` at x = 0 for the set ids[0..count):
 * prod_{j != id} x_j / (x_j - id).
 * Errors: MV_ERR_INVAL (NULL, count 0 or > MV_SHAMIR_MAX_PARTIES, a zero or duplicate id,
 * id not in ids; lambda zeroed). */
MV_API mv_err mv_shamir_lagrange(const uint32_t *ids, size_t count, uint32_t id,
                                 uint8_t lambda[static MV_SHAMIR_SCALAR_BYTES]) __attribute__((warn_unused_result));

/* secret = sum_i lambda_i * shares[i] (shares count*32 bytes, shares[i] belonging to ids[i]).
 * With at least t shares of a degree t-1 sharing this is the secret.
 * Errors: MV_ERR_INVAL (as mv_shamir_lagrange), MV_ERR_CRYPTO (a non-canonical share).
 * secret is zeroed on error. */
MV_API mv_err mv_shamir_combine_scalars(const uint32_t *ids, const uint8_t *shares, size_t count,
                                        uint8_t secret[static MV_SHAMIR_SCALAR_BYTES])
    __attribute__((warn_unused_result));

/* out = sum_i lambda_i * elems[i]: the threshold OPRF combine of one element (elems
 * count*32 bytes, elems[i] from server ids[i]). Every element is untrusted and checked.
 * Errors: MV_ERR_INVAL (as mv_shamir_lagrange), MV_ERR_CRYPTO (an element is not a valid
 * encoding), MV_ERR_IDENTITY (an element, or the result, is the identity). out zeroed on error. */
MV_API mv_err mv_shamir_combine_elements(const uint32_t *ids, const uint8_t *elems, size_t count,
                                         uint8_t out[static MV_SHAMIR_ELEM_BYTES]) __attribute__((warn_unused_result));

/* The same over a batch: out[b] = sum_i lambda_i * elems[i][b] for b < batch, with the
 * Lagrange coefficients computed once. elems[i] points to server ids[i]'s batch*32 bytes.
 * out (batch*32 bytes) may be one of the elems[i] (in place) but must not partially overlap.
 * Errors: as mv_shamir_combine_elements, plus MV_ERR_INVAL for batch 0 or
 * > MV_SHAMIR_MAX_BATCH and MV_ERR_NOMEM. out is zeroed on error. */
MV_API mv_err mv_shamir_combine_batch(const uint32_t *ids, size_t count, const uint8_t *const *elems, size_t batch,
                                      uint8_t *out) __attribute__((warn_unused_result));

/* commitments[k] = coeffs[k]*G for k < t (t*32 bytes each). A zero coefficient gives the
 * identity (allowed: the constant term of a refresh polynomial is zero).
 * Errors: MV_ERR_INVAL (NULL, t 0 or > MV_SHAMIR_MAX_PARTIES, non-canonical coefficient;
 * commitments zeroed). */
MV_API mv_err mv_feldman_commit(const uint8_t *coeffs, size_t t, uint8_t *commitments)
    __attribute__((warn_unused_result));

/* out = sum_k id^k * commitments[k]: the public share f(id)*G that the commitments promise
 * to participant id. The identity is allowed among the commitments and as the result.
 * Errors: MV_ERR_INVAL (NULL, t 0 or > MV_SHAMIR_MAX_PARTIES, id 0), MV_ERR_CRYPTO (a
 * commitment is not a valid encoding). out zeroed on error. */
MV_API mv_err mv_feldman_eval(const uint8_t *commitments, size_t t, uint32_t id,
                              uint8_t out[static MV_SHAMIR_ELEM_BYTES]) __attribute__((warn_unused_result));

/* MV_OK if share*G == mv_feldman_eval(commitments, t, id).
 * Errors: MV_ERR_VERIFY (it does not, or share is not canonical), MV_ERR_INVAL and
 * MV_ERR_CRYPTO as mv_feldman_eval. */
MV_API mv_err mv_feldman_verify(const uint8_t *commitments, size_t t, uint32_t id,
                                const uint8_t share[static MV_SHAMIR_SCALAR_BYTES]) __attribute__((warn_unused_result));

/* Checks that n public shares (elements of ids 1..n, 32 bytes each, public_shares + (i-1)*32
 * for id i) lie on one polynomial of degree t-1 whose value at 0 is group_pk: every window of
 * t consecutive ids interpolates to group_pk (consecutive windows share t-1 points and the
 * point at 0, so all n points lie on the same polynomial). Used on a deployment's key servers
 * and on a key server's share file, whose caps on n are lower.
 * Errors: MV_ERR_VERIFY (they do not, an element is not a valid encoding, or a window
 * interpolates to the identity), MV_ERR_INVAL (NULL, t 0, t > n, n > MV_SHAMIR_MAX_PARTIES). */
MV_API mv_err mv_public_shares_check(const uint8_t *public_shares, size_t n, size_t t,
                                     const uint8_t group_pk[32]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
