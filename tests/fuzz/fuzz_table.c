/* fuzz_table.c - fuzz target for mv_table_parse (src/core/table.c).
 *
 * Properties checked (abort on violation): the reader never crashes, leaks or reads past the
 * input; a failure is MV_ERR_PARSE or MV_ERR_TOO_LARGE and leaves an empty table; on success
 * every cell exists, holds no TAB or newline, and the cells' bytes plus one separator each add
 * up to no more than the input. The column count comes from the first byte. Build and run: see
 * replay.c. */
#include <stdint.h>
#include <string.h>

#include "core/table.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_table t;
    if (size < 1)
        return 0;
    size_t cols = 1 + data[0] % MV_TABLE_MAX_COLS;
    mv_err rc = mv_table_parse((const char *)data + 1, size - 1, cols, &t);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(t.rows == 0 && t.text == NULL && t.cells == NULL);
        return 0;
    }
    size_t total = 0;
    CHECK(t.cols == cols);
    for (size_t r = 0; r < t.rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const char *s = mv_table_cell(&t, r, c);
            CHECK(s != NULL);
            CHECK(strpbrk(s, "\t\n") == NULL);
            total += strlen(s) + 1;
        }
    CHECK(total <= size);
    CHECK(mv_table_cell(&t, t.rows, 0) == NULL);
    mv_table_clear(&t);
    return 0;
}
