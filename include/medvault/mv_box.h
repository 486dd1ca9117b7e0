/* mv_box.h - X25519 key agreement (RFC 7748) and anonymous sealed boxes
 * (libsodium crypto_box_seal: ephemeral X25519 + XSalsa20-Poly1305), used to wrap record
 * keys for each authorized reader (DESIGN.md 3, "Envelope").
 *
 * Every function initialises libsodium itself (mv_crypto_init) and is thread-safe. */
#ifndef MV_BOX_H
#define MV_BOX_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_BOX_PUBLIC_BYTES 32
#define MV_BOX_SECRET_BYTES 32
/* Overhead of a sealed box: ephemeral public key (32) + Poly1305 tag (16); equals
 * crypto_box_SEALBYTES (checked at compile time in box.c). */
#define MV_BOX_SEAL_BYTES 48
#define MV_X25519_BYTES 32

/* Generates a fresh X25519 key pair from the OS CSPRNG. sk is secret: the caller wipes it
 * (mv_wipe) or keeps it in mv_secure_alloc memory. pk and sk must not overlap.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO (libsodium could not be initialised). */
MV_API mv_err mv_box_keypair(uint8_t pk[static MV_BOX_PUBLIC_BYTES], uint8_t sk[static MV_BOX_SECRET_BYTES])
    __attribute__((warn_unused_result));

/* Seals m[0..m_len) to the recipient public key pk, writing m_len + MV_BOX_SEAL_BYTES bytes
 * to c. Anonymous: the recipient learns nothing about the sender. m may be NULL when m_len
 * is 0. c must not overlap m or pk.
 * Errors: MV_ERR_INVAL (NULL pointer with a non-zero length, overlap), MV_ERR_TOO_LARGE
 * (m_len + 48 does not fit, or exceeds libsodium's message cap), MV_ERR_CRYPTO
 * (initialisation failed, or pk is a point libsodium refuses, e.g. of low order).
 * On error c is wiped when its length is representable. */
MV_API mv_err mv_box_seal(uint8_t *c, const uint8_t *m, size_t m_len, const uint8_t pk[static MV_BOX_PUBLIC_BYTES])
    __attribute__((warn_unused_result));

/* Opens a sealed box c[0..c_len) with the recipient's key pair, writing
 * c_len - MV_BOX_SEAL_BYTES bytes to m. m may be NULL when c_len is exactly 48.
 * m must not overlap c, pk or sk.
 * No unauthenticated plaintext is released: on any error m[0..c_len-48) is wiped.
 * Errors: MV_ERR_VERIFY (forged or corrupted box, or not sealed to this key pair),
 * MV_ERR_PARSE (c_len < MV_BOX_SEAL_BYTES), MV_ERR_INVAL (NULL pointer with a non-zero
 * length, overlap), MV_ERR_TOO_LARGE (beyond libsodium's message cap), MV_ERR_CRYPTO
 * (initialisation failed). */
MV_API mv_err mv_box_seal_open(uint8_t *m, const uint8_t *c, size_t c_len, const uint8_t pk[static MV_BOX_PUBLIC_BYTES],
                               const uint8_t sk[static MV_BOX_SECRET_BYTES]) __attribute__((warn_unused_result));

/* Raw X25519 (RFC 7748 section 5): shared = X25519(sk, pk). The result is secret and is
 * not a key: hash it (HKDF) before use. shared may alias sk or pk (it is written last).
 * Errors: MV_ERR_CRYPTO when the result is all zero (pk of small order, RFC 7748 section
 * 6.1) or libsodium could not be initialised; MV_ERR_INVAL (NULL). On any error other
 * than MV_ERR_INVAL shared is wiped (so an aliased sk or pk is lost). */
MV_API mv_err mv_x25519(uint8_t shared[static MV_X25519_BYTES], const uint8_t sk[static MV_BOX_SECRET_BYTES],
                        const uint8_t pk[static MV_BOX_PUBLIC_BYTES]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
