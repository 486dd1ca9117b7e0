/* storeutil.h - helpers shared by the storage engine tests (test_store*.c). */
#ifndef MV_STOREUTIL_H
#define MV_STOREUTIL_H

#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_store.h"

/* Deterministic pseudo-random bytes for block (a, b): distinct pairs give distinct blocks. */
static inline void su_fill(uint8_t *buf, size_t len, uint32_t a, uint32_t b)
{
    uint64_t x = ((uint64_t)a << 32 | b) * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

/* 32 bytes derived from (kind, a, b): keys, tokens, ids. */
static inline void su_bytes(uint8_t *out, size_t n, uint32_t kind, uint32_t a, uint32_t b)
{
    uint8_t seed[12], h[32];
    memcpy(seed, &kind, 4);
    memcpy(seed + 4, &a, 4);
    memcpy(seed + 8, &b, 4);
    assert_int_equal(mv_sha256(h, seed, sizeof seed), MV_OK);
    memcpy(out, h, n);
}

/* One upload with its own buffer. */
typedef struct su_blk {
    mv_store_block_in in;
    uint8_t *data;
} su_blk;

/* Block (a, b) of len bytes, uploaded by claimant `who` under dept with token (dept-free a, b). */
static inline void su_blk_make(su_blk *k, const char *dept, size_t len, uint32_t a, uint32_t b,
                               uint32_t who)
{
    memset(k, 0, sizeof *k);
    k->data = malloc(len ? len : 1); /* not mv_malloc: usable while allocation faults are armed */
    assert_non_null(k->data);
    su_fill(k->data, len, a, b);
    k->in.dept = dept;
    k->in.data = k->data;
    k->in.len = len;
    assert_int_equal(mv_sha256(k->in.tag, k->data, len), MV_OK);
    su_bytes(k->in.token, 32, 1, a, b);
    su_bytes(k->in.claimant, 32, 2, who, 0);
}

static inline void su_blk_free(su_blk *k) { free(k->data); }

static inline void su_key(uint8_t pk[32], uint32_t who) { su_bytes(pk, 32, 2, who, 0); }
static inline void su_id(uint8_t id[16], uint32_t a, uint32_t b) { su_bytes(id, 16, 3, a, b); }

/* out = a "/" b; fails the test if it does not fit. */
static inline void su_join(char *out, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    assert_true(la + 1 + lb < cap);
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
}

static inline void su_rmtree(const char *dir)
{
    char path[4096];
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        su_join(path, sizeof path, dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            su_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static inline void su_pack_path(char *out, size_t cap, const char *dir, uint32_t pack)
{
    snprintf(out, cap, "%s/packs/%08" PRIu32 ".pack", dir, pack);
}

static inline int64_t su_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Total size of every file under dir/packs. */
static inline uint64_t su_packs_size(const char *dir)
{
    char path[4096];
    uint64_t total = 0;
    su_join(path, sizeof path, dir, "packs");
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        su_join(p, sizeof p, path, e->d_name);
        int64_t n = su_file_size(p);
        assert_true(n >= 0);
        total += (uint64_t)n;
    }
    closedir(d);
    return total;
}

static inline void su_print_problem(void *ctx, const char *what)
{
    (void)ctx;
    print_message("check: %s\n", what);
}

/* Runs mv_store_check and fails the test unless the store is clean. */
static inline void su_assert_clean(mv_store *s)
{
    mv_store_check_report r;
    assert_int_equal(mv_store_check(s, &r, su_print_problem, NULL), MV_OK);
    assert_int_equal(r.bad_entries, 0);
    assert_int_equal(r.missing, 0);
    assert_int_equal(r.orphans, 0);
    assert_int_equal(r.refcount_errors, 0);
}

/* Reads block tag and fails the test unless it is there with the bytes of (a, b, len). */
static inline void su_assert_block(mv_store *s, const uint8_t tag[32])
{
    mv_buf b;
    uint8_t h[32];
    mv_buf_init(&b, MV_STORE_MAX_BLOCK);
    assert_int_equal(mv_store_block_read(s, tag, &b), MV_OK);
    assert_int_equal(mv_sha256(h, b.ptr, b.len), MV_OK);
    assert_memory_equal(h, tag, 32);
    mv_buf_clear(&b);
}

#endif
