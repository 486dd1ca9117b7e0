/* test_cdc.c - FastCDC chunking (mv_cdc.h).
 *
 * The gear table is recomputed from its documented derivation with mv_sha256. The masks are
 * checked against FastCDC normalization level 2 (Xia et al. 2016, section 3.4: avg = 2^b gives
 * b+2 one bits before avg and b-2 after). Chunking properties: bounds, determinism and
 * independence from how input is fed (one buffer, growing prefixes, a file, a pipe with short
 * reads), shift resistance, mean chunk size, and a pinned regression vector (which pins our own
 * table and masks; it is not an external vector). Error paths of mv_cdc_fd. */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "medvault/mv_cdc.h"
#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

static const mv_cdc_params small = {16384, 65536, 262144};

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static unsigned popcount64(uint64_t x)
{
    unsigned n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

typedef struct chunks {
    size_t n, cap;
    uint64_t *off;
    size_t *len;
} chunks;

static void chunks_add(chunks *c, uint64_t off, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->off = mv_realloc(c->off, c->cap * sizeof *c->off);
        c->len = mv_realloc(c->len, c->cap * sizeof *c->len);
        assert_non_null(c->off);
        assert_non_null(c->len);
    }
    c->off[c->n] = off;
    c->len[c->n] = len;
    c->n++;
}

static void chunks_free(chunks *c)
{
    mv_free(c->off);
    mv_free(c->len);
    memset(c, 0, sizeof *c);
}

/* Chunks a whole buffer with at_eof set. */
static chunks chunk_buffer(const mv_cdc_params *p, const uint8_t *d, size_t n)
{
    chunks c = {0};
    size_t pos = 0;
    while (pos < n) {
        size_t k = mv_cdc_cut(p, d + pos, n - pos, 1);
        assert_true(k >= 1 && k <= n - pos);
        chunks_add(&c, pos, k);
        pos += k;
    }
    return c;
}

static void assert_same(const chunks *a, const chunks *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->off[i], b->off[i]);
        assert_int_equal(a->len[i], b->len[i]);
    }
}

static void assert_bounds(const mv_cdc_params *p, const chunks *c, size_t total)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < c->n; i++) {
        assert_int_equal(c->off[i], sum);
        if (i + 1 < c->n)
            assert_true(c->len[i] >= p->min_size);
        assert_true(c->len[i] >= 1 && c->len[i] <= p->max_size);
        sum += c->len[i];
    }
    assert_int_equal(sum, total);
}

static void test_gear_derivation(void **state)
{
    (void)state;
    static const char label[] = "medvault-fastcdc-gear-v1";
    const uint64_t *g = mv_cdc_gear();
    uint8_t msg[sizeof label - 1 + 4], h[MV_SHA256_BYTES];
    size_t checked = 0;
    memcpy(msg, label, sizeof label - 1);
    for (uint32_t i = 0; i < MV_CDC_GEAR_ENTRIES; i++) {
        msg[sizeof label - 1] = (uint8_t)(i >> 24);
        msg[sizeof label] = (uint8_t)(i >> 16);
        msg[sizeof label + 1] = (uint8_t)(i >> 8);
        msg[sizeof label + 2] = (uint8_t)i;
        assert_int_equal(mv_sha256(h, msg, sizeof msg), MV_OK);
        uint64_t v = 0;
        for (int k = 0; k < 8; k++)
            v = (v << 8) | h[k];
        assert_true(g[i] == v);
        checked++;
    }
    assert_int_equal(checked, 256);
    /* Entry 0 by an independent oracle: python3 -c 'import hashlib;
     * print(hashlib.sha256(b"medvault-fastcdc-gear-v1"+bytes(4)).hexdigest()[:16])' */
    assert_true(g[0] == 0x58505bb8cf9f0ac6ull);
}

static void test_params(void **state)
{
    (void)state;
    const mv_cdc_params def = {MV_CDC_MIN, MV_CDC_AVG, MV_CDC_MAX};
    assert_int_equal(mv_cdc_params_check(&def), MV_OK);
    assert_int_equal(mv_cdc_params_check(&small), MV_OK);
    const mv_cdc_params ok[] = {
        {1, 64, 64}, {64, 64, 64}, {1, (size_t)1 << 26, (size_t)64 << 20}, {100, 128, 129},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(mv_cdc_params_check(&ok[i]), MV_OK);
    const mv_cdc_params bad[] = {
        {0, 64, 64},                        /* min 0 */
        {1, 32, 64},                        /* avg below 64 */
        {1, 96, 128},                       /* avg not a power of two */
        {65, 64, 128},                      /* min > avg */
        {1, 128, 127},                      /* max < avg */
        {1, 1024, ((size_t)64 << 20) + 1},  /* max above 64 MiB */
        {1, (size_t)1 << 29, (size_t)1 << 29}, /* avg above 2^28 */
        {1, (size_t)1 << 28, (size_t)1 << 28}, /* avg fine, max above 64 MiB */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mv_cdc_params_check(&bad[i]), MV_ERR_INVAL);
    assert_int_equal(mv_cdc_params_check(NULL), MV_ERR_INVAL);
}

static void test_masks(void **state)
{
    (void)state;
    static const struct {
        size_t avg;
        unsigned s, l;
    } cases[] = {{64, 8, 4}, {65536, 18, 14}, {MV_CDC_AVG, 22, 18}, {(size_t)1 << 26, 28, 24}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mv_cdc_params p = {1, cases[i].avg, cases[i].avg};
        uint64_t s, l;
        assert_int_equal(mv_cdc_masks(&p, &s, &l), MV_OK);
        assert_int_equal(popcount64(s), cases[i].s);
        assert_int_equal(popcount64(l), cases[i].l);
        assert_true((s & 0xffff) == 0 && (l & 0xffff) == 0); /* spread over bits 16..63 */
        assert_true((s >> 63) == 1 && (l >> 63) == 1);
    }
    /* The default masks, as documented in docs/chunking.md. */
    const mv_cdc_params def = {MV_CDC_MIN, MV_CDC_AVG, MV_CDC_MAX};
    uint64_t s, l;
    assert_int_equal(mv_cdc_masks(&def, &s, &l), MV_OK);
    assert_true(s == 0xaaa554aaa5540000ull);
    assert_true(l == 0xa4a4a4a4a4a40000ull);
    mv_cdc_params bad = {0, 64, 64};
    s = l = 1;
    assert_int_equal(mv_cdc_masks(&bad, &s, &l), MV_ERR_INVAL);
    assert_true(s == 0 && l == 0);
}

static void test_cut_edges(void **state)
{
    (void)state;
    uint8_t *d = mv_malloc(small.max_size * 2);
    assert_non_null(d);
    fill_random(d, small.max_size * 2, 99);
    assert_int_equal(mv_cdc_cut(&small, d, 0, 1), 0);
    assert_int_equal(mv_cdc_cut(&small, d, 0, 0), 0);
    assert_int_equal(mv_cdc_cut(&small, NULL, 0, 1), 0);
    /* Below min: the rest of a final input, or "need more". */
    assert_int_equal(mv_cdc_cut(&small, d, 1, 1), 1);
    assert_int_equal(mv_cdc_cut(&small, d, small.min_size, 1), small.min_size);
    assert_int_equal(mv_cdc_cut(&small, d, 1, 0), 0);
    assert_int_equal(mv_cdc_cut(&small, d, small.min_size, 0), 0);
    /* Given more than max, never more than max; and the same answer with exactly max. */
    size_t k = mv_cdc_cut(&small, d, small.max_size * 2, 0);
    assert_true(k >= small.min_size && k <= small.max_size);
    assert_int_equal(mv_cdc_cut(&small, d, small.max_size, 0), k);
    assert_int_equal(mv_cdc_cut(&small, d, small.max_size, 1), k);
    /* Every prefix: 0 (need more) until the cut is inside it, then the cut. */
    for (size_t len = 1; len < k; len += 997)
        assert_int_equal(mv_cdc_cut(&small, d, len, 0), 0);
    assert_int_equal(mv_cdc_cut(&small, d, k, 0), k);
    assert_int_equal(mv_cdc_cut(&small, d, k - 1, 1), k - 1);

    /* Constant input has a constant hash: cuts at the first eligible byte or at max. */
    memset(d, 0, small.max_size * 2);
    k = mv_cdc_cut(&small, d, small.max_size * 2, 1);
    assert_true(k == small.min_size || k == small.max_size);
    memset(d, 0xa5, small.max_size * 2);
    k = mv_cdc_cut(&small, d, small.max_size * 2, 1);
    assert_true(k == small.min_size || k == small.max_size);
    /* A tiny configuration exercises min <= WINDOW. */
    const mv_cdc_params tiny = {1, 64, 256};
    fill_random(d, 100000, 5);
    chunks c = chunk_buffer(&tiny, d, 100000);
    assert_bounds(&tiny, &c, 100000);
    chunks_free(&c);
    mv_free(d);
}

static void test_bounds_and_feeding(void **state)
{
    (void)state;
    size_t n = (size_t)6 << 20;
    uint8_t *d = mv_malloc(n);
    assert_non_null(d);
    fill_random(d, n, 1234);
    /* A zero run (forces max-size chunks) in the middle. */
    memset(d + (2u << 20), 0, 1u << 20);
    chunks a = chunk_buffer(&small, d, n);
    assert_bounds(&small, &a, n);
    chunks again = chunk_buffer(&small, d, n);
    assert_same(&a, &again);
    chunks_free(&again);

    /* Growing prefixes of pseudo-random size, at_eof only when all is given. */
    chunks b = {0};
    uint64_t x = 77;
    size_t pos = 0, have = 0;
    while (pos < n) {
        size_t k = mv_cdc_cut(&small, d + pos, have - pos, have == n);
        if (k == 0) {
            assert_true(have < n && have - pos < small.max_size);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            have += 1 + (size_t)(x % 50000);
            if (have > n)
                have = n;
            continue;
        }
        chunks_add(&b, pos, k);
        pos += k;
    }
    assert_same(&a, &b);
    chunks_free(&a);
    chunks_free(&b);
    mv_free(d);
}

static mv_err collect(void *ctx, const uint8_t *chunk, size_t len, uint64_t offset)
{
    chunks *c = ctx;
    assert_non_null(chunk);
    chunks_add(c, offset, len);
    return MV_OK;
}

typedef struct collect_check {
    chunks c;
    const uint8_t *data;
    size_t fail_at; /* return MV_ERR_EXISTS from this call on (SIZE_MAX: never) */
} collect_check;

static mv_err collect_and_compare(void *ctx, const uint8_t *chunk, size_t len, uint64_t offset)
{
    collect_check *cc = ctx;
    if (cc->c.n == cc->fail_at)
        return MV_ERR_EXISTS;
    assert_memory_equal(chunk, cc->data + offset, len);
    chunks_add(&cc->c, offset, len);
    return MV_OK;
}

static void test_fd(void **state)
{
    (void)state;
    size_t n = (size_t)3 << 20;
    uint8_t *d = mv_malloc(n);
    assert_non_null(d);
    fill_random(d, n, 42);
    chunks ref = chunk_buffer(&small, d, n);

    /* A regular file. */
    char path[4096];
    snprintf(path, sizeof path, "%s/input", tu_tmpdir());
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, d, n), (ssize_t)n);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    collect_check cc = {{0}, d, SIZE_MAX};
    assert_int_equal(mv_cdc_fd(&small, fd, collect_and_compare, &cc), MV_OK);
    assert_same(&ref, &cc.c);
    chunks_free(&cc.c);

    /* The callback's error stops chunking and is returned. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    cc.fail_at = 3;
    assert_int_equal(mv_cdc_fd(&small, fd, collect_and_compare, &cc), MV_ERR_EXISTS);
    assert_int_equal(cc.c.n, 3);
    chunks_free(&cc.c);
    cc.fail_at = SIZE_MAX;

    /* Allocation failure. */
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    mv_mem_fail_after(0);
    assert_int_equal(mv_cdc_fd(&small, fd, collect_and_compare, &cc), MV_ERR_NOMEM);
    mv_mem_fail_after(SIZE_MAX);
    assert_int_equal(cc.c.n, 0);
    close(fd);

    /* A pipe fed in odd-sized writes: reads come back short and uneven. */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        size_t pos = 0, step = 1;
        while (pos < n) {
            size_t w = step < n - pos ? step : n - pos;
            ssize_t r = write(pfd[1], d + pos, w);
            if (r <= 0)
                _exit(1);
            pos += (size_t)r;
            step = (step * 7 + 13) % 70001 + 1;
        }
        _exit(0);
    }
    close(pfd[1]);
    assert_int_equal(mv_cdc_fd(&small, pfd[0], collect_and_compare, &cc), MV_OK);
    close(pfd[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_same(&ref, &cc.c);
    chunks_free(&cc.c);

    /* Empty input: no call. */
    fd = open(path, O_TRUNC | O_RDWR);
    assert_true(fd >= 0);
    chunks none = {0};
    assert_int_equal(mv_cdc_fd(&small, fd, collect, &none), MV_OK);
    assert_int_equal(none.n, 0);
    close(fd);

    /* Read errors and bad arguments. */
    fd = open(tu_tmpdir(), O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mv_cdc_fd(&small, fd, collect, &none), MV_ERR_IO); /* EISDIR */
    close(fd);
    assert_int_equal(mv_cdc_fd(&small, -1, collect, &none), MV_ERR_INVAL);
    assert_int_equal(mv_cdc_fd(&small, 0, NULL, &none), MV_ERR_INVAL);
    const mv_cdc_params bad = {0, 64, 64};
    assert_int_equal(mv_cdc_fd(&bad, 0, collect, &none), MV_ERR_INVAL);
    assert_int_equal(none.n, 0);
    chunks_free(&ref);
    mv_free(d);
}

/* Inserting 100 bytes at the start of 32 MiB: almost every chunk (by bytes) survives. */
static void test_shift_resistance(void **state)
{
    (void)state;
    size_t n = (size_t)32 << 20, shift = 100;
    uint8_t *b = mv_malloc(n + shift);
    assert_non_null(b);
    fill_random(b + shift, n, 2024);
    fill_random(b, shift, 555);
    chunks ca = chunk_buffer(&small, b + shift, n);
    chunks cb = chunk_buffer(&small, b, n + shift);
    /* Both lists are sorted by offset: a merge finds chunks of b equal to chunks of a
     * (same content means same position shifted by 100 and same length). */
    uint64_t shared = 0;
    size_t i = 0;
    for (size_t j = 0; j < cb.n; j++) {
        if (cb.off[j] < shift)
            continue;
        uint64_t want = cb.off[j] - shift;
        while (i < ca.n && ca.off[i] < want)
            i++;
        if (i < ca.n && ca.off[i] == want && ca.len[i] == cb.len[j])
            shared += cb.len[j];
    }
    assert_true(shared * 100 >= (uint64_t)n * 90);
    /* In fact only the first chunk or two differ. */
    assert_true(n - shared <= 2 * small.max_size);

    /* Mean chunk size on random data (all but the last chunk). */
    uint64_t sum = 0;
    for (size_t k = 0; k + 1 < ca.n; k++)
        sum += ca.len[k];
    double mean = (double)sum / (double)(ca.n - 1);
    assert_true(ca.n > 100);
    assert_true(mean >= 0.5 * (double)small.avg_size && mean <= 1.5 * (double)small.avg_size);
    chunks_free(&ca);
    chunks_free(&cb);

    /* And at a smaller scale with many more chunks. */
    const mv_cdc_params p4k = {1024, 4096, 16384};
    ca = chunk_buffer(&p4k, b, (size_t)8 << 20);
    assert_bounds(&p4k, &ca, (size_t)8 << 20);
    mean = (double)(((size_t)8 << 20) - ca.len[ca.n - 1]) / (double)(ca.n - 1);
    assert_true(mean >= 0.5 * 4096 && mean <= 1.5 * 4096);
    chunks_free(&ca);
    mv_free(b);
}

/* Regression vector. This pins OUR gear table, masks and window (computed once with this
 * implementation, not an external FastCDC vector): if it changes, stored attachments would
 * chunk differently and stop deduplicating. Input: 256 KiB of the xorshift64 stream of
 * fill_random(seed 2016) with params 2048/8192/32768. */
static void test_pinned_vector(void **state)
{
    (void)state;
    static const size_t expect[] = {
        8992, 6915, 8384, 9568, 11501, 8551, 6141, 8386, 10447, 15304, 8681, 8517, 8754, 13342,
        9039, 8495, 10379, 9606, 11444, 10540, 13096, 6421, 10482, 3308, 14250, 9297, 10886, 1418,
    };
    const mv_cdc_params p = {2048, 8192, 32768};
    size_t n = 256 * 1024;
    uint8_t *d = mv_malloc(n);
    assert_non_null(d);
    fill_random(d, n, 2016);
    chunks c = chunk_buffer(&p, d, n);
    assert_int_equal(c.n, sizeof expect / sizeof expect[0]);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.len[i], expect[i]);
    chunks_free(&c);
    mv_free(d);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gear_derivation),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_cut_edges),
        cmocka_unit_test(test_bounds_and_feeding),
        cmocka_unit_test(test_fd),
        cmocka_unit_test(test_shift_resistance),
        cmocka_unit_test(test_pinned_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
