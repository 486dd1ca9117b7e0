/* test_zstd.c - one-frame zstd (mv_zstd.h).
 *
 * Frame layout facts used below are from RFC 8878 section 3.1.1 (magic, Frame_Header_Descriptor
 * bits, Frame_Content_Size field sizes, block header). Covered: round trips (empty, tiny,
 * compressible, incompressible), the frame carries its content size and no checksum or
 * dictionary id, determinism, appending after existing bytes, truncation at every length,
 * trailing bytes / a second frame / a skippable frame, frames without a content size, a
 * declared size that disagrees with the data, a corrupt block type, every single-byte flip
 * (never a crash, only documented codes), bombs (declared 2^60 bytes, and 64 MiB of zeros)
 * refused before any allocation, caps, and every allocation failing in turn (with the
 * thread's cached contexts released first, so creating them fails too). Dictionaries: a
 * frame compressed with the FHIR dictionary names id 1 and is smaller on a FHIR skeleton;
 * only mv_zstd_decompress_dict reads it; every other id (and an unknown 4-byte id) is
 * refused before any allocation; the built-in dictionary is byte for byte data/fhir-r4.zdict
 * with a pinned SHA-256. Context reuse: the output does not depend on what the thread
 * compressed before or on the cache being fresh, and threads get their own contexts. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_zstd.h"
#include "record/zdict_data.h"

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static void fill_text(uint8_t *p, size_t n)
{
    static const char words[] = "{\"resourceType\":\"MedicationRequest\",\"dosage\":\"500 mg\"}";
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)words[i % (sizeof words - 1)];
}

/* Compresses in with MV_ZSTD_LEVEL into a fresh buffer (asserting success). */
static mv_buf compress(const uint8_t *in, size_t len)
{
    mv_buf b;
    mv_buf_init(&b, 1u << 26);
    assert_int_equal(mv_zstd_compress(in, len, MV_ZSTD_LEVEL, &b), MV_OK);
    return b;
}

/* Offset and size of the Frame_Content_Size field (RFC 8878 3.1.1.1.4). */
static void fcs_field(const uint8_t *f, size_t *off, size_t *size)
{
    static const size_t did[4] = {0, 1, 2, 4};
    uint8_t fhd = f[4];
    int single = (fhd >> 5) & 1;
    size_t fcs_flag = fhd >> 6;
    *off = 5 + (single ? 0 : 1) + did[fhd & 3];
    *size = fcs_flag == 0 ? (single ? 1 : 0) : (size_t)1 << fcs_flag;
}

static void roundtrip(const uint8_t *in, size_t len)
{
    mv_buf c = compress(in, len), d;
    size_t off, size;
    /* Magic, then a header that declares the size and has no checksum or dictionary id. */
    assert_true(c.len >= 6);
    assert_memory_equal(c.ptr, "\x28\xb5\x2f\xfd", 4);
    assert_int_equal(c.ptr[4] & 0x04, 0); /* Content_Checksum_flag */
    assert_int_equal(c.ptr[4] & 0x03, 0); /* Dictionary_ID_flag */
    fcs_field(c.ptr, &off, &size);
    assert_true(size > 0);
    assert_int_equal(ZSTD_getFrameContentSize(c.ptr, c.len), len);

    mv_buf_init(&d, len + 1);
    assert_int_equal(mv_zstd_decompress(c.ptr, c.len, len, &d), MV_OK);
    assert_int_equal(d.len, len);
    if (len)
        assert_memory_equal(d.ptr, in, len);
    assert_non_null(d.ptr);
    assert_int_equal(d.ptr[d.len], 0);
    /* One byte less room than the declared size is refused. */
    if (len) {
        mv_buf e;
        mv_buf_init(&e, 1u << 26);
        assert_int_equal(mv_zstd_decompress(c.ptr, c.len, len - 1, &e), MV_ERR_TOO_LARGE);
        assert_int_equal(e.len, 0);
        mv_buf_clear(&e);
        mv_buf_init(&e, len - 1);
        assert_int_equal(mv_zstd_decompress(c.ptr, c.len, len, &e), MV_ERR_TOO_LARGE);
        mv_buf_clear(&e);
    }
    mv_buf_clear(&c);
    mv_buf_clear(&d);
}

static void test_roundtrip(void **state)
{
    (void)state;
    size_t big = 1u << 20;
    uint8_t *p = mv_malloc(big);
    assert_non_null(p);
    roundtrip(NULL, 0);
    roundtrip((const uint8_t *)"x", 1);
    fill_text(p, big);
    roundtrip(p, big);
    roundtrip(p, 300);
    fill_random(p, big, 7);
    roundtrip(p, big);
    roundtrip(p, 65536 + 257);
    mv_free(p);
}

static void test_deterministic_and_append(void **state)
{
    (void)state;
    uint8_t in[20000];
    fill_text(in, sizeof in);
    fill_random(in + 5000, 3000, 3);
    mv_buf a = compress(in, sizeof in), b = compress(in, sizeof in), c;
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.ptr, b.ptr, a.len);
    assert_true(a.len < sizeof in / 2);

    /* Appending keeps what was there. */
    mv_buf_init(&c, 1u << 20);
    assert_int_equal(mv_buf_append(&c, "prefix", 6), MV_OK);
    assert_int_equal(mv_zstd_compress(in, sizeof in, MV_ZSTD_LEVEL, &c), MV_OK);
    assert_int_equal(c.len, 6 + a.len);
    assert_memory_equal(c.ptr, "prefix", 6);
    assert_memory_equal(c.ptr + 6, a.ptr, a.len);
    mv_buf_reset(&b);
    assert_int_equal(mv_buf_append(&b, "xy", 2), MV_OK);
    assert_int_equal(mv_zstd_decompress(c.ptr + 6, a.len, sizeof in, &b), MV_OK);
    assert_int_equal(b.len, 2 + sizeof in);
    assert_memory_equal(b.ptr, "xy", 2);
    assert_memory_equal(b.ptr + 2, in, sizeof in);
    mv_buf_clear(&a);
    mv_buf_clear(&b);
    mv_buf_clear(&c);
}

static void test_args(void **state)
{
    (void)state;
    mv_buf b;
    uint8_t x = 1;
    mv_buf_init(&b, 1024);
    assert_int_equal(mv_zstd_compress(NULL, 1, 3, &b), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_compress(&x, 1, 3, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_compress(&x, 1, ZSTD_maxCLevel() + 1, &b), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_compress(&x, 1, ZSTD_minCLevel() - 1, &b), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_decompress(NULL, 1, 10, &b), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_decompress(&x, 1, 10, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_decompress(NULL, 0, 10, &b), MV_ERR_PARSE);
    assert_int_equal(b.len, 0);
    /* A frame that does not fit out->max. */
    uint8_t rnd[4096];
    fill_random(rnd, sizeof rnd, 11);
    mv_buf_clear(&b);
    mv_buf_init(&b, 100);
    assert_int_equal(mv_zstd_compress(rnd, sizeof rnd, 3, &b), MV_ERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    mv_buf_clear(&b);
}

static void expect_parse(const uint8_t *f, size_t n)
{
    mv_buf d;
    mv_buf_init(&d, 1u << 26);
    assert_int_equal(mv_zstd_decompress(f, n, 1u << 26, &d), MV_ERR_PARSE);
    assert_int_equal(d.len, 0);
    mv_buf_clear(&d);
}

static void test_truncated_and_trailing(void **state)
{
    (void)state;
    uint8_t in[5000];
    fill_text(in, sizeof in);
    fill_random(in, 700, 5);
    mv_buf c = compress(in, sizeof in);
    for (size_t n = 0; n < c.len; n++)
        expect_parse(c.ptr, n);

    uint8_t *two = mv_malloc(2 * c.len + 16);
    assert_non_null(two);
    memcpy(two, c.ptr, c.len);
    two[c.len] = 0;
    expect_parse(two, c.len + 1); /* one trailing byte */
    memcpy(two + c.len, c.ptr, c.len);
    expect_parse(two, 2 * c.len); /* two frames */
    /* A skippable frame (magic 0x184D2A50, 4-byte size, payload) after, and alone. */
    static const uint8_t skip[12] = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4};
    memcpy(two + c.len, skip, sizeof skip);
    expect_parse(two, c.len + sizeof skip);
    expect_parse(skip, sizeof skip);
    mv_free(two);
    mv_buf_clear(&c);
}

static void test_corrupt(void **state)
{
    (void)state;
    uint8_t in[3000];
    size_t off, size;
    fill_text(in, sizeof in);
    mv_buf c = compress(in, sizeof in);

    /* Bad magic. */
    c.ptr[0] ^= 1;
    expect_parse(c.ptr, c.len);
    c.ptr[0] ^= 1;

    /* Declared size one more / one less than the data. */
    fcs_field(c.ptr, &off, &size);
    assert_true(size >= 2);
    c.ptr[off] = (uint8_t)(c.ptr[off] + 1);
    expect_parse(c.ptr, c.len);
    c.ptr[off] = (uint8_t)(c.ptr[off] - 2);
    expect_parse(c.ptr, c.len);
    c.ptr[off] = (uint8_t)(c.ptr[off] + 1);

    /* First block header made a reserved block type (3). */
    size_t bh = off + size;
    uint8_t saved = c.ptr[bh];
    c.ptr[bh] = (uint8_t)(saved | 0x06);
    expect_parse(c.ptr, c.len);
    c.ptr[bh] = saved;

    /* Every byte flipped in turn: only documented outcomes (without a checksum some flips
     * in literals decode to other bytes; the MLE layer's GCM catches those). */
    size_t refused = 0;
    for (size_t i = 0; i < c.len; i++) {
        mv_buf d;
        mv_buf_init(&d, 1u << 20);
        c.ptr[i] ^= 0xff;
        mv_err rc = mv_zstd_decompress(c.ptr, c.len, 1u << 20, &d);
        c.ptr[i] ^= 0xff;
        assert_true(rc == MV_OK || rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        if (rc != MV_OK) {
            assert_int_equal(d.len, 0);
            refused++;
        }
        if (i < off + size) /* magic, descriptor and declared size are always checked */
            assert_int_equal(rc, MV_ERR_PARSE);
        mv_buf_clear(&d);
    }
    assert_true(refused >= off + size);
    mv_buf d;
    mv_buf_init(&d, sizeof in);
    assert_int_equal(mv_zstd_decompress(c.ptr, c.len, sizeof in, &d), MV_OK);
    mv_buf_clear(&d);
    mv_buf_clear(&c);
}

static void test_unknown_size(void **state)
{
    (void)state;
    uint8_t in[1000], f[2000];
    fill_text(in, sizeof in);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    assert_non_null(cctx);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
    size_t n = ZSTD_compress2(cctx, f, sizeof f, in, sizeof in);
    ZSTD_freeCCtx(cctx);
    assert_false(ZSTD_isError(n));
    assert_int_equal(ZSTD_getFrameContentSize(f, n), ZSTD_CONTENTSIZE_UNKNOWN);
    expect_parse(f, n);
}

static void test_bombs(void **state)
{
    (void)state;
    mv_buf d;
    /* Declares 2^60 bytes (8-byte FCS, single segment), then one empty last raw block. */
    static const uint8_t bomb[] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x01, 0, 0};
    assert_int_equal(ZSTD_getFrameContentSize(bomb, sizeof bomb), 1ull << 60);
    mv_buf_init(&d, SIZE_MAX - 1);
    mv_mem_fail_after(0); /* proves the refusal comes before any allocation */
    assert_int_equal(mv_zstd_decompress(bomb, sizeof bomb, (size_t)64 << 20, &d), MV_ERR_TOO_LARGE);
    mv_mem_fail_after(SIZE_MAX);
    mv_buf_clear(&d);
    mv_buf_init(&d, (size_t)64 << 20);
    mv_mem_fail_after(0);
    assert_int_equal(mv_zstd_decompress(bomb, sizeof bomb, SIZE_MAX, &d), MV_ERR_TOO_LARGE);
    mv_mem_fail_after(SIZE_MAX);
    assert_null(d.ptr);

    /* A real one: 64 MiB of zeros compresses to a few KiB. */
    size_t big = (size_t)64 << 20;
    uint8_t *zeros = mv_calloc(big, 1);
    assert_non_null(zeros);
    mv_buf c = compress(zeros, big);
    mv_free(zeros);
    assert_true(c.len < 16384);
    assert_int_equal(mv_zstd_decompress(c.ptr, c.len, 1u << 20, &d), MV_ERR_TOO_LARGE);
    assert_int_equal(d.len, 0);
    assert_null(d.ptr);
    mv_buf_clear(&c);
    mv_buf_clear(&d);
}

typedef mv_err (*zfn)(const uint8_t *in, size_t len, mv_buf *out);

static mv_err z_c(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_compress(in, len, MV_ZSTD_LEVEL, out);
}

static mv_err z_cd(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_compress_dict(in, len, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_BODY, out);
}

static mv_err z_d(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_decompress(in, len, 1u << 20, out);
}

static mv_err z_dd(const uint8_t *in, size_t len, mv_buf *out)
{
    return mv_zstd_decompress_dict(in, len, 1u << 20, out);
}

/* Fails the n-th allocation of f(in) for n = 0, 1, ... (the thread's contexts released
 * before each try) until it succeeds with exactly expect; every failure is a clean NOMEM. */
static void fail_each_alloc(zfn f, const uint8_t *in, size_t len, const mv_buf *expect)
{
    int ok = 0;
    size_t failed = 0;
    for (size_t n = 0; n < 200 && !ok; n++) {
        mv_buf b;
        mv_buf_init(&b, 1u << 20);
        mv_zstd_thread_release();
        mv_mem_fail_after(n);
        mv_err rc = f(in, len, &b);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(b.len, expect->len);
            assert_memory_equal(b.ptr, expect->ptr, expect->len);
            ok = 1;
        } else {
            assert_int_equal(rc, MV_ERR_NOMEM);
            assert_int_equal(b.len, 0);
            failed++;
        }
        mv_buf_clear(&b);
    }
    assert_true(ok);
    assert_true(failed >= 2); /* at least the cache and a context */
}

static void test_alloc_failures(void **state)
{
    (void)state;
    uint8_t in[10000];
    fill_text(in, sizeof in);
    mv_buf ref = compress(in, sizeof in), refd, plain;
    mv_buf_init(&refd, 1u << 20);
    mv_buf_init(&plain, 1u << 20);
    assert_int_equal(z_cd(in, sizeof in, &refd), MV_OK);
    assert_int_equal(mv_buf_append(&plain, in, sizeof in), MV_OK);
    fail_each_alloc(z_c, in, sizeof in, &ref);
    fail_each_alloc(z_d, ref.ptr, ref.len, &plain);
    fail_each_alloc(z_cd, in, sizeof in, &refd);
    fail_each_alloc(z_dd, refd.ptr, refd.len, &plain);
    mv_buf_clear(&ref);
    mv_buf_clear(&refd);
    mv_buf_clear(&plain);
}

/* A canonical FHIR skeleton (synthetic identity fields) as record bodies hold them. */
static const char skel[] =
    "{\"authoredOn\":\"2025-06-02T10:14:00Z\",\"encounter\":{\"reference\":\"urn:uuid:2b7d8e40-95c1-4f3e-9a0d-"
    "6c1f2e3d4b5a\"},\"id\":\"f0e1d2c3-b4a5-4968-8776-655443322110\",\"meta\":{\"profile\":[\"http://hl7.org/fhir/"
    "us/core/StructureDefinition/us-core-medicationrequest\"]},\"requester\":{\"display\":\"Dr. Ada Quill\","
    "\"reference\":\"Practitioner/7a6b5c4d-3e2f-4011-8223-344556677889\"},\"resourceType\":\"MedicationRequest\","
    "\"status\":\"active\",\"subject\":{\"reference\":\"urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\"}}";

static void test_dictionary(void **state)
{
    (void)state;
    const uint8_t *in = (const uint8_t *)skel;
    size_t len = sizeof skel - 1;
    mv_buf a, b, d;
    mv_buf_init(&a, 1u << 20);
    mv_buf_init(&b, 1u << 20);
    mv_buf_init(&d, 1u << 20);
    assert_int_equal(mv_zstd_compress_dict(in, len, MV_ZSTD_BODY_LEVEL, MV_ZSTD_DICT_FHIR_R4_1, &a), MV_OK);
    assert_int_equal(mv_zstd_compress(in, len, MV_ZSTD_BODY_LEVEL, &b), MV_OK);
    print_message("%zu-byte skeleton: %zu bytes with the dictionary, %zu without\n", len, a.len, b.len);
    assert_true(a.len * 2 < b.len);
    /* Header (RFC 8878 3.1.1.1): single segment, 2-byte content size (len >= 256), no
     * checksum, a 1-byte Dictionary_ID holding 1. */
    assert_int_equal(a.ptr[4], 0x60 | 0x01);
    assert_int_equal(a.ptr[5], 1);
    assert_int_equal(mv_zstd_frame_dict_id(a.ptr, a.len), 1);
    assert_int_equal(mv_zstd_frame_dict_id(b.ptr, b.len), 0);
    assert_int_equal(mv_zstd_frame_dict_id(NULL, 0), 0);
    assert_int_equal(ZSTD_getFrameContentSize(a.ptr, a.len), len);
    assert_int_equal(mv_zstd_decompress_dict(a.ptr, a.len, len, &d), MV_OK);
    assert_int_equal(d.len, len);
    assert_memory_equal(d.ptr, in, len);
    /* A frame without a dictionary reads through either function. */
    mv_buf_reset(&d);
    assert_int_equal(mv_zstd_decompress_dict(b.ptr, b.len, len, &d), MV_OK);
    assert_memory_equal(d.ptr, in, len);
    mv_buf_reset(&d);
    /* The block path never accepts a dictionary. */
    assert_int_equal(mv_zstd_decompress(a.ptr, a.len, len, &d), MV_ERR_PARSE);
    assert_int_equal(d.len, 0);
    /* Every other one-byte id is refused before any allocation. Id 0 in a one-byte field
     * names no dictionary: the frame then lacks the history it refers to (corrupt). */
    for (unsigned id = 0; id < 256; id++) {
        if (id == 1)
            continue;
        a.ptr[5] = (uint8_t)id;
        if (id)
            mv_mem_fail_after(0);
        assert_int_equal(mv_zstd_decompress_dict(a.ptr, a.len, len, &d), MV_ERR_PARSE);
        mv_mem_fail_after(SIZE_MAX);
        assert_int_equal(d.len, 0);
    }
    a.ptr[5] = 1;
    /* A stored frame naming a 4-byte id (0xdeadbeef) holding "hi". */
    static const uint8_t far[] = {0x28, 0xb5, 0x2f, 0xfd, 0x23, 0xef, 0xbe, 0xad, 0xde, 2, 0x11, 0, 0, 'h', 'i'};
    assert_int_equal(mv_zstd_frame_dict_id(far, sizeof far), 0xdeadbeefu);
    assert_int_equal(mv_zstd_decompress_dict(far, sizeof far, 16, &d), MV_ERR_PARSE);
    assert_int_equal(mv_zstd_decompress(far, sizeof far, 16, &d), MV_ERR_PARSE);
    /* Compressing with a dictionary medvault does not have is a caller bug. */
    mv_buf_reset(&b);
    assert_int_equal(mv_zstd_compress_dict(in, len, MV_ZSTD_BODY_LEVEL, 0, &b), MV_ERR_INVAL);
    assert_int_equal(mv_zstd_compress_dict(in, len, MV_ZSTD_BODY_LEVEL, 2, &b), MV_ERR_INVAL);
    assert_int_equal(b.len, 0);
    mv_buf_clear(&a);
    mv_buf_clear(&b);
    mv_buf_clear(&d);
}

/* data/fhir-r4.zdict is what the library has built in, and it has not changed: a body names
 * its dictionary by id, so new bytes under id 1 would make stored records unreadable.
 * Changing the dictionary means a new file and id next to this one (docs/records.md). */
static void test_dictionary_pinned(void **state)
{
    (void)state;
    static const char pinned[] = "422899a3adfc80331d43420e7c4b0f7ceb473216448c8bd6ca24e81f13f0a002";
    uint8_t h[MV_SHA256_BYTES];
    char hex[2 * MV_SHA256_BYTES + 1];
    size_t n = 0;
    char *file = tu_read_vector_file("../../data/fhir-r4.zdict", &n);
    assert_int_equal(n, mv_zdict_fhir_r4_1_len);
    assert_memory_equal(file, mv_zdict_fhir_r4_1, n);
    mv_free(file);
    assert_int_equal(mv_sha256(h, mv_zdict_fhir_r4_1, mv_zdict_fhir_r4_1_len), MV_OK);
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    assert_string_equal(hex, pinned);
    /* A formatted dictionary (magic 0xEC30A437) carrying its id. */
    assert_memory_equal(mv_zdict_fhir_r4_1, "\x37\xa4\x30\xec\x01\x00\x00\x00", 8);
}

/* The cached context keeps no state between calls that could change an output. */
static void test_context_reuse(void **state)
{
    (void)state;
    uint8_t big[50000];
    fill_text(big, sizeof big);
    fill_random(big + 20000, 10000, 9);
    const uint8_t *in = (const uint8_t *)skel;
    size_t len = sizeof skel - 1;
    mv_buf fresh[2], again;
    mv_zstd_thread_release();
    mv_buf_init(&fresh[0], 1u << 20);
    mv_buf_init(&fresh[1], 1u << 20);
    assert_int_equal(mv_zstd_compress(in, len, MV_ZSTD_LEVEL, &fresh[0]), MV_OK);
    mv_zstd_thread_release();
    assert_int_equal(z_cd(in, len, &fresh[1]), MV_OK);
    /* Interleave other work (other levels, a bigger input, the other function), then again. */
    for (int round = 0; round < 3; round++) {
        mv_buf junk;
        mv_buf_init(&junk, 1u << 20);
        assert_int_equal(mv_zstd_compress(big, sizeof big, 19, &junk), MV_OK);
        assert_int_equal(mv_zstd_compress_dict(big, sizeof big, 1, MV_ZSTD_DICT_BODY, &junk), MV_OK);
        mv_buf_clear(&junk);
        for (int k = 0; k < 2; k++) {
            mv_buf_init(&again, 1u << 20);
            assert_int_equal(k ? z_cd(in, len, &again) : mv_zstd_compress(in, len, MV_ZSTD_LEVEL, &again), MV_OK);
            assert_int_equal(again.len, fresh[k].len);
            assert_memory_equal(again.ptr, fresh[k].ptr, again.len);
            mv_buf_clear(&again);
        }
    }
    mv_buf_clear(&fresh[0]);
    mv_buf_clear(&fresh[1]);
}

typedef struct worker {
    const mv_buf *expect;
    int ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    w->ok = 1;
    for (int i = 0; i < 200 && w->ok; i++) {
        mv_buf c, d;
        mv_buf_init(&c, 1u << 20);
        mv_buf_init(&d, 1u << 20);
        w->ok = z_cd((const uint8_t *)skel, sizeof skel - 1, &c) == MV_OK && c.len == w->expect->len &&
                memcmp(c.ptr, w->expect->ptr, c.len) == 0 && z_dd(c.ptr, c.len, &d) == MV_OK &&
                d.len == sizeof skel - 1 && memcmp(d.ptr, skel, d.len) == 0;
        mv_buf_clear(&c);
        mv_buf_clear(&d);
    }
    return NULL; /* the thread's contexts are freed (and wiped) at exit: ASan's leak check */
}

static void test_threads(void **state)
{
    (void)state;
    mv_buf expect;
    mv_buf_init(&expect, 1u << 20);
    assert_int_equal(z_cd((const uint8_t *)skel, sizeof skel - 1, &expect), MV_OK);
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){&expect, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_true(w[i].ok);
    }
    mv_buf_clear(&expect);
    mv_zstd_thread_release();
    mv_zstd_thread_release(); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_deterministic_and_append),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_unknown_size),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_dictionary_pinned),
        cmocka_unit_test(test_context_reuse),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
