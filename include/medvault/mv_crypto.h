/* mv_crypto.h - one-time initialisation of the crypto back ends (libsodium).
 *
 * Every mv_box_* function calls mv_crypto_init itself, so callers only need it when
 * they use libsodium directly (or want start-up to fail early). Thread-safe. */
#ifndef MV_CRYPTO_H
#define MV_CRYPTO_H

#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialises libsodium exactly once per process (pthread_once); later calls only
 * return the remembered outcome, so it is cheap and safe to call from any thread.
 * Returns MV_OK, or MV_ERR_CRYPTO if sodium_init() failed (e.g. no entropy source);
 * a failure is permanent for the process. */
mv_err mv_crypto_init(void) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
