/* test_guard_state.c - the guard's state files (src/storage/storage_guard_state.c): the
 * honeytoken set and the reading baselines survive a save and a load, a missing file is an
 * empty set, and a file of another shape (or over its cap) is refused, never half loaded. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"
#include "storage/storage_guard.h"

/* A guard with only what the state files touch, its files in a fresh directory. */
static void guard_at(storage_guard *g, const char *dir)
{
    memset(g, 0, sizeof *g);
    snprintf(g->honey_path, sizeof g->honey_path, "%s/honeytokens", dir);
    snprintf(g->prof_path, sizeof g->prof_path, "%s/profiles", dir);
}

static void guard_free(storage_guard *g)
{
    mv_free(g->ht);
    mv_free(g->prof);
    memset(g, 0, sizeof *g);
}

static void write_file(const char *path, const char *text)
{
    assert_int_equal(mv_file_write_atomic(path, text, strlen(text), 0600), MV_OK);
}

/* Saved honeytokens load back in id order; the file is the admin's GET answer plus a newline. */
static void test_honeytokens_round_trip(void **state)
{
    (void)state;
    storage_guard g, back;
    guard_at(&g, tu_tmpdir());
    g.ht = mv_calloc(2, sizeof *g.ht);
    assert_non_null(g.ht);
    g.n_ht = 2;
    memset(g.ht[0].id, 0xb0, 16);
    snprintf(g.ht[0].dept, sizeof g.ht[0].dept, "%s", "oncology");
    g.ht[0].created = 1700000000;
    memset(g.ht[1].id, 0x0a, 16);
    snprintf(g.ht[1].dept, sizeof g.ht[1].dept, "%s", "cardiology");
    g.ht[1].created = 1700000001;
    assert_int_equal(guard_save_honeytokens(&g), MV_OK);

    mv_buf file, answer;
    mv_buf_init(&file, 1 << 16);
    mv_buf_init(&answer, 1 << 16);
    assert_int_equal(mv_file_read(g.honey_path, 1 << 16, &file), MV_OK);
    assert_int_equal(guard_write_honeytokens(&g, &answer), MV_OK);
    assert_int_equal(file.len, answer.len + 1);
    assert_memory_equal(file.ptr, answer.ptr, answer.len);
    assert_int_equal(file.ptr[answer.len], '\n');
    /* The file's exact bytes: a later build must read what this one wrote. */
    static const char want[] =
        "{\"honeytokens\":[{\"id\":\"b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0\",\"department\":\"oncology\","
        "\"created\":1700000000},{\"id\":\"0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\",\"department\":\"cardiology\","
        "\"created\":1700000001}]}\n";
    assert_int_equal(file.len, sizeof want - 1);
    assert_memory_equal(file.ptr, want, sizeof want - 1);

    guard_at(&back, "/nonexistent");
    memcpy(back.honey_path, g.honey_path, sizeof back.honey_path);
    assert_int_equal(guard_load_honeytokens(&back), MV_OK);
    assert_int_equal(back.n_ht, 2);
    assert_true(back.ht[0].id[0] == 0x0a && back.ht[1].id[0] == 0xb0); /* sorted by id */
    assert_string_equal(back.ht[0].dept, "cardiology");
    assert_int_equal(back.ht[1].created, 1700000000);
    mv_buf_clear(&file);
    mv_buf_clear(&answer);
    guard_free(&back);
    guard_free(&g);
}

/* No file: an empty set. Another shape: MV_ERR_PARSE and nothing loaded. */
static void test_honeytokens_missing_or_malformed(void **state)
{
    (void)state;
    storage_guard g;
    guard_at(&g, tu_tmpdir());
    assert_int_equal(guard_load_honeytokens(&g), MV_OK);
    assert_int_equal(g.n_ht, 0);
    write_file(g.honey_path, "{\"honeytokens\":{}}");
    assert_int_equal(guard_load_honeytokens(&g), MV_ERR_PARSE);
    write_file(g.honey_path, "{\"tokens\":[]}");
    assert_int_equal(guard_load_honeytokens(&g), MV_ERR_PARSE);
    write_file(g.honey_path, "{\"honeytokens\":[{\"id\":\"zz\",\"department\":\"x\",\"created\":1}]}");
    assert_int_equal(guard_load_honeytokens(&g), MV_ERR_PARSE);
    assert_int_equal(g.n_ht, 0);
    guard_free(&g);
}

/* Baselines round-trip in milli-reads; more entries than GUARD_MAX_PROFILES are refused. */
static void test_profiles(void **state)
{
    (void)state;
    storage_guard g, back;
    uint8_t subject[32];
    memset(subject, 0x5a, sizeof subject);
    guard_at(&g, tu_tmpdir());
    assert_int_equal(guard_load_profiles(&g), MV_OK); /* none yet */
    assert_int_equal(g.n_prof, 0);
    guard_profile *p = guard_profile_of(&g, subject);
    assert_non_null(p);
    p->baseline = 12.5;
    p->active_hours = 7;
    p->hour = 3;
    p->hour_reads = 4;
    p->dirty = 1;
    assert_int_equal(guard_save_profiles(&g), MV_OK);
    mv_buf file;
    mv_buf_init(&file, 1 << 16);
    assert_int_equal(mv_file_read(g.prof_path, 1 << 16, &file), MV_OK);
    static const char want[] = "{\"profiles\":[{\"subject\":"
                               "\"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\","
                               "\"baseline_milli\":12500,\"active_hours\":7,\"hour\":3,\"hour_reads\":4}]}\n";
    assert_int_equal(file.len, sizeof want - 1);
    assert_memory_equal(file.ptr, want, sizeof want - 1);
    mv_buf_clear(&file);

    guard_at(&back, "/nonexistent");
    memcpy(back.prof_path, g.prof_path, sizeof back.prof_path);
    assert_int_equal(guard_load_profiles(&back), MV_OK);
    assert_int_equal(back.n_prof, 1);
    assert_memory_equal(back.prof[0].subject, subject, 32);
    assert_true(back.prof[0].baseline == 12.5);
    assert_int_equal(back.prof[0].active_hours, 7);
    assert_int_equal(back.prof[0].hour_reads, 4);
    guard_free(&back);

    /* GUARD_MAX_PROFILES + 1 entries (empty objects suffice: the count is checked first). */
    mv_buf big;
    mv_buf_init(&big, (size_t)8 << 20);
    assert_int_equal(mv_buf_puts(&big, "{\"profiles\":["), MV_OK);
    for (size_t i = 0; i <= GUARD_MAX_PROFILES; i++)
        assert_int_equal(mv_buf_puts(&big, i ? ",{}" : "{}"), MV_OK);
    assert_int_equal(mv_buf_puts(&big, "]}"), MV_OK);
    assert_int_equal(mv_file_write_atomic(g.prof_path, big.ptr, big.len, 0600), MV_OK);
    guard_at(&back, "/nonexistent");
    memcpy(back.prof_path, g.prof_path, sizeof back.prof_path);
    assert_int_equal(guard_load_profiles(&back), MV_ERR_PARSE);
    assert_int_equal(back.n_prof, 0);
    mv_buf_clear(&big);
    guard_free(&back);
    guard_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honeytokens_round_trip),
        cmocka_unit_test(test_honeytokens_missing_or_malformed),
        cmocka_unit_test(test_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
