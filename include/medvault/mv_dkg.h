/* mv_dkg.h - one participant's state in a Joint-Feldman distributed key generation with
 * complaints (every participant must qualify), and the same machine for proactive refresh.
 *
 * Participants are 1..n; threshold t (any t shares determine the key). Each participant
 * deals: it picks a random polynomial f of degree t-1, broadcasts Feldman commitments
 * C_k = a_k*G and sends f(j) privately to every j. In a refresh every dealer's a_0 is zero
 * (C_0 must be the identity, which receivers check), so new shares = old shares + a sharing
 * of zero: the key k, the group key k*G and every OPRF output stay the same while every
 * share changes and old shares stop matching the new public shares.
 *
 * This is a pure state machine without I/O: the key-server daemon moves the messages over
 * signed HTTP, authenticates who sent what, and must make the broadcast consistent: before
 * using the result, all participants compare mv_dkg_digest (a dealer that shows different
 * commitments to different participants is caught there). The flow:
 *   mv_dkg_new -> for every j: send (mv_dkg_my_commitments, mv_dkg_share_for(j)) to j
 *   -> on each deal: mv_dkg_receive; MV_ERR_VERIFY means broadcast a complaint
 *   -> on each complaint (dealer D, complainer J), every participant (D included) waits for
 *      D's public answer (D reveals mv_dkg_share_for(J)) and calls mv_dkg_resolve, with
 *      NULL if D does not answer in time
 *   -> compare mv_dkg_digest with everyone -> mv_dkg_finish.
 * Not thread-safe: one handle per protocol run, used by one thread at a time. */
#ifndef MV_DKG_H
#define MV_DKG_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_DKG_SCALAR_BYTES 32
#define MV_DKG_ELEM_BYTES 32
#define MV_DKG_DIGEST_BYTES 32
/* Cap on n (the Shamir cap). */
#define MV_DKG_MAX_PARTIES 256

typedef struct mv_dkg mv_dkg;

/* Starts a run for participant my_id (1..n) with threshold t (1 <= t <= n <=
 * MV_DKG_MAX_PARTIES). refresh = 0: a DKG (random a_0); refresh != 0: a refresh (a_0 = 0).
 * The participant's own deal is recorded at once (its own share from itself).
 * *out owns the handle (free with mv_dkg_free). Errors: MV_ERR_INVAL, MV_ERR_NOMEM. */
MV_API mv_err mv_dkg_new(uint32_t my_id, size_t t, size_t n, int refresh, mv_dkg **out)
    __attribute__((warn_unused_result));
/* Wipes the polynomial and every received share, then frees. Accepts NULL. */
MV_API void mv_dkg_free(mv_dkg *d);

/* This participant's t*32 bytes of commitments, owned by d (valid until mv_dkg_free).
 * NULL if d is NULL. */
MV_API const uint8_t *mv_dkg_my_commitments(const mv_dkg *d);

/* share = f(to_id), the private share this participant deals to to_id (1..n); also its
 * public answer to a complaint by to_id. Errors: MV_ERR_INVAL (NULL, to_id out of range;
 * share zeroed). */
MV_API mv_err mv_dkg_share_for(const mv_dkg *d, uint32_t to_id,
                               uint8_t share[static MV_DKG_SCALAR_BYTES]) __attribute__((warn_unused_result));

/* Records the deal of from_id (1..n): its t*32 bytes of commitments and the share it sent
 * this participant. The share is checked against the commitments (Feldman).
 * Returns MV_OK (stored and verified), or:
 *   MV_ERR_VERIFY   stored, but the share fails the check: this participant must broadcast a
 *                   complaint against from_id (the complaint stays open until mv_dkg_resolve);
 *   MV_ERR_PROTOCOL t differs from this run's t, a commitment is not a valid encoding, or
 *                   C_0 is the identity in a DKG / not the identity in a refresh. The deal is
 *                   not stored and from_id is disqualified;
 *   MV_ERR_EXISTS   a different deal from from_id was stored before (kept; this one dropped).
 *                   The same deal again returns what the first delivery returned;
 *   MV_ERR_INVAL    NULL arguments, from_id out of range. */
MV_API mv_err mv_dkg_receive(mv_dkg *d, uint32_t from_id, const uint8_t *commitments, size_t t,
                             const uint8_t share[static MV_DKG_SCALAR_BYTES]) __attribute__((warn_unused_result));

/* Settles complainer's complaint against dealer with the share the dealer revealed publicly
 * (NULL: the dealer did not answer). If the revealed share verifies against the dealer's
 * commitments at complainer's id the complaint is resolved (MV_OK), and when complainer is
 * this participant the revealed share replaces the one received. Otherwise the dealer is
 * disqualified (MV_ERR_VERIFY) and mv_dkg_finish will fail with MV_ERR_PROTOCOL.
 * Errors also: MV_ERR_INVAL (NULL d, ids out of range, dealer == complainer),
 * MV_ERR_BAD_STATE (no deal from dealer was received: nothing to judge it against). */
MV_API mv_err mv_dkg_resolve(mv_dkg *d, uint32_t dealer, uint32_t complainer,
                             const uint8_t *revealed_share) __attribute__((warn_unused_result));

/* 1 if participant id has been disqualified in this run, else 0 (also for bad arguments). */
MV_API int mv_dkg_disqualified(const mv_dkg *d, uint32_t id);

/* out = SHA-256 over this run's parameters and every dealer's commitments in id order.
 * All participants must obtain the same digest before trusting the result (it proves that
 * everybody saw the same broadcast). No secret enters it.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_BAD_STATE (a deal is missing), MV_ERR_NOMEM. */
MV_API mv_err mv_dkg_digest(const mv_dkg *d, uint8_t out[static MV_DKG_DIGEST_BYTES])
    __attribute__((warn_unused_result));

/* Computes the result once deals from all n participants are in and no complaint of this
 * participant is open:
 *   share            = sum of the shares received (+ old_share in a refresh);
 *   public_shares[j] = sum over dealers of mv_feldman_eval(C_dealer, j+1) (computed once from
 *                      the summed commitments), + old_public_shares[j] in a refresh
 *                      (n*32 bytes, participant j+1 at j*32);
 *   group_pk         = DKG: the sum of every dealer's C_0. Refresh: unchanged, recomputed by
 *                      Lagrange interpolation at 0 of old_public_shares over ids 1..t (the
 *                      caller may compare it with the key it stored).
 * Then checks share*G == public_shares[my_id-1].
 * A DKG passes old_share = old_public_shares = NULL; a refresh passes this participant's
 * current share and the n current public shares (its own trusted state from the last run,
 * not checked beyond old_share matching its public share).
 * d is not changed (finish may be called again). Errors: MV_ERR_INVAL (NULL outputs, old_*
 * missing in a refresh or present in a DKG, old_share not canonical or not matching
 * old_public_shares[my_id-1], an old public share invalid or the identity),
 * MV_ERR_PROTOCOL (a participant was disqualified, or the DKG group key is the identity),
 * MV_ERR_BAD_STATE (a deal is missing or a complaint is open), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO (the final self-check failed: an internal error). On error share is wiped
 * and public_shares/group_pk are zeroed. */
MV_API mv_err mv_dkg_finish(mv_dkg *d, const uint8_t *old_share, const uint8_t *old_public_shares,
                            uint8_t share[static MV_DKG_SCALAR_BYTES], uint8_t *public_shares,
                            uint8_t group_pk[static MV_DKG_ELEM_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
