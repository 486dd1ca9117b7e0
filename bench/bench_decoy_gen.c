/* bench_decoy_gen.c - decoy generation speed (issue 12, docs/decoy.md): decoys a second for
 * 1-block prescription shapes with 2 readers (MVE1 and MVE2), plus a digest of every byte
 * generated, so two builds compare both speed and output (a decoy must read the same before
 * and after an upgrade).
 *
 *   bench_decoy_gen [N]     N shapes of each kind (default 200); prints one line per kind and
 *                           the SHA-256 of all outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_codec.h"

/* CPU time of this process: the machine may be shared, and generation is single-threaded. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Shape k of a stream like the primary's prescriptions: one block of 300..2100 bytes, an
 * envelope of 380..680 bytes beyond its framing and reader entries, 2 readers. */
static void prescription(mv_decoy_shape *s, int kind, size_t k, uint8_t (*pks)[32], uint32_t *len)
{
    mv_decoy_shape_init(s);
    s->kind = (uint8_t)kind;
    memset(s->id, 0, 16);
    for (int i = 0; i < 8; i++)
        s->id[i] = (uint8_t)(k >> (8 * i));
    s->id[15] = (uint8_t)(0x10 + kind);
    snprintf(s->department, sizeof s->department, "cardiology");
    s->created = 1745000000 + 37 * k;
    memset(s->owner, 0x21, 32);
    memset(s->patient, 0x70 + (int)(k % 10), 32);
    memset(s->episode, (int)(k % 10), 16);
    s->n_readers = 2;
    memcpy(s->readers[0], pks[k % 10], 32);
    memcpy(s->readers[1], pks[10], 32);
    if (kind == MV_DECOY_MVE2) {
        memset(s->kid, 0x4b, 16);
        s->kid[0] = (uint8_t)(k % 10);
    }
    s->env_len = (kind == MV_DECOY_MVE2 ? 49 : 33) + 224 + 380 + (uint32_t)(k * 7919 % 300);
    *len = 300 + (uint32_t)(k * 104729 % 1800);
    s->n_blocks = 1;
    s->block_len = len;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    uint8_t seed[MV_DECOY_SEED_BYTES], pks[11][32], sk[32];
    crypto_hash_sha256_state all;
    if (n == 0 || n > 1000000 || mv_crypto_init() != MV_OK)
        return 2;
    memset(seed, 0x5e, sizeof seed);
    /* Fixed reader keys: the digest must not change from run to run. */
    for (int i = 0; i < 11; i++) {
        uint8_t ks[32];
        memset(ks, 0x30 + i, sizeof ks);
        if (crypto_box_seed_keypair(pks[i], sk, ks) != 0)
            return 2;
    }
    crypto_hash_sha256_init(&all);
    static const char *const names[] = {"MVE1", "MVE2"};
    for (int kind = MV_DECOY_MVE1; kind <= MV_DECOY_MVE2; kind++) {
        double t0 = now_s();
        unsigned inexact = 0;
        for (size_t k = 0; k < n; k++) {
            mv_decoy_shape s;
            uint32_t len;
            mv_decoy_record r;
            prescription(&s, kind, k, pks, &len);
            mv_decoy_record_init(&r);
            if (mv_decoy_generate(seed, &s, &r) != MV_OK) {
                fprintf(stderr, "generation failed at %zu\n", k);
                return 1;
            }
            inexact += r.n_inexact;
            crypto_hash_sha256_update(&all, r.env, r.env_len);
            for (size_t i = 0; i < r.n_blocks; i++)
                crypto_hash_sha256_update(&all, r.blocks[i].c, r.blocks[i].len);
            mv_decoy_record_clear(&r);
        }
        double dt = now_s() - t0;
        printf("%s, 1 block, 2 readers: %zu decoys in %.2f s of CPU: %.1f decoys/s (%.2f ms each), %u inexact parts\n",
               names[kind], n, dt, (double)n / dt, dt * 1000 / (double)n, inexact);
    }
    uint8_t h[32];
    char hex[65];
    crypto_hash_sha256_final(&all, h);
    if (mv_hex_encode(hex, sizeof hex, h, 32) != MV_OK)
        return 2;
    printf("digest of every decoy byte: %s\n", hex);
    return 0;
}
