/* init.c - libsodium is initialised exactly once, before any of its primitives run. */
#include "medvault/mv_crypto.h"
#include "core/mem.h"

#include <sodium.h>

/* The once-only set-up lives in core (core/mem.c), which needs it for locked memory and sits
 * below crypto; this is the crypto layer's documented name for it. */
mv_err mv_crypto_init(void) { return mv_mem_init(); }

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
