/* bench_zstd.c - the cost of zstd on small record bodies (issue 12, "Throughput" and
 * "Compact skeletons"): a fresh context per buffer (medvault before contexts were cached)
 * against the per-thread cached context, and the bytes of a record body (the record encoding
 * of a skeleton and one block reference) without a dictionary, as sealed before packed
 * skeletons (MVR1 with dictionary 1) and as sealed now (MVR2, packed, with dictionary 2).
 *   bench_zstd [--n N] [--skeletons FILE] [--json]
 * FILE holds one canonical skeleton per line (medvault canon --split --json's "envelope");
 * without it, N synthetic 600-byte MedicationRequest skeletons are generated (random UUIDs,
 * dates and names; no patient data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_record.h"
#include "medvault/mv_zstd.h"

#define BENCH_NAME "bench_zstd"
#include "bench_common.h"

static void uuid(char out[37])
{
    uint8_t r[16];
    if (mv_random_bytes(r, sizeof r) != MV_OK)
        die("random", MV_ERR_CRYPTO);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-4%x%02x-%x%x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3],
             r[4], r[5], r[6] & 15, r[7], 8 + (r[8] & 3), r[8] >> 4, r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
}

/* A synthetic canonical MedicationRequest skeleton of about 600 bytes. */
static void synth(mv_buf *b, unsigned i)
{
    static const char *const names[] = {"Ada Quill", "Noor Haddad", "Tomas Berg", "Mei Lin", "Kofi Mensah"};
    char a[37], e[37], p[37], r[37];
    uuid(a);
    uuid(e);
    uuid(p);
    uuid(r);
    mv_buf_reset(b);
    if (mv_buf_printf(b,
                      "{\"authoredOn\":\"2025-%02u-%02uT%02u:%02u:00Z\",\"dispenseRequest\":{\"validityPeriod\":{"
                      "\"end\":\"2026-%02u-%02u\",\"start\":\"2025-%02u-%02u\"}},\"encounter\":{\"reference\":"
                      "\"Encounter/%s\"},\"id\":\"%s\",\"identifier\":[{\"system\":\"https://hospital.example.org/"
                      "fhir/sid/prescription\",\"use\":\"official\",\"value\":\"RX-2025-%08u\"}],\"meta\":{"
                      "\"lastUpdated\":\"2025-%02u-%02uT%02u:%02u:12.345Z\"},\"requester\":{\"display\":\"Dr. %s\","
                      "\"reference\":\"Practitioner/%s\"},\"resourceType\":\"MedicationRequest\",\"status\":"
                      "\"active\",\"subject\":{\"display\":\"%s\",\"reference\":\"Patient/%s\"}}",
                      1 + i % 12, 1 + i % 28, i % 24, i % 60, 1 + i % 12, 1 + i % 28, 1 + i % 12, 1 + i % 28, e, a,
                      i, 1 + i % 12, 1 + i % 28, i % 24, i % 60, names[i % 5], r, names[(i + 2) % 5], p) != MV_OK)
        die("printf", MV_ERR_NOMEM);
}

static void put_varint(mv_buf *b, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
        if (mv_buf_append(b, &byte, 1) != MV_OK)
            die("append", MV_ERR_NOMEM);
        v >>= 7;
    } while (v);
}

/* The MVR1 encoding (mv_record.h; written before skeletons were packed) of the MVR2 record
 * enc: the same fields with the skeleton as it is. */
static void body_v1(const uint8_t *skel, size_t len, const mv_buf *enc, mv_buf *out)
{
    mv_record r;
    mv_err rc;
    mv_record_init(&r);
    if ((rc = mv_record_decode(enc->ptr, enc->len, &r)) != MV_OK)
        die("decode", rc);
    mv_buf_reset(out);
    if (mv_buf_append(out, "MVR1\x01\x01", 6) != MV_OK)
        die("append", MV_ERR_NOMEM);
    put_varint(out, r.created);
    put_varint(out, 0);
    put_varint(out, len);
    if (mv_buf_append(out, skel, len) != MV_OK)
        die("append", MV_ERR_NOMEM);
    put_varint(out, r.n_blocks);
    for (size_t i = 0; i < r.n_blocks; i++) {
        if (mv_buf_append(out, r.blocks[i].tag, 32) != MV_OK || mv_buf_append(out, r.blocks[i].key, 32) != MV_OK)
            die("append", MV_ERR_NOMEM);
        put_varint(out, (uint32_t)(r.blocks[i].slot + 1u));
        put_varint(out, r.blocks[i].plain_len);
        put_varint(out, r.blocks[i].cipher_len);
    }
    mv_record_clear(&r);
}

/* The record encoding (MVR2) of a FHIR record with this skeleton and one block reference. */
static void body(const uint8_t *skel, size_t len, mv_buf *out)
{
    mv_record r;
    mv_block_ref b;
    mv_err rc;
    mv_record_init(&r);
    r.created = 1765432100;
    if ((rc = mv_record_set_skeleton(&r, skel, len)) != MV_OK)
        die("skeleton", rc);
    if (mv_random_bytes(b.tag, 32) != MV_OK || mv_random_bytes(b.key, 32) != MV_OK)
        die("random", MV_ERR_CRYPTO);
    b.slot = MV_RECORD_SLOT_ROOT;
    b.plain_len = 1182;
    b.cipher_len = 420;
    if ((rc = mv_record_add_block(&r, &b)) != MV_OK)
        die("block", rc);
    mv_buf_reset(out);
    if ((rc = mv_record_encode(&r, out)) != MV_OK)
        die("encode", rc);
    mv_record_clear(&r);
}

enum { FRESH, CACHED };

/* Decodes every body once (MVR2: unpacking and the canonical-packing check; MVR1: a copy);
 * returns microseconds per body. */
static double run_decode(mv_buf *bodies, size_t n)
{
    mv_record r;
    mv_record_init(&r);
    double t = now();
    for (size_t i = 0; i < n; i++) {
        mv_err rc = mv_record_decode(bodies[i].ptr, bodies[i].len, &r);
        if (rc != MV_OK)
            die("decode", rc);
    }
    t = now() - t;
    mv_record_clear(&r);
    return t * 1e6 / (double)n;
}

/* Compresses every body once (dict: 0 for none, at MV_ZSTD_LEVEL; else that dictionary at
 * MV_ZSTD_BODY_LEVEL); returns microseconds per body and sums output bytes. */
static double run(mv_buf *bodies, size_t n, int mode, unsigned dict, size_t *bytes)
{
    mv_buf z;
    mv_buf_init(&z, 1u << 20);
    *bytes = 0;
    double t = now();
    for (size_t i = 0; i < n; i++) {
        mv_err rc;
        if (mode == FRESH)
            mv_zstd_thread_release(); /* a context (and dictionary) created for this buffer alone */
        mv_buf_reset(&z);
        rc = dict ? mv_zstd_compress_dict(bodies[i].ptr, bodies[i].len, MV_ZSTD_BODY_LEVEL, dict, &z)
                  : mv_zstd_compress(bodies[i].ptr, bodies[i].len, MV_ZSTD_LEVEL, &z);
        if (rc != MV_OK)
            die("compress", rc);
        *bytes += z.len;
    }
    t = now() - t;
    mv_buf_clear(&z);
    return t * 1e6 / (double)n;
}

static double run_open(mv_buf *bodies, size_t n, int mode, int dict)
{
    mv_buf *z = mv_calloc(n, sizeof *z), d;
    mv_buf_init(&d, 1u << 20);
    for (size_t i = 0; i < n; i++) {
        mv_buf_init(&z[i], 1u << 20);
        mv_err rc = dict ? mv_zstd_compress_dict(bodies[i].ptr, bodies[i].len, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY,
                                                 &z[i])
                         : mv_zstd_compress(bodies[i].ptr, bodies[i].len, MV_ZSTD_LEVEL, &z[i]);
        if (rc != MV_OK)
            die("compress", rc);
    }
    double t = now();
    for (size_t i = 0; i < n; i++) {
        if (mode == FRESH)
            mv_zstd_thread_release();
        mv_buf_reset(&d);
        mv_err rc = mv_zstd_decompress_dict(z[i].ptr, z[i].len, 1u << 20, &d);
        if (rc != MV_OK)
            die("decompress", rc);
    }
    t = now() - t;
    for (size_t i = 0; i < n; i++)
        mv_buf_clear(&z[i]);
    mv_free(z);
    mv_buf_clear(&d);
    return t * 1e6 / (double)n;
}

int main(int argc, char **argv)
{
    size_t n = 10000, skel_bytes = 0, body_bytes = 0;
    const char *file = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--skeletons") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: bench_zstd [--n N] [--skeletons FILE] [--json]\n");
            return 2;
        }
    }
    if (mv_crypto_init() != MV_OK)
        die("crypto init", MV_ERR_CRYPTO);
    mv_buf *bodies = mv_calloc(n ? n : 1, sizeof *bodies), *bodies1 = mv_calloc(n ? n : 1, sizeof *bodies1), s;
    mv_buf_init(&s, 1u << 24);
    FILE *f = file ? fopen(file, "rb") : NULL;
    if (file && !f) {
        fprintf(stderr, "bench_zstd: cannot open %s\n", file);
        return 1;
    }
    static char line[1 << 20];
    size_t got = 0, body1_bytes = 0;
    for (; got < n; got++) {
        if (f) {
            if (!fgets(line, sizeof line, f))
                break;
            size_t l = strcspn(line, "\n");
            mv_buf_reset(&s);
            if (mv_buf_append(&s, line, l) != MV_OK)
                die("read", MV_ERR_NOMEM);
        } else {
            synth(&s, (unsigned)got);
        }
        mv_buf_init(&bodies[got], 1u << 24);
        body(s.ptr, s.len, &bodies[got]);
        mv_buf_init(&bodies1[got], 1u << 24);
        body_v1(s.ptr, s.len, &bodies[got], &bodies1[got]);
        skel_bytes += s.len;
        body_bytes += bodies[got].len;
        body1_bytes += bodies1[got].len;
    }
    if (f)
        fclose(f);
    n = got;
    if (!n)
        return 1;
    size_t b_fresh, b_cached, b_dict_fresh, b_dict, b1_plain, b1_dict, b2_dict1;
    double us_fresh = run(bodies, n, FRESH, 0, &b_fresh);
    double us_cached = run(bodies, n, CACHED, 0, &b_cached);
    double us_dict_fresh = run(bodies, n, FRESH, MV_ZSTD_DICT_BODY, &b_dict_fresh);
    double us_dict = run(bodies, n, CACHED, MV_ZSTD_DICT_BODY, &b_dict);
    double us_open_fresh = run_open(bodies, n, FRESH, 1), us_open = run_open(bodies, n, CACHED, 1);
    (void)run(bodies1, n, CACHED, 0, &b1_plain);
    (void)run(bodies1, n, CACHED, MV_ZSTD_DICT_FHIR_R4_1, &b1_dict);
    (void)run(bodies, n, CACHED, MV_ZSTD_DICT_FHIR_R4_1, &b2_dict1);
    double us_dec2 = run_decode(bodies, n), us_dec1 = run_decode(bodies1, n);
    double dn = (double)n;
    if (json)
        printf("{\"records\":%zu,\"skeleton_bytes\":%.1f,\"mvr1_bytes\":%.1f,\"body_bytes\":%.1f,"
               "\"mvr1_zstd%d_bytes\":%.1f,\"mvr1_dict1_bytes\":%.1f,"
               "\"zstd%d_bytes\":%.1f,\"mvr2_dict1_bytes\":%.1f,\"dict_level%d_bytes\":%.1f,"
               "\"us_fresh_ctx\":%.2f,\"us_cached_ctx\":%.2f,\"us_dict_fresh\":%.2f,\"us_dict_cached\":%.2f,"
               "\"us_open_fresh\":%.2f,\"us_open_cached\":%.2f,\"us_decode_mvr1\":%.2f,\"us_decode_mvr2\":%.2f}\n",
               n, (double)skel_bytes / dn, (double)body1_bytes / dn, (double)body_bytes / dn, MV_ZSTD_LEVEL,
               (double)b1_plain / dn, (double)b1_dict / dn, MV_ZSTD_LEVEL, (double)b_cached / dn,
               (double)b2_dict1 / dn, MV_ZSTD_BODY_LEVEL, (double)b_dict / dn, us_fresh, us_cached, us_dict_fresh,
               us_dict, us_open_fresh, us_open, us_dec1, us_dec2);
    else {
        printf("%zu records: skeleton %.1f B; record body MVR1 %.1f B, MVR2 (packed skeleton) %.1f B\n", n,
               (double)skel_bytes / dn, (double)body1_bytes / dn, (double)body_bytes / dn);
        printf("  before packing: MVR1, zstd -%d %6.1f B/record; dictionary 1, level %d %6.1f B/record\n",
               MV_ZSTD_LEVEL, (double)b1_plain / dn, MV_ZSTD_BODY_LEVEL, (double)b1_dict / dn);
        printf("  MVR2 with dictionary 1 (not fitted to packing): %6.1f B/record\n", (double)b2_dict1 / dn);
        printf("  MVR2, zstd -%d, no dictionary:   %6.1f B/record  fresh context %6.2f us  cached %6.2f us\n",
               MV_ZSTD_LEVEL, (double)b_cached / dn, us_fresh, us_cached);
        printf("  MVR2, zstd -%d, dictionary %u:    %6.1f B/record  fresh context %6.2f us  cached %6.2f us\n",
               MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY, (double)b_dict / dn, us_dict_fresh, us_dict);
        printf("  decompress (dictionary):   fresh context %6.2f us  cached %6.2f us\n", us_open_fresh, us_open);
        printf("  decode: MVR1 %6.2f us, MVR2 (unpack and check) %6.2f us\n", us_dec1, us_dec2);
    }
    for (size_t i = 0; i < n; i++) {
        mv_buf_clear(&bodies[i]);
        mv_buf_clear(&bodies1[i]);
    }
    mv_free(bodies);
    mv_free(bodies1);
    mv_buf_clear(&s);
    mv_zstd_thread_release();
    return 0;
}
