/* mv_oprf.h - RFC 9497 OPRF (mode 0) and VOPRF (mode 1), ciphersuite ristretto255-SHA512.
 *
 * Client: mv_oprf_blind -> (send blinded) -> [mode 1: mv_voprf_verify] -> mv_oprf_finalize.
 * Server: mv_oprf_blind_evaluate [+ mode 1: mv_voprf_prove over the same batch].
 * mv_oprf_evaluate is RFC Evaluate (the server computing the PRF on a known input): the
 * oracle the threshold protocol is tested against.
 *
 * The threshold use (DESIGN.md 3): each key server runs the unmodified BlindEvaluate and
 * proof with its Shamir share k_i and its public share pk_i; the client verifies every
 * server's proof, combines with mv_shamir_combine_batch and finalizes once.
 *
 * Encodings: elements and scalars 32 bytes (scalars little-endian, canonical), proofs
 * 64 bytes (c || s), outputs 64 bytes. Batch arrays are count*32 contiguous bytes.
 * Secrets (blinds, keys, the proof nonce r) are wiped from every temporary.
 * All functions are thread-safe (no shared state). */
#ifndef MV_OPRF_H
#define MV_OPRF_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_OPRF_ELEM_BYTES 32
#define MV_OPRF_SCALAR_BYTES 32
#define MV_OPRF_PROOF_BYTES 64
#define MV_OPRF_OUTPUT_BYTES 64
#define MV_OPRF_SEED_BYTES 32
/* Largest batch accepted by blind_evaluate, prove and verify. */
#define MV_OPRF_MAX_BATCH 1024
/* Inputs and key info are length-prefixed with 2 bytes (RFC 9497 I2OSP(len, 2)). */
#define MV_OPRF_MAX_INPUT 65535

typedef enum mv_oprf_mode {
    MV_OPRF_MODE_OPRF = 0,
    MV_OPRF_MODE_VOPRF = 1,
} mv_oprf_mode;

/* RFC 9497 3.2.1 DeriveKeyPair(seed, info) for the mode's contextString.
 * info may be NULL when info_len is 0. sk and pk are written (pk = sk*G).
 * Errors: MV_ERR_INVAL (bad mode, NULL pointer, info_len > MV_OPRF_MAX_INPUT),
 * MV_ERR_CRYPTO (DeriveKeyPairError: 256 zero scalars in a row; never happens in
 * practice), MV_ERR_NOMEM from the hash. On error sk and pk are zeroed. */
MV_API mv_err mv_oprf_derive_keypair(mv_oprf_mode mode, const uint8_t seed[static MV_OPRF_SEED_BYTES],
                                     const uint8_t *info, size_t info_len, uint8_t sk[static MV_OPRF_SCALAR_BYTES],
                                     uint8_t pk[static MV_OPRF_ELEM_BYTES]) __attribute__((warn_unused_result));

/* RFC 9497 3.3.1 Blind: blinded = blind * HashToGroup(input).
 * fixed_blind: NULL draws a fresh random blind (production); otherwise it must be a
 * canonical non-zero scalar (test vectors) and may alias blind. The caller keeps blind
 * secret until mv_oprf_finalize and then wipes it.
 * Errors: MV_ERR_INVAL (bad mode, NULL pointer, input_len > MV_OPRF_MAX_INPUT, invalid
 * fixed_blind), MV_ERR_IDENTITY (input hashes to the identity: RFC InvalidInputError),
 * MV_ERR_NOMEM/MV_ERR_CRYPTO from the hash. On error blind and blinded are zeroed. */
MV_API mv_err mv_oprf_blind(mv_oprf_mode mode, const uint8_t *input, size_t input_len, const uint8_t *fixed_blind,
                            uint8_t blind[static MV_OPRF_SCALAR_BYTES],
                            uint8_t blinded[static MV_OPRF_ELEM_BYTES]) __attribute__((warn_unused_result));

/* RFC 9497 3.3.1/3.3.2 BlindEvaluate over a batch: evaluated[i] = sk * blinded[i]
 * (the same in both modes). blinded comes from the network: every element is
 * deserialized as RFC 9497 requires. evaluated may equal blinded (in place) but must not
 * partially overlap it.
 * Errors: MV_ERR_INVAL (NULL, count 0 or > MV_OPRF_MAX_BATCH, sk not a canonical
 * non-zero scalar), MV_ERR_CRYPTO (an element is not a valid encoding), MV_ERR_IDENTITY
 * (an element is the identity). On error all of evaluated is zeroed. */
MV_API mv_err mv_oprf_blind_evaluate(const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t *blinded,
                                     size_t count, uint8_t *evaluated) __attribute__((warn_unused_result));

/* RFC 9497 2.2.1 GenerateProof(k=sk, A=G, B=pk, C=blinded, D=evaluated) in VOPRF mode,
 * with ComputeCompositesFast (one proof for the whole batch). pk must be sk*G (it is
 * not recomputed: a wrong pk yields a proof that does not verify). fixed_r: NULL draws a
 * fresh random nonce (production: a repeated r with a different batch reveals sk);
 * otherwise a canonical non-zero scalar (test vectors). blinded/evaluated are the
 * batch that mv_oprf_blind_evaluate checked and produced.
 * Errors: MV_ERR_INVAL (NULL, count 0 or > MV_OPRF_MAX_BATCH, bad sk or fixed_r, pk not
 * a valid non-identity element), MV_ERR_CRYPTO (a blinded element is not a valid encoding;
 * evaluated is only hashed, never decoded),
 * MV_ERR_IDENTITY (a blinded element, or the composite, is the identity), MV_ERR_NOMEM from the
 * hash. On error proof is zeroed. */
MV_API mv_err mv_voprf_prove(const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t pk[static MV_OPRF_ELEM_BYTES],
                             const uint8_t *blinded, const uint8_t *evaluated, size_t count, const uint8_t *fixed_r,
                             uint8_t proof[static MV_OPRF_PROOF_BYTES]) __attribute__((warn_unused_result));

/* RFC 9497 2.2.2 VerifyProof(A=G, B=pk, C=blinded, D=evaluated, proof) in VOPRF mode,
 * with ComputeComposites. Every input is untrusted and checked.
 * Returns MV_OK only if the proof verifies.
 * Errors: MV_ERR_VERIFY (the proof is wrong, including a non-canonical c or s),
 * MV_ERR_CRYPTO (pk or an element is not a valid encoding), MV_ERR_IDENTITY (pk or an
 * element is the identity), MV_ERR_INVAL (NULL, count 0 or > MV_OPRF_MAX_BATCH),
 * MV_ERR_NOMEM from the hash. */
MV_API mv_err mv_voprf_verify(const uint8_t pk[static MV_OPRF_ELEM_BYTES], const uint8_t *blinded,
                              const uint8_t *evaluated, size_t count,
                              const uint8_t proof[static MV_OPRF_PROOF_BYTES]) __attribute__((warn_unused_result));

/* RFC 9497 3.3.1 Finalize for one element: output = SHA-512(I2OSP(len(input),2) || input ||
 * I2OSP(32,2) || (1/blind)*evaluated || "Finalize"). In mode 1 the caller must have run
 * mv_voprf_verify over the batch first. Finalize is the same in modes 0 and 1: mode is
 * only validated.
 * Errors: MV_ERR_INVAL (bad mode, NULL, input_len > MV_OPRF_MAX_INPUT, blind not a
 * canonical non-zero scalar), MV_ERR_CRYPTO (evaluated is not a valid encoding),
 * MV_ERR_IDENTITY (evaluated is the identity), MV_ERR_NOMEM from the hash.
 * On error output is zeroed. */
MV_API mv_err mv_oprf_finalize(mv_oprf_mode mode, const uint8_t *input, size_t input_len,
                               const uint8_t blind[static MV_OPRF_SCALAR_BYTES],
                               const uint8_t evaluated[static MV_OPRF_ELEM_BYTES],
                               uint8_t output[static MV_OPRF_OUTPUT_BYTES]) __attribute__((warn_unused_result));

/* RFC 9497 3.3.1/3.3.2 Evaluate: the PRF on a known input with the whole key,
 * SHA-512(I2OSP(len(input),2) || input || I2OSP(32,2) || sk*HashToGroup(input) || "Finalize").
 * Errors: MV_ERR_INVAL (bad mode, NULL, input_len > MV_OPRF_MAX_INPUT, bad sk),
 * MV_ERR_IDENTITY (input hashes to the identity), MV_ERR_NOMEM from the hash.
 * On error output is zeroed. */
MV_API mv_err mv_oprf_evaluate(mv_oprf_mode mode, const uint8_t sk[static MV_OPRF_SCALAR_BYTES], const uint8_t *input,
                               size_t input_len,
                               uint8_t output[static MV_OPRF_OUTPUT_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
