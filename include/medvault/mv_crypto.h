/* mv_crypto.h - one-time initialisation of the crypto back ends (libsodium).
 *
 * Every mv_box_* function calls mv_crypto_init itself, so callers only need it when
 * they use libsodium directly (or want start-up to fail early). Thread-safe. */
#ifndef MV_CRYPTO_H
#define MV_CRYPTO_H

#include <stddef.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises libsodium exactly once per process (pthread_once); later calls only
 * return the remembered outcome, so it is cheap and safe to call from any thread.
 * Returns MV_OK, or MV_ERR_CRYPTO if sodium_init() failed (e.g. no entropy source);
 * a failure is permanent for the process. */
MV_API mv_err mv_crypto_init(void) __attribute__((warn_unused_result));

/* Fills out[0..n) with bytes from the operating system's CSPRNG (libsodium randombytes).
 * MV_ERR_INVAL if out is NULL with n > 0; MV_ERR_CRYPTO if the library cannot start. */
MV_API mv_err mv_random_bytes(void *out, size_t n) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
