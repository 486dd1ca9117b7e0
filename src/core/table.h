/* table.h - a reader for the tab-separated vocabulary tables in data/ (the gen-emr formulary,
 * the decoy's frozen v1 vocabulary): one reader for every table, so the tables can differ while
 * the code that reads them does not. (internal)
 *
 * Format: UTF-8 text, one row per line ("\n"; the last line may lack it), fields separated by
 * one TAB, every row with exactly the number of fields the caller expects. Empty lines and
 * lines whose first byte is '#' are comments. No quoting or escapes: a field holds no TAB or
 * newline, and an empty field is an empty string. CR and NUL bytes are rejected. */
#ifndef MV_CORE_TABLE_H
#define MV_CORE_TABLE_H

#include <stddef.h>

#include "medvault/mv_err.h"

/* Hard caps: the largest table in data/ is a few kilobytes. */
#define MV_TABLE_MAX_BYTES (256u * 1024u)
#define MV_TABLE_MAX_ROWS 4096u
#define MV_TABLE_MAX_COLS 16u

/* A parsed table; caller-owned struct (mv_table_parse fills it, mv_table_clear frees it). */
typedef struct mv_table {
    char *text;         /* the table's bytes with every field NUL-terminated (owned) */
    const char **cells; /* rows * cols pointers into text, row by row (owned) */
    size_t rows, cols;
} mv_table;

/* Parses text[0..len) into *out as rows of exactly cols fields (1 <= cols <= MV_TABLE_MAX_COLS).
 * text is copied; it need not be NUL-terminated and may be freed afterwards. On error *out is
 * left empty (rows 0; mv_table_clear is still safe).
 * Errors: MV_ERR_INVAL (NULL text or out, cols out of range), MV_ERR_TOO_LARGE (len over
 * MV_TABLE_MAX_BYTES, more than MV_TABLE_MAX_ROWS rows), MV_ERR_PARSE (a row with another
 * number of fields, a CR or NUL byte, malformed UTF-8), MV_ERR_NOMEM. */
mv_err mv_table_parse(const char *text, size_t len, size_t cols, mv_table *out) __attribute__((warn_unused_result));

/* The field (row, col) of t, NUL-terminated and owned by t; NULL if out of range. */
const char *mv_table_cell(const mv_table *t, size_t row, size_t col);

/* Field (row, col) as a finite decimal number ("36.1", "5", "-2"; strtod's rounding, the same
 * as a C literal's). Errors: MV_ERR_INVAL (out of range), MV_ERR_PARSE (empty, trailing bytes,
 * not finite). */
mv_err mv_table_double(const mv_table *t, size_t row, size_t col, double *out) __attribute__((warn_unused_result));

/* Field (row, col) as a decimal integer 0..max (digits only, no sign or spaces).
 * Errors: MV_ERR_INVAL (out of range), MV_ERR_PARSE (not digits, or above max). */
mv_err mv_table_uint(const mv_table *t, size_t row, size_t col, unsigned long max, unsigned long *out)
    __attribute__((warn_unused_result));

/* Frees what t owns and empties it; t may be NULL or already clear. */
void mv_table_clear(mv_table *t);

#endif
