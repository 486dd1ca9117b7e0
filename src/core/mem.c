/* mem.c - checked allocation with a fault-injection hook; secrets wiped, compared in constant time. */
#include "medvault/mv_mem.h"
#include "core/mem.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Fault injection is a test facility; the counter is the one piece of process-wide
 * state in the library and is inert (SIZE_MAX) unless a test sets it. */
static size_t fail_countdown = SIZE_MAX;

static int should_fail(void)
{
    if (fail_countdown == SIZE_MAX)
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

void mv_mem_fail_after(size_t n) { fail_countdown = n; }

void *mv_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *mv_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *mv_mallocarray(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return mv_malloc(count * size);
}

void *mv_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void mv_free(void *p) { free(p); }

char *mv_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = mv_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Written once under pthread_once and only read afterwards: the one piece of
 * process-wide state, which libsodium itself requires. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_failed;

static void init_sodium(void)
{
    /* sodium_init returns 0 on first success, 1 if already initialised, -1 on failure. */
    init_failed = sodium_init() < 0;
}

mv_err mv_mem_init(void)
{
    if (pthread_once(&init_once, init_sodium) != 0)
        return MV_ERR_CRYPTO;
    return init_failed ? MV_ERR_CRYPTO : MV_OK;
}

void *mv_secure_alloc(size_t n)
{
    /* sodium_malloc needs sodium_init to have run (it sets up the page size and canary). */
    if (should_fail() || mv_mem_init() != MV_OK)
        return NULL;
    return sodium_malloc(n);
}

void mv_secure_free(void *p) { sodium_free(p); }

void mv_wipe(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

int mv_ct_eq(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

mv_err mv_array_grow(void *arr_ptr, size_t *cap, size_t n, size_t size, size_t first)
{
    void *old;
    if (!arr_ptr || !cap || n > *cap || size == 0 || first == 0)
        return MV_ERR_INVAL;
    if (n < *cap)
        return MV_OK;
    if (*cap > SIZE_MAX / 2)
        return MV_ERR_TOO_LARGE;
    size_t nc = *cap ? 2 * *cap : first;
    void *nv = mv_mallocarray(nc, size);
    if (!nv)
        return MV_ERR_NOMEM;
    /* The array pointer is read and written through memcpy: arr_ptr may be any T **. */
    memcpy(&old, arr_ptr, sizeof old);
    if (n)
        memcpy(nv, old, n * size);
    mv_free(old);
    memcpy(arr_ptr, &nv, sizeof nv);
    *cap = nc;
    return MV_OK;
}
