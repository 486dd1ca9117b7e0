/* mv_sig.h - Ed25519 signatures (RFC 8032, libsodium) and the Ed25519 -> X25519 key maps.
 *
 * Every function initialises libsodium on first use (once per process, thread-safe) and
 * is then safe to call from several threads at once: there is no shared state.
 * Secret keys are the 64-byte libsodium form (seed || public key). */
#ifndef MV_SIG_H
#define MV_SIG_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_SIGN_PUBLIC_BYTES 32
#define MV_SIGN_SECRET_BYTES 64
#define MV_SIGN_SEED_BYTES 32
#define MV_SIGNATURE_BYTES 64
#define MV_SIGN_X25519_BYTES 32

/* Generates a fresh key pair from the system CSPRNG. pk and sk must not overlap.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO (libsodium could not be initialised). */
MV_API mv_err mv_sign_keypair(uint8_t pk[static MV_SIGN_PUBLIC_BYTES], uint8_t sk[static MV_SIGN_SECRET_BYTES])
    __attribute__((warn_unused_result));

/* Derives the key pair of a 32-byte seed (RFC 8032 section 5.1.5: the "secret key" of the
 * RFC is our seed). Deterministic. seed may not overlap pk or sk.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_sign_seed_keypair(uint8_t pk[static MV_SIGN_PUBLIC_BYTES], uint8_t sk[static MV_SIGN_SECRET_BYTES],
                                   const uint8_t seed[static MV_SIGN_SEED_BYTES]) __attribute__((warn_unused_result));

/* Signs msg[0..n) (msg may be NULL when n is 0) with sk; writes 64 bytes to sig.
 * Deterministic (RFC 8032 PureEdDSA). sig may not overlap msg or sk.
 * Errors: MV_ERR_INVAL (NULL arguments), MV_ERR_CRYPTO. */
MV_API mv_err mv_sign(uint8_t sig[static MV_SIGNATURE_BYTES], const void *msg, size_t n,
                      const uint8_t sk[static MV_SIGN_SECRET_BYTES]) __attribute__((warn_unused_result));

/* Verifies sig over msg[0..n) against pk. Rejects non-canonical S, small-order and
 * non-canonical public keys and R (libsodium's strict checks).
 * Returns MV_OK if valid, MV_ERR_VERIFY otherwise; MV_ERR_INVAL for NULL arguments;
 * MV_ERR_CRYPTO if libsodium could not be initialised. */
MV_API mv_err mv_sign_verify(const uint8_t sig[static MV_SIGNATURE_BYTES], const void *msg, size_t n,
                             const uint8_t pk[static MV_SIGN_PUBLIC_BYTES]) __attribute__((warn_unused_result));

/* Maps an Ed25519 public key to the birationally equivalent X25519 public key.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO (pk is not a valid, non-small-order point). */
MV_API mv_err mv_sign_pk_to_x25519(uint8_t x_pk[static MV_SIGN_X25519_BYTES],
                                   const uint8_t ed_pk[static MV_SIGN_PUBLIC_BYTES])
    __attribute__((warn_unused_result));

/* Maps an Ed25519 secret key to the X25519 secret key (clamped SHA-512 of the seed).
 * The caller wipes x_sk when done. Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_sign_sk_to_x25519(uint8_t x_sk[static MV_SIGN_X25519_BYTES],
                                   const uint8_t ed_sk[static MV_SIGN_SECRET_BYTES])
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
