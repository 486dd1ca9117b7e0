/* decoy_drbg.h - what the decoy record generator (decoy_gen.c) and the invented shapes for
 * unverified callers (decoy_synth.c) share: the envelope sizes of mv_record.h's formats and the
 * deterministic stream every choice is drawn from (a ChaCha20 keystream under a per-record key,
 * with a nonce naming the purpose and an index). Internal to libmedvault. */
#ifndef MV_STORAGE_DECOY_DRBG_H
#define MV_STORAGE_DECOY_DRBG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#define ENV_FIXED (5 + 12 + 16) /* magic | n_readers, GCM nonce, GCM tag */
#define ENV2_FIXED (4 + 16 + 1 + 12 + 16) /* MVE2: magic | kid | m, GCM nonce, GCM tag */
#define KEYSET_FIXED 5          /* MVK1: magic | n */
#define ENV_ENTRY 112           /* pk | epk | box(R) (or box(K) in a keyset) */

/* The purposes a stream is drawn for (the first 4 bytes of its nonce). */
enum { DOM_CHOICE = 1, DOM_TEXT, DOM_MLE, DOM_REC, DOM_BULK };

typedef struct drbg {
    const uint8_t *key;
    uint8_t nonce[12];
    uint32_t ctr;
    uint8_t buf[64];
    size_t pos;
} drbg;

static inline void drbg_init(drbg *d, const uint8_t key[32], uint32_t dom, uint64_t idx)
{
    d->key = key;
    for (int i = 0; i < 4; i++)
        d->nonce[i] = (uint8_t)(dom >> (8 * i));
    for (int i = 0; i < 8; i++)
        d->nonce[4 + i] = (uint8_t)(idx >> (8 * i));
    d->ctr = 0;
    d->pos = sizeof d->buf;
}

static inline void drbg_bytes(drbg *d, uint8_t *out, size_t n)
{
    static const uint8_t zero[64];
    while (n) {
        if (d->pos == sizeof d->buf) {
            crypto_stream_chacha20_ietf_xor_ic(d->buf, zero, sizeof d->buf, d->nonce, d->ctr++, d->key);
            d->pos = 0;
        }
        size_t k = sizeof d->buf - d->pos < n ? sizeof d->buf - d->pos : n;
        memcpy(out, d->buf + d->pos, k);
        d->pos += k;
        out += k;
        n -= k;
    }
}

static inline uint64_t drbg_u64(drbg *d)
{
    uint8_t b[8];
    drbg_bytes(d, b, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Uniform in [0, n) (bias below 2^-40 for the small n used here). */
static inline uint32_t below(drbg *d, uint32_t n)
{
    return (uint32_t)(drbg_u64(d) % n);
}

/* Index into a table ordered by frequency: a Zipf-like skew towards the front. */
static inline uint32_t skewed(drbg *d, uint32_t n)
{
    return below(d, below(d, n) + 1);
}

static inline uint32_t range_u(drbg *d, uint32_t lo, uint32_t hi)
{
    return lo + below(d, hi - lo + 1);
}

#endif
