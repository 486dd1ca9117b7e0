/* test_storage_meta.c - the record metadata JSON of the storage server (storage/record_meta.c):
 * the bytes the primary writes for a listing, a record's readers and the stats are pinned by
 * golden strings (written by the code before the writer was shared), and the decoy cloud's
 * answers for a record of the same shape are the primary's, byte for byte (a decoy that
 * differs from the primary in one byte tells an attacker where he is). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_decoy.h"
#include "medvault/mv_mem.h"
#include "storage/record_meta.h"

static const char golden_listing[] =
    "{\"records\":[{\"id\":\"000102030405060708090a0b0c0d0e0f\","
    "\"owner\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\"patient\":\"\","
    "\"episode\":\"\",\"department\":\"\",\"created\":1600000000000,\"envelope_bytes\":17,"
    "\"logical_bytes\":17,\"blocks\":0},{\"id\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\","
    "\"owner\":\"112233445566778899aabbccddeeff112233445566778899aabbccddeeff1122\","
    "\"patient\":\"f0efeeedecebeae9e8e7e6e5e4e3e2e1e0dfdedddcdbdad9d8d7d6d5d4d3d2d1\","
    "\"episode\":\"303132333435363738393a3b3c3d3e3f\",\"department\":\"cardio \\\"ICU\\\"\\\\\xc3\xa9\","
    "\"created\":1700000000123,\"envelope_bytes\":4321,\"logical_bytes\":4421,\"blocks\":3}]}";

static const char golden_stats[] =
    "{\"records\":3,\"blocks\":5,\"logical_bytes\":1000,\"physical_bytes\":250,\"data_bytes\":200,"
    "\"pack_bytes\":150,\"index_bytes\":100,\"envelope_bytes\":120,\"block_bytes\":80,\"savings\":0.7500,"
    "\"departments\":{\"cardio\":{\"records\":2,\"logical_bytes\":800,\"physical_bytes\":200,"
    "\"dedup_hits\":1,\"savings\":0.7500},\"x\\\"y\":{\"records\":1,\"logical_bytes\":0,"
    "\"physical_bytes\":0,\"dedup_hits\":0,\"savings\":0.0000},\"z\":{\"records\":1,"
    "\"logical_bytes\":100000,\"physical_bytes\":100001,\"dedup_hits\":0,\"savings\":0.0000}}}";

static const char golden_access[] =
    "{\"id\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\","
    "\"owner\":\"112233445566778899aabbccddeeff112233445566778899aabbccddeeff1122\","
    "\"patient\":\"f0efeeedecebeae9e8e7e6e5e4e3e2e1e0dfdedddcdbdad9d8d7d6d5d4d3d2d1\","
    "\"episode\":\"303132333435363738393a3b3c3d3e3f\",\"department\":\"cardio \\\"ICU\\\"\\\\\xc3\xa9\","
    "\"created\":1700000000123,\"readers\":[\"112233445566778899aabbccddeeff112233445566778899aabbccddeeff1122\","
    "\"f0efeeedecebeae9e8e7e6e5e4e3e2e1e0dfdedddcdbdad9d8d7d6d5d4d3d2d1\","
    "\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"]}";

/* Record `which` (0: patient, episode, three blocks; 1: no patient, no blocks) as the
 * primary's store reports it. */
static void make_info(int which, mv_store_record_info *info)
{
    memset(info, 0, sizeof *info);
    for (int i = 0; i < 16; i++)
        info->id[i] = (uint8_t)(which ? i : 0xa0 + i);
    for (int i = 0; i < 32; i++)
        info->owner[i] = (uint8_t)(which ? i : 0x11 * (i % 15 + 1));
    if (which == 0) {
        for (int i = 0; i < 32; i++)
            info->patient[i] = (uint8_t)(0xf0 - i);
        for (int i = 0; i < 16; i++)
            info->episode[i] = (uint8_t)(0x30 + i);
        snprintf(info->dept, sizeof info->dept, "%s", "cardio \"ICU\"\\\xc3\xa9");
        info->created = 1700000000123ULL;
        info->envelope_len = 4321;
        info->logical_bytes = 4321 + 100;
        info->n_tags = 3;
    } else {
        info->created = 1600000000000ULL;
        info->envelope_len = 17;
        info->logical_bytes = 17;
    }
    memcpy(info->readers[info->n_readers++], info->owner, 32);
}

static void write_primary_listing(mv_buf *b)
{
    storage_listing_entry v[2];
    mv_store_record_info info;
    for (int i = 0; i < 2; i++) {
        make_info(i, &info);
        storage_listing_entry_of(&info, &v[i]);
    }
    assert_int_equal(storage_write_listing(b, v, 2), MV_OK);
}

/* The decoy cloud's view of record `which`: the shape the primary pushes for it (blocks whose
 * lengths add up to the record's logical bytes). block_len is owned by s. */
static void make_shape(int which, mv_decoy_shape *s)
{
    mv_store_record_info info;
    make_info(which, &info);
    mv_decoy_shape_init(s);
    memcpy(s->id, info.id, 16);
    memcpy(s->owner, info.owner, 32);
    memcpy(s->patient, info.patient, 32);
    memcpy(s->episode, info.episode, 16);
    snprintf(s->department, sizeof s->department, "%.63s", info.dept);
    s->created = info.created;
    s->env_len = (uint32_t)info.envelope_len;
    s->n_readers = 1;
    memcpy(s->readers[0], info.owner, 32);
    s->n_blocks = (uint32_t)info.n_tags;
    if (s->n_blocks) {
        s->block_len = mv_calloc(s->n_blocks, sizeof *s->block_len);
        assert_non_null(s->block_len);
        s->block_len[0] = 50;
        s->block_len[1] = 30;
        s->block_len[2] = 20;
    }
}

static void assert_bytes(const mv_buf *b, const char *want)
{
    assert_int_equal(b->len, strlen(want));
    assert_memory_equal(b->ptr, want, b->len);
}

/* The primary's listing: sorted by creation time, zero patient and episode as "", the
 * department escaped. */
static void test_listing_golden(void **state)
{
    (void)state;
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    write_primary_listing(&b);
    assert_bytes(&b, golden_listing);
    /* An empty listing, and a cap too small for one line, which is refused (not cut). */
    mv_buf_reset(&b);
    assert_int_equal(storage_write_listing(&b, NULL, 0), MV_OK);
    assert_bytes(&b, "{\"records\":[]}");
    mv_buf_clear(&b);
    mv_buf_init(&b, 64);
    storage_listing_entry e;
    memset(&e, 0, sizeof e);
    assert_int_equal(storage_write_listing(&b, &e, 1), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

/* The primary's readers answer: the ACL in the store's order after the metadata. */
static void test_access_golden(void **state)
{
    (void)state;
    mv_store_record_info info, other;
    make_info(0, &info);
    make_info(1, &other);
    memcpy(info.readers[info.n_readers++], info.patient, 32);
    memcpy(info.readers[info.n_readers++], other.owner, 32);
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(storage_write_access(&b, &info), MV_OK);
    assert_bytes(&b, golden_access);
    mv_buf_clear(&b);
}

/* The primary's stats: totals, then departments in the store's order; a savings rounding to
 * zero (nothing stored, or physical a hair above logical) is written 0.0000, never -0.0000. */
static void test_stats_golden(void **state)
{
    (void)state;
    mv_store_stats st;
    memset(&st, 0, sizeof st);
    st.records = 3;
    st.blocks = 5;
    st.logical_bytes = 1000;
    st.physical_bytes = 250;
    st.data_bytes = 200;
    st.pack_bytes = 150;
    st.index_bytes = 100;
    st.envelope_bytes = 120;
    st.block_bytes = 80;
    st.n_depts = 3;
    snprintf(st.depts[0].dept, sizeof st.depts[0].dept, "%s", "cardio");
    st.depts[0].records = 2;
    st.depts[0].logical_bytes = 800;
    st.depts[0].physical_bytes = 200;
    st.depts[0].dedup_hits = 1;
    snprintf(st.depts[1].dept, sizeof st.depts[1].dept, "%s", "x\"y");
    st.depts[1].records = 1;
    snprintf(st.depts[2].dept, sizeof st.depts[2].dept, "%s", "z");
    st.depts[2].records = 1;
    st.depts[2].logical_bytes = 100000;
    st.depts[2].physical_bytes = 100001;
    mv_buf b;
    mv_buf_init(&b, 1 << 16);
    assert_int_equal(storage_write_stats(&b, &st), MV_OK);
    assert_bytes(&b, golden_stats);
    mv_buf_clear(&b);
    /* Refused whole when it does not fit. */
    mv_buf_init(&b, 64);
    assert_int_equal(storage_write_stats(&b, &st), MV_ERR_TOO_LARGE);
    mv_buf_clear(&b);
}

/* The decoy cloud's listing and readers answers for shapes of the same records are the
 * primary's bytes: the same writer, fed through storage_info_of_shape (its logical bytes are
 * the envelope plus the shape's block lengths, as the store counts them). */
static void test_decoy_matches_primary(void **state)
{
    (void)state;
    mv_decoy_shape sh[2];
    storage_listing_entry v[2];
    mv_store_record_info info;
    for (int i = 0; i < 2; i++) {
        make_shape(i, &sh[i]);
        storage_info_of_shape(&sh[i], &info);
        assert_int_equal(info.n_readers, 0); /* the decoy adds the readers it shows */
        storage_listing_entry_of(&info, &v[i]);
    }
    mv_buf primary, decoy;
    mv_buf_init(&primary, 1 << 16);
    mv_buf_init(&decoy, 1 << 16);
    write_primary_listing(&primary);
    /* Given in the other order: the writer sorts, as the primary's store order is not the
     * decoy's. */
    storage_listing_entry t = v[0];
    v[0] = v[1];
    v[1] = t;
    assert_int_equal(storage_write_listing(&decoy, v, 2), MV_OK);
    assert_int_equal(decoy.len, primary.len);
    assert_memory_equal(decoy.ptr, primary.ptr, primary.len);
    assert_bytes(&decoy, golden_listing);

    /* Readers as the decoy shows them: owner, patient, then the proven caller. */
    mv_store_record_info other;
    make_info(1, &other);
    storage_info_of_shape(&sh[0], &info);
    memcpy(info.readers[info.n_readers++], sh[0].owner, 32);
    memcpy(info.readers[info.n_readers++], sh[0].patient, 32);
    memcpy(info.readers[info.n_readers++], other.owner, 32);
    mv_buf_reset(&decoy);
    assert_int_equal(storage_write_access(&decoy, &info), MV_OK);
    assert_bytes(&decoy, golden_access);
    mv_buf_clear(&primary);
    mv_buf_clear(&decoy);
    for (int i = 0; i < 2; i++)
        mv_decoy_shape_clear(&sh[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing_golden),
        cmocka_unit_test(test_access_golden),
        cmocka_unit_test(test_stats_golden),
        cmocka_unit_test(test_decoy_matches_primary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
