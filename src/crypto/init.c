/* init.c - libsodium is initialised exactly once, before any of its primitives run. */
#include "medvault/mv_crypto.h"

#include <pthread.h>
#include <sodium.h>

/* Written once under pthread_once and only read afterwards: the one piece of
 * process-wide state, which libsodium itself requires. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;

static void init_sodium(void)
{
    /* sodium_init returns 0 on first success, 1 if already initialised, -1 on failure. */
    init_failed = sodium_init() < 0;
}

mv_err mv_crypto_init(void)
{
    if (pthread_once(&init_once, init_sodium) != 0)
        return MV_ERR_CRYPTO;
    return init_failed ? MV_ERR_CRYPTO : MV_OK;
}

mv_err mv_random_bytes(void *out, size_t n)
{
    if (!out && n)
        return MV_ERR_INVAL;
    mv_err rc = mv_crypto_init();
    if (rc != MV_OK)
        return rc;
    if (n)
        randombytes_buf(out, n);
    return MV_OK;
}
