/* test_zstd.c - one-frame zstd (mv_zstd.h).
 *
 * Frame layout facts used below are from RFC 8878 section 3.1.1 (magic, Frame_Header_Descriptor
 * bits, Frame_Content_Size field sizes, block header). Covered: round trips (empty, tiny,
 * compressible, incompressible), the frame carries its content size and no checksum or
 * dictionary id, determinism, appending after existing bytes, truncation at every length,
 * trailing bytes / a second frame / a skippable frame, frames without a content size, a
 * declared size that disagrees with the data, a corrupt block type, every single-byte flip
 * (never a crash, only documented codes), bombs (declared 2^60 bytes, and 64 MiB of zeros)
 * refused before any allocation, caps, and every allocation failing in turn. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_zstd.h"

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

static void test_alloc_failures(void **state)
{
    (void)state;
    uint8_t in[10000];
    fill_text(in, sizeof in);
    mv_buf ref = compress(in, sizeof in);
    int ok = 0;
    for (size_t n = 0; n < 100 && !ok; n++) {
        mv_buf b;
        mv_buf_init(&b, 1u << 20);
        mv_mem_fail_after(n);
        mv_err rc = mv_zstd_compress(in, sizeof in, MV_ZSTD_LEVEL, &b);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(b.len, ref.len);
            assert_memory_equal(b.ptr, ref.ptr, ref.len);
            ok = 1;
        } else {
            assert_int_equal(rc, MV_ERR_NOMEM);
            assert_int_equal(b.len, 0);
        }
        mv_buf_clear(&b);
    }
    assert_true(ok);
    ok = 0;
    for (size_t n = 0; n < 100 && !ok; n++) {
        mv_buf b;
        mv_buf_init(&b, 1u << 20);
        mv_mem_fail_after(n);
        mv_err rc = mv_zstd_decompress(ref.ptr, ref.len, sizeof in, &b);
        mv_mem_fail_after(SIZE_MAX);
        if (rc == MV_OK) {
            assert_int_equal(b.len, sizeof in);
            assert_memory_equal(b.ptr, in, sizeof in);
            ok = 1;
        } else {
            assert_int_equal(rc, MV_ERR_NOMEM);
            assert_int_equal(b.len, 0);
        }
        mv_buf_clear(&b);
    }
    assert_true(ok);
    mv_buf_clear(&ref);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
