/* test_table.c - the vocabulary table reader (src/core/table.c): rows, comments, empty fields,
 * the numeric accessors, and every malformed or oversized input it must refuse. */
#include "testutil.h"

#include <string.h>

#include "core/table.h"
#include "medvault/mv_err.h"

static mv_err parse_str(const char *s, size_t cols, mv_table *t)
{
    return mv_table_parse(s, strlen(s), cols, t);
}

static void test_rows_and_comments(void **state)
{
    (void)state;
    mv_table t;
    /* A comment, an empty line, an empty first field and a last line without a newline. */
    assert_int_equal(parse_str("# name\tcode\n\ncardiology\t197361\n\t313782", 2, &t), MV_OK);
    assert_int_equal(t.rows, 2);
    assert_int_equal(t.cols, 2);
    assert_string_equal(mv_table_cell(&t, 0, 0), "cardiology");
    assert_string_equal(mv_table_cell(&t, 0, 1), "197361");
    assert_string_equal(mv_table_cell(&t, 1, 0), "");
    assert_string_equal(mv_table_cell(&t, 1, 1), "313782");
    assert_null(mv_table_cell(&t, 2, 0));
    assert_null(mv_table_cell(&t, 0, 2));
    mv_table_clear(&t);
    mv_table_clear(&t); /* twice is safe */
    assert_int_equal(parse_str("", 1, &t), MV_OK);
    assert_int_equal(t.rows, 0);
    mv_table_clear(&t);
}

static void test_numbers(void **state)
{
    (void)state;
    mv_table t;
    double d = 0;
    unsigned long u = 0;
    assert_int_equal(parse_str("36.1\t5\t-2\t0x10\t inf\t\t7a\t25", 8, &t), MV_OK);
    assert_int_equal(mv_table_double(&t, 0, 0, &d), MV_OK);
    assert_true(d == 36.1); /* strtod rounds as the C literal does: the decoy's bytes depend on it */
    assert_int_equal(mv_table_double(&t, 0, 2, &d), MV_OK);
    assert_true(d == -2.0);
    assert_int_equal(mv_table_double(&t, 0, 3, &d), MV_ERR_PARSE);
    assert_int_equal(mv_table_double(&t, 0, 4, &d), MV_ERR_PARSE);
    assert_int_equal(mv_table_double(&t, 0, 5, &d), MV_ERR_PARSE);
    assert_int_equal(mv_table_double(&t, 0, 6, &d), MV_ERR_PARSE);
    assert_int_equal(mv_table_double(&t, 1, 0, &d), MV_ERR_INVAL);
    assert_int_equal(mv_table_uint(&t, 0, 1, 24, &u), MV_OK);
    assert_int_equal(u, 5);
    assert_int_equal(mv_table_uint(&t, 0, 7, 25, &u), MV_OK);
    assert_int_equal(u, 25);
    assert_int_equal(mv_table_uint(&t, 0, 7, 24, &u), MV_ERR_PARSE); /* above max */
    assert_int_equal(mv_table_uint(&t, 0, 2, 24, &u), MV_ERR_PARSE); /* a sign */
    assert_int_equal(mv_table_uint(&t, 0, 5, 24, &u), MV_ERR_PARSE); /* empty */
    assert_int_equal(mv_table_uint(&t, 0, 6, 99, &u), MV_ERR_PARSE);
    /* A digit above a one-digit max: "5" > 4 and "25" > 6 (the decoy reads decimals with max 6). */
    assert_int_equal(mv_table_uint(&t, 0, 1, 4, &u), MV_ERR_PARSE);
    assert_int_equal(mv_table_uint(&t, 0, 7, 6, &u), MV_ERR_PARSE);
    assert_int_equal(mv_table_uint(&t, 0, 1, 5, &u), MV_OK);
    assert_int_equal(u, 5);
    mv_table_clear(&t);
}

static void test_refused(void **state)
{
    (void)state;
    mv_table t;
    assert_int_equal(parse_str("a\tb\nc\n", 2, &t), MV_ERR_PARSE); /* a short row */
    assert_int_equal(t.rows, 0);
    assert_int_equal(parse_str("a\tb\tc\n", 2, &t), MV_ERR_PARSE); /* a long row */
    assert_int_equal(parse_str("a\tb\r\n", 2, &t), MV_ERR_PARSE);  /* CRLF */
    assert_int_equal(mv_table_parse("a\0b", 3, 1, &t), MV_ERR_PARSE);
    assert_int_equal(parse_str("\xc3\x28", 1, &t), MV_ERR_PARSE); /* malformed UTF-8 */
    assert_int_equal(parse_str("a", 0, &t), MV_ERR_INVAL);
    assert_int_equal(parse_str("a", MV_TABLE_MAX_COLS + 1, &t), MV_ERR_INVAL);
    assert_int_equal(mv_table_parse(NULL, 0, 1, &t), MV_ERR_INVAL);
    assert_int_equal(mv_table_parse("a", 1, 1, NULL), MV_ERR_INVAL);
    assert_int_equal(mv_table_parse("a", MV_TABLE_MAX_BYTES + 1, 1, &t), MV_ERR_TOO_LARGE);
    /* One row more than the cap: MV_TABLE_MAX_ROWS + 1 lines of "x\n". */
    size_t n = (MV_TABLE_MAX_ROWS + 1) * 2;
    char *many = test_malloc(n);
    for (size_t i = 0; i < n; i += 2)
        memcpy(many + i, "x\n", 2);
    assert_int_equal(mv_table_parse(many, n, 1, &t), MV_ERR_TOO_LARGE);
    assert_int_equal(mv_table_parse(many, n - 2, 1, &t), MV_OK);
    assert_int_equal(t.rows, MV_TABLE_MAX_ROWS);
    mv_table_clear(&t);
    test_free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_comments),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
