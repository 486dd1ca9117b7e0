/* mv_r255.h - ristretto255 group and scalar helpers (over libsodium's primitives).
 *
 * The one home of ristretto255 in medvault: every other module uses these functions and
 * never libsodium's crypto_core_ristretto255_* directly. Elements are 32-byte canonical
 * ristretto255 encodings (RFC 9496); the identity encodes as 32 zero bytes. Scalars are
 * 32-byte little-endian integers modulo the group order
 * L = 2^252 + 27742317777372353535851937790883648493.
 *
 * Scalar arguments of the arithmetic functions must be canonical (< L): every scalar this
 * module produces is. Scalars that come from outside (the network, a file) must pass
 * mv_r255_scalar_check or mv_r255_scalar_is_canonical first.
 * All functions are thread-safe (no state). Outputs may alias inputs unless stated. */
#ifndef MV_R255_H
#define MV_R255_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_R255_ELEM_BYTES 32
#define MV_R255_SCALAR_BYTES 32
/* Input length of mv_r255_scalar_reduce64 and of the ristretto255 one-way map. */
#define MV_R255_HASH_BYTES 64

/* Checks that p is a valid, canonical, non-identity element encoding (RFC 9497
 * DeserializeElement). Returns MV_OK, MV_ERR_CRYPTO (not a valid encoding) or
 * MV_ERR_IDENTITY (the identity). */
MV_API mv_err mv_r255_elem_check(const uint8_t p[static MV_R255_ELEM_BYTES]) __attribute__((warn_unused_result));
/* 1 if p is the identity encoding (32 zero bytes), else 0. Constant time. */
MV_API int mv_r255_is_identity(const uint8_t p[static MV_R255_ELEM_BYTES]);

/* hash_to_ristretto255 (RFC 9380 appendix B / RFC 9496 4.3.4): 64 bytes of
 * expand_message_xmd(SHA-512, msg, dst) through the one-way map. msg may be NULL when
 * len is 0. The result may (with negligible probability) be the identity; callers that
 * forbid it check. Errors: MV_ERR_INVAL (see mv_xmd_sha512), MV_ERR_NOMEM/MV_ERR_CRYPTO
 * from the hash. */
MV_API mv_err mv_r255_hash_to_group(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t *msg, size_t len,
                                    const uint8_t *dst, size_t dst_len) __attribute__((warn_unused_result));
/* HashToScalar of RFC 9497 4.1: 64 bytes of expand_message_xmd(SHA-512, msg, dst) read as
 * a little-endian integer and reduced mod L. May be zero (negligibly). Same errors. */
MV_API mv_err mv_r255_hash_to_scalar(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t *msg, size_t len,
                                     const uint8_t *dst, size_t dst_len) __attribute__((warn_unused_result));

/* A uniformly random non-zero scalar (libsodium's CSPRNG). */
MV_API void mv_r255_scalar_random(uint8_t out[static MV_R255_SCALAR_BYTES]);
/* MV_OK if s is canonical (< L) and non-zero, else MV_ERR_CRYPTO. Constant time. */
MV_API mv_err mv_r255_scalar_check(const uint8_t s[static MV_R255_SCALAR_BYTES]) __attribute__((warn_unused_result));
/* 1 if s < L (zero included), else 0. Constant time. */
MV_API int mv_r255_scalar_is_canonical(const uint8_t s[static MV_R255_SCALAR_BYTES]);
/* 1 if s is zero, else 0. Constant time. */
MV_API int mv_r255_scalar_is_zero(const uint8_t s[static MV_R255_SCALAR_BYTES]);

/* Scalar arithmetic mod L (constant time). out may alias a or b. */
MV_API void mv_r255_scalar_add(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                               const uint8_t b[static MV_R255_SCALAR_BYTES]);
MV_API void mv_r255_scalar_sub(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                               const uint8_t b[static MV_R255_SCALAR_BYTES]);
MV_API void mv_r255_scalar_mul(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                               const uint8_t b[static MV_R255_SCALAR_BYTES]);
MV_API void mv_r255_scalar_neg(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES]);
/* out = 1/a mod L. MV_ERR_CRYPTO if a is zero (out is then zeroed). */
MV_API mv_err mv_r255_scalar_invert(uint8_t out[static MV_R255_SCALAR_BYTES],
                                    const uint8_t a[static MV_R255_SCALAR_BYTES]) __attribute__((warn_unused_result));
/* out = wide (a 512-bit little-endian integer) mod L. */
MV_API void mv_r255_scalar_reduce64(uint8_t out[static MV_R255_SCALAR_BYTES],
                                    const uint8_t wide[static MV_R255_HASH_BYTES]);
/* out = x as a scalar (x < L always holds). */
MV_API void mv_r255_scalar_from_u64(uint8_t out[static MV_R255_SCALAR_BYTES], uint64_t x);

/* out = s*p, constant time in s. p must be a valid element.
 * Errors: MV_ERR_CRYPTO (p is not a valid encoding), MV_ERR_IDENTITY (the result is the
 * identity: p is the identity or s = 0 mod L). On error out is zeroed. */
MV_API mv_err mv_r255_smul(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES],
                           const uint8_t p[static MV_R255_ELEM_BYTES]) __attribute__((warn_unused_result));
/* out = s*G (G the ristretto255 generator), constant time in s.
 * Errors: MV_ERR_IDENTITY (s = 0 mod L; out zeroed). */
MV_API mv_err mv_r255_smul_base(uint8_t out[static MV_R255_ELEM_BYTES],
                                const uint8_t s[static MV_R255_SCALAR_BYTES]) __attribute__((warn_unused_result));
/* out = s*p where the identity is allowed as p and as the result, and s may be zero
 * (Feldman commitments of a sharing of zero). Errors: MV_ERR_CRYPTO (p not a valid
 * encoding; out zeroed). */
MV_API mv_err mv_r255_smul_any(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES],
                               const uint8_t p[static MV_R255_ELEM_BYTES]) __attribute__((warn_unused_result));
/* out = s*G, identity allowed (s may be zero). Never fails for a canonical s. */
MV_API void mv_r255_smul_base_any(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES]);
/* out = p + q and out = p - q. The identity is allowed as either input and as the result.
 * Errors: MV_ERR_CRYPTO (p or q is not a valid encoding; out zeroed). */
MV_API mv_err mv_r255_add(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t p[static MV_R255_ELEM_BYTES],
                          const uint8_t q[static MV_R255_ELEM_BYTES]) __attribute__((warn_unused_result));
MV_API mv_err mv_r255_sub(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t p[static MV_R255_ELEM_BYTES],
                          const uint8_t q[static MV_R255_ELEM_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
