/* mv_mem.h - checked allocation, secure (locked) memory, wiping and constant-time compare.
 *
 * Every allocation in libmedvault goes through these functions, so tests can fail the
 * n-th allocation (mv_mem_fail_after) and check that every error path is clean. */
#ifndef MV_MEM_H
#define MV_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* malloc/calloc/realloc that return NULL on failure (and on size overflow for calloc and
 * mv_mallocarray). Free with mv_free. Never abort. */
MV_API void *mv_malloc(size_t n) __attribute__((warn_unused_result));
MV_API void *mv_calloc(size_t count, size_t size) __attribute__((warn_unused_result));
MV_API void *mv_mallocarray(size_t count, size_t size) __attribute__((warn_unused_result));
/* Makes room for one more element in a growable array. arr_ptr is the address of the
 * array pointer (any T **), *cap its capacity in elements of `size` bytes, n of them in
 * use: nothing if n < *cap, else a new array of twice the capacity (or `first` elements
 * when empty) holding the n elements, and the old one freed. On MV_ERR_NOMEM (or
 * MV_ERR_TOO_LARGE on overflow) the array and *cap are unchanged. MV_ERR_INVAL for NULL
 * arguments, n > *cap, or a zero size or first. */
MV_API mv_err mv_array_grow(void *arr_ptr, size_t *cap, size_t n, size_t size, size_t first)
    __attribute__((warn_unused_result));
MV_API void *mv_realloc(void *p, size_t n) __attribute__((warn_unused_result));
MV_API void mv_free(void *p);
/* Duplicates a NUL-terminated string; NULL on failure. */
MV_API char *mv_strdup(const char *s) __attribute__((warn_unused_result));

/* Locked, guard-paged memory for long-lived secrets (sodium_malloc); freed with
 * mv_secure_free, which wipes it. Returns NULL on failure. */
MV_API void *mv_secure_alloc(size_t n) __attribute__((warn_unused_result));
MV_API void mv_secure_free(void *p);

/* Wipes n bytes at p in a way the compiler cannot elide. p may be NULL when n is 0. */
MV_API void mv_wipe(void *p, size_t n);

/* Constant-time equality of two n-byte buffers: 1 if equal, 0 otherwise. */
MV_API int mv_ct_eq(const void *a, const void *b, size_t n) __attribute__((warn_unused_result));

/* Test hook (fault injection): after `n` more successful allocations, every further
 * allocation fails until reset with n = SIZE_MAX. Process-wide, not thread-safe: tests only. */
MV_API void mv_mem_fail_after(size_t n);

#ifdef __cplusplus
}
#endif
#endif
