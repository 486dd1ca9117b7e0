/* mv_ringsig.h - the accountable ring signature of group sharing (issue 15): a member of an
 * epoch's roster signs so that a verifier learns only "some member of this roster signed",
 * while the opener key's holders (a quorum of them) can reveal the signer and prove it.
 *
 * The construction follows Bootle, Cerulli, Chaidos, Ghadafi, Groth and Petit (ESORICS 2015):
 * the signer's public key is ElGamal-encrypted under the opener key EK, a Groth-Kohlweiss
 * one-out-of-many proof shows that the ciphertext encrypts one of the roster's keys, and a
 * proof of knowledge shows that the signer knows that key's secret. Everything is over
 * ristretto255 with libsodium's operations only. docs/group-signature.md is the byte-level
 * specification (generators, transcript, encodings, sizes) and tests/vectors/ringsig.json its
 * known-answer vectors.
 *
 * Scalars are 32-byte little-endian canonical; elements are 32-byte canonical ristretto255
 * encodings, never the identity. All functions are thread-safe (no global state) and wipe
 * their secret temporaries. */
#ifndef MV_RINGSIG_H
#define MV_RINGSIG_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A ring smaller than this hides nobody: signing and verifying refuse it. */
#define MV_RING_MIN_MEMBERS 2u
#define MV_RING_MAX_MEMBERS 4096u
/* m = ceil(log2(N)) for the largest ring. */
#define MV_RING_MAX_BITS 12u
#define MV_RING_MAX_OPENERS 8u
#define MV_RING_GROUP_ID_BYTES 16
#define MV_RING_HASH_BYTES 32
/* The signature of a ring with 2^(m-1) < N <= 2^m members is 426 + 96*m bytes. */
#define MV_RING_SIG_BYTES(m) (426u + 96u * (size_t)(m))
#define MV_RING_SIG_MAX_BYTES MV_RING_SIG_BYTES(MV_RING_MAX_BITS)
/* One opener's partial decryption: share index (1 byte), D (32), Chaum-Pedersen c and z. */
#define MV_RING_PARTIAL_BYTES 97u
/* Proofs of possession (join) and of ownership (owner delete): Schnorr-style, c and z(s). */
#define MV_RING_POP_BYTES 64u
#define MV_RING_LINK_BYTES 96u
/* An opening "MVO1": magic, member index (u32), member key, count, count partials. */
#define MV_RING_OPENING_BYTES(count) (4u + 4u + 32u + 1u + MV_RING_PARTIAL_BYTES * (size_t)(count))

/* The public context every signature is bound to: one epoch's roster. Fill the fields, then
 * call mv_ring_init, which checks them and computes roster_hash and the generators. members
 * points at the caller's memory (n_members * 32 bytes, strictly ascending) and must outlive
 * the struct. */
typedef struct mv_ring {
    uint8_t group_id[MV_RING_GROUP_ID_BYTES];
    uint64_t epoch;
    const uint8_t *members;
    size_t n_members;
    uint8_t ek[32];                                  /* the opener public key */
    uint8_t t, n_openers;                            /* 1 <= t <= n_openers <= MAX_OPENERS */
    uint8_t ek_shares[MV_RING_MAX_OPENERS][32];      /* EK_i = dk_i*G; [0] = EK when n = 1 */
    /* Set by mv_ring_init: */
    uint8_t roster_hash[MV_RING_HASH_BYTES];
    unsigned bits;                                   /* m */
    uint8_t gens[MV_RING_MAX_BITS + 1][32];          /* G_0..G_{m-1}, then H at [m] */
} mv_ring;

/* Checks r's fields (ring size, ascending valid distinct member keys, valid EK and shares,
 * shares consistent with EK for t < n) and fills roster_hash, bits and gens.
 * Errors: MV_ERR_INVAL (NULL, counts out of range), MV_ERR_PARSE (members not strictly
 * ascending), MV_ERR_CRYPTO (an invalid element, shares that do not interpolate to EK). */
MV_API mv_err mv_ring_init(mv_ring *r) __attribute__((warn_unused_result));

/* Size of a signature for this ring. */
MV_API size_t mv_ring_sig_bytes(const mv_ring *r);

/* A member's ring key for one group, derived from her X25519 secret so that there is nothing
 * new to keep: sk = HashToScalar(box_sk || group_id, "medvault ring key v1"), pk = sk*G. */
MV_API mv_err mv_ring_derive_key(const uint8_t box_sk[static 32], const uint8_t group_id[static MV_RING_GROUP_ID_BYTES],
                                 uint8_t sk[static 32], uint8_t pk[static 32]) __attribute__((warn_unused_result));

/* Proof of possession of sk for pk, bound to ctx (the group id and the member's user key):
 * a Schnorr proof (c, z). Verify refuses a proof made for another ctx. */
MV_API mv_err mv_ring_pop_prove(const uint8_t sk[static 32], const uint8_t pk[static 32], const uint8_t *ctx,
                                size_t ctx_len, uint8_t proof[static MV_RING_POP_BYTES]) __attribute__((warn_unused_result));
MV_API mv_err mv_ring_pop_verify(const uint8_t pk[static 32], const uint8_t *ctx, size_t ctx_len,
                                 const uint8_t proof[static MV_RING_POP_BYTES]) __attribute__((warn_unused_result));

/* Signs msg[0..len) as the member whose key is sk; appends mv_ring_sig_bytes(r) bytes to out.
 * The signer's position is found and used in constant time. seed: NULL draws fresh randomness;
 * 32 bytes make the signature deterministic (known-answer vectors only).
 * Errors: MV_ERR_INVAL (NULL, a non-canonical sk), MV_ERR_NOT_FOUND (sk's key is not in the
 * roster), MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
MV_API mv_err mv_ring_sign(const mv_ring *r, const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                           const uint8_t *seed, mv_buf *out) __attribute__((warn_unused_result));

/* The epoch a signature claims (its header), to pick the roster; verification still binds it.
 * Errors: MV_ERR_PARSE (too short, unknown version). */
MV_API mv_err mv_ring_sig_epoch(const uint8_t *sig, size_t sig_len, uint64_t *epoch) __attribute__((warn_unused_result));

/* Verifies sig over msg for ring r. MV_OK or MV_ERR_AUTH (a signature that does not verify,
 * a non-canonical encoding, the wrong size or epoch); MV_ERR_INVAL (NULL); MV_ERR_NOMEM. */
MV_API mv_err mv_ring_verify(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
    __attribute__((warn_unused_result));
/* Verifies count signatures of one ring at once: the roster's keys are multiplied once for the
 * whole batch. MV_OK only if every one verifies (MV_ERR_AUTH does not say which: verify them
 * one by one to find out). */
MV_API mv_err mv_ring_verify_batch(const mv_ring *r, size_t count, const uint8_t *const *msgs, const size_t *lens,
                                   const uint8_t *const *sigs, const size_t *sig_lens) __attribute__((warn_unused_result));

/* Opener i's partial decryption of sig's ciphertext with her share dk_i (share_index 1..n),
 * with a Chaum-Pedersen proof that it used the dk_i behind EK_i. Writes
 * MV_RING_PARTIAL_BYTES. The signature is not verified here (the judge does). */
MV_API mv_err mv_ring_open_partial(const mv_ring *r, const uint8_t *sig, size_t sig_len, uint8_t share_index,
                                   const uint8_t dk_i[static 32], const uint8_t *seed,
                                   uint8_t out[static MV_RING_PARTIAL_BYTES]) __attribute__((warn_unused_result));
/* Combines count >= t partials (each checked) into an opening: the signer's key, its position
 * in the roster, and the partials as the proof. Appends MV_RING_OPENING_BYTES(count) to out.
 * Errors: MV_ERR_AUTH (a partial's proof fails: which one is in *bad_share when not NULL),
 * MV_ERR_INVAL (fewer than t, repeated indices), MV_ERR_NOT_FOUND (the key is in no roster
 * position: the signature was not made under this roster), MV_ERR_PARSE. */
MV_API mv_err mv_ring_open_combine(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *partials,
                                   size_t count, uint32_t *member_index, uint8_t *bad_share, mv_buf *out)
    __attribute__((warn_unused_result));
/* The judge: anyone checks that sig is a valid signature of msg under r and that the opening
 * names its signer. *member_index receives the roster position on MV_OK.
 * Errors: MV_ERR_AUTH (the signature or any partial fails, the opening names another key),
 * MV_ERR_PARSE, MV_ERR_INVAL. */
MV_API mv_err mv_ring_judge(const mv_ring *r, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len,
                            const uint8_t *opening, size_t opening_len, uint32_t *member_index)
    __attribute__((warn_unused_result));

/* Proof that the holder of sk made sig (the owner's delete): knowledge of the ciphertext's
 * randomness and of sk, bound to ctx (the delete request). The signer's randomness is derived
 * from sk, the roster and msg, so the owner recomputes it from the stored message. */
MV_API mv_err mv_ring_link_prove(const mv_ring *r, const uint8_t sk[static 32], const uint8_t *msg, size_t len,
                                 const uint8_t *sig, size_t sig_len, const uint8_t *ctx, size_t ctx_len,
                                 uint8_t proof[static MV_RING_LINK_BYTES]) __attribute__((warn_unused_result));
MV_API mv_err mv_ring_link_verify(const mv_ring *r, const uint8_t *sig, size_t sig_len, const uint8_t *ctx,
                                  size_t ctx_len, const uint8_t proof[static MV_RING_LINK_BYTES])
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
