/* table.c - the tab-separated vocabulary table reader (table.h). Reads only build-time data
 * from data/, but caps and checks its input like any parser, since a malformed table must fail
 * start-up loudly rather than yield a half-read vocabulary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_mem.h"
#include "table.h"
#include "utf8.h"

/* Counts the rows and checks every row has cols fields; a comment or empty line is no row. */
static mv_err count_rows(const char *s, size_t len, size_t cols, size_t *rows)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len, fields = 1;
        if (end > i && s[i] != '#') {
            for (size_t j = i; j < end; j++)
                fields += s[j] == '\t';
            if (fields != cols)
                return MV_ERR_PARSE;
            if (++n > MV_TABLE_MAX_ROWS)
                return MV_ERR_TOO_LARGE;
        }
        i = end + 1;
    }
    *rows = n;
    return MV_OK;
}

mv_err mv_table_parse(const char *text, size_t len, size_t cols, mv_table *out)
{
    mv_err rc = MV_OK;
    size_t rows = 0, c = 0;
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!text || cols < 1 || cols > MV_TABLE_MAX_COLS)
        return MV_ERR_INVAL;
    if (len > MV_TABLE_MAX_BYTES)
        return MV_ERR_TOO_LARGE;
    if (memchr(text, '\r', len) || memchr(text, '\0', len) || !mv_utf8_valid((const unsigned char *)text, len))
        return MV_ERR_PARSE;
    if ((rc = count_rows(text, len, cols, &rows)) != MV_OK)
        goto out;
    if (!(out->text = mv_malloc(len + 1)) || !(out->cells = mv_mallocarray(rows ? rows * cols : 1, sizeof *out->cells))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    memcpy(out->text, text, len);
    out->text[len] = '\0';
    /* Cut every row in place: each TAB and newline becomes the NUL that ends a field. */
    for (size_t i = 0; i < len;) {
        char *line = out->text + i, *nl = memchr(line, '\n', len - i);
        size_t end = nl ? (size_t)(nl - out->text) : len;
        out->text[end] = '\0';
        if (end > i && *line != '#') {
            out->cells[c++] = line;
            for (char *p = line; (p = strchr(p, '\t')) != NULL;) {
                *p++ = '\0';
                out->cells[c++] = p;
            }
        }
        i = end + 1;
    }
    out->rows = rows;
    out->cols = cols;
out:
    if (rc != MV_OK)
        mv_table_clear(out);
    return rc;
}

const char *mv_table_cell(const mv_table *t, size_t row, size_t col)
{
    return t && row < t->rows && col < t->cols ? t->cells[row * t->cols + col] : NULL;
}

mv_err mv_table_double(const mv_table *t, size_t row, size_t col, double *out)
{
    const char *s = mv_table_cell(t, row, col);
    char *end = NULL;
    if (!s || !out)
        return MV_ERR_INVAL;
    /* strtod accepts leading spaces, hex and "inf"; a table holds plain decimals only. */
    if (!*s || strspn(s, "+-0123456789.eE") != strlen(s))
        return MV_ERR_PARSE;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return MV_ERR_PARSE;
    *out = v;
    return MV_OK;
}

mv_err mv_table_uint(const mv_table *t, size_t row, size_t col, unsigned long max, unsigned long *out)
{
    const char *s = mv_table_cell(t, row, col);
    unsigned long v = 0;
    if (!s || !out)
        return MV_ERR_INVAL;
    if (!*s)
        return MV_ERR_PARSE;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return MV_ERR_PARSE;
        /* d > max first: max - d would wrap around and let any value through. */
        unsigned long d = (unsigned long)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return MV_ERR_PARSE;
        v = v * 10 + d;
    }
    *out = v;
    return MV_OK;
}

void mv_table_clear(mv_table *t)
{
    if (!t)
        return;
    mv_free(t->text);
    mv_free((void *)t->cells);
    memset(t, 0, sizeof *t);
}
