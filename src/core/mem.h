/* mem.h - libsodium's one-time set-up, owned by core because locked memory (mv_secure_alloc)
 * needs it and core sits below crypto. mv_crypto_init (mv_crypto.h) is its public name. */
#ifndef MV_CORE_MEM_H
#define MV_CORE_MEM_H

#include "medvault/mv_err.h"

/* Initialises libsodium exactly once per process (pthread_once); later calls return the
 * remembered outcome. MV_OK, or MV_ERR_CRYPTO if sodium_init() failed (permanent). */
mv_err mv_mem_init(void) __attribute__((warn_unused_result));

#endif
