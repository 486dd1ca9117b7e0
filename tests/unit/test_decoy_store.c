/* test_decoy_store.c - the decoy cloud's shape store (src/storage/decoy_store.h): a batch in any
 * order, with an id twice and ids below the table's last, stores exactly what an ordinary put
 * in batch order would (the later copy of an id wins; a shape equal to the stored one does not
 * count as changed), whether an id is appended (above every stored id) or put in place. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_decoy.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"
#include "storage/decoy_store.h"

static uint32_t g_len[8] = {400, 500, 600, 700, 800, 900, 1000, 1100};

/* A one-block shape whose id starts with byte hi (ids sort by it) and whose sizes follow v. */
static void shape(mv_decoy_shape *s, uint8_t hi, uint32_t v)
{
    mv_decoy_shape_init(s);
    memset(s->id, 0x5a, 16);
    s->id[0] = hi;
    snprintf(s->department, sizeof s->department, "oncology");
    s->created = 1745000000 + v;
    memset(s->owner, 0x41, 32);
    s->n_readers = 1;
    memset(s->readers[0], 0x42, 32);
    s->env_len = 33 + 112 + 300 + v;
    s->n_blocks = 1;
    s->block_len = &g_len[v % 8];
}

static void expect(decoy_store *st, uint8_t hi, uint32_t v)
{
    mv_decoy_shape want, got;
    shape(&want, hi, v);
    mv_decoy_shape_init(&got);
    assert_int_equal(decoy_store_get(st, want.id, &got), MV_OK);
    assert_int_equal(got.env_len, want.env_len);
    assert_true(got.created == want.created);
    assert_int_equal(got.n_blocks, 1);
    assert_int_equal(got.block_len[0], want.block_len[0]);
    assert_string_equal(got.department, "oncology");
    mv_decoy_shape_clear(&got);
}

static void test_put_orders(void **state)
{
    (void)state;
    char dir[512];
    decoy_store *st = NULL;
    mv_decoy_shape b[6];
    size_t changed = 99;
    snprintf(dir, sizeof dir, "%s/decoys", tu_tmpdir());
    assert_int_equal(mv_file_mkdir(dir, 0700), MV_OK);
    assert_int_equal(decoy_store_open(dir, 4, &st), MV_OK);
    /* Out of order, 0x30 twice (the later one differs and wins), into an empty table. */
    shape(&b[0], 0x50, 1);
    shape(&b[1], 0x30, 2);
    shape(&b[2], 0x40, 3);
    shape(&b[3], 0x30, 4);
    assert_int_equal(decoy_store_put(st, b, 4, &changed), MV_OK);
    assert_int_equal(changed, 4);
    expect(st, 0x30, 4);
    expect(st, 0x40, 3);
    expect(st, 0x50, 1);
    /* Below the last id (in place), equal to the last (unchanged), above it (appended), one
     * changed in place, and the same id twice with equal shapes (counted once). */
    shape(&b[0], 0x60, 5);
    shape(&b[1], 0x10, 6);
    shape(&b[2], 0x50, 1);
    shape(&b[3], 0x40, 7);
    shape(&b[4], 0x70, 8);
    shape(&b[5], 0x70, 8);
    assert_int_equal(decoy_store_put(st, b, 6, &changed), MV_OK);
    assert_int_equal(changed, 4);
    expect(st, 0x10, 6);
    expect(st, 0x30, 4);
    expect(st, 0x40, 7);
    expect(st, 0x50, 1);
    expect(st, 0x60, 5);
    expect(st, 0x70, 8);
    /* The same batch again: nothing changes. */
    assert_int_equal(decoy_store_put(st, b, 6, &changed), MV_OK);
    assert_int_equal(changed, 0);
    mv_decoy_shape absent;
    shape(&absent, 0x20, 1);
    mv_decoy_shape got;
    mv_decoy_shape_init(&got);
    assert_int_equal(decoy_store_get(st, absent.id, &got), MV_ERR_NOT_FOUND);
    /* An invalid shape anywhere in a batch: nothing of it is stored. */
    shape(&b[0], 0x80, 9);
    shape(&b[1], 0x90, 9);
    b[1].n_readers = 0;
    assert_int_equal(decoy_store_put(st, b, 2, &changed), MV_ERR_INVAL);
    assert_int_equal(decoy_store_get(st, b[0].id, &got), MV_ERR_NOT_FOUND);
    decoy_store_close(st);
    /* Reopened: the same contents. */
    assert_int_equal(decoy_store_open(dir, 4, &st), MV_OK);
    expect(st, 0x10, 6);
    expect(st, 0x70, 8);
    decoy_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_put_orders)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
