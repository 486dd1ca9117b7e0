/* fuzz_fhir_search.c - fuzz target for the local FHIR server's search parameters
 * (mvc_fs_params_parse and mvc_fs_page_url, src/client/fhir_server_bundle.c).
 *
 * Properties checked (abort on violation): the parser never crashes, leaks or reads past the
 * query; on success every value is NUL-terminated within its cap, _count is at most
 * MV_FHIR_SERVER_PAGE_MAX, at most FS_MAX_CMP comparisons per date parameter each of valid
 * characters, and the URL the server writes for the next page reads back as the same
 * parameters (so following a `next` link never changes the search). The first byte chooses
 * history (bit 0) and lenient handling (bit 1); the rest is the query. Build and run: see
 * replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/fhir_server_internal.h"
#include "medvault/mv_mem.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cmp(const struct cmp *c, size_t n)
{
    CHECK(n <= FS_MAX_CMP);
    for (size_t i = 0; i < n; i++) {
        size_t l = strnlen(c[i].v, sizeof c[i].v);
        CHECK(l >= 4 && l < sizeof c[i].v);
        CHECK(strspn(c[i].v, "0123456789-T:.Z") == l);
        CHECK(c[i].op >= OP_EQ && c[i].op <= OP_LE);
    }
}

static int same_cmp(const struct cmp *a, const struct cmp *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].op != b[i].op || strcmp(a[i].v, b[i].v))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct params p, back;
    char why[320];
    mv_buf url;
    if (size < 1 || size > 64 << 10)
        return 0;
    char *qs = mv_malloc(size);
    if (!qs)
        return 0;
    memcpy(qs, data + 1, size - 1);
    qs[size - 1] = 0;
    int history = data[0] & 1, lenient = (data[0] >> 1) & 1;
    if (mvc_fs_params_parse(qs, history, lenient, &p, why, sizeof why) != 0) {
        CHECK(why[0] && strnlen(why, sizeof why) < sizeof why);
        mv_free(qs);
        return 0;
    }
    CHECK(strnlen(p.id, FS_VALUE_MAX) < FS_VALUE_MAX && strnlen(p.patient, FS_VALUE_MAX) < FS_VALUE_MAX);
    CHECK(strnlen(p.code, FS_VALUE_MAX) < FS_VALUE_MAX && strnlen(p.status, FS_VALUE_MAX) < FS_VALUE_MAX);
    CHECK(p.count <= MV_FHIR_SERVER_PAGE_MAX);
    check_cmp(p.updated, p.n_updated);
    check_cmp(p.date, p.n_date);
    CHECK(!history || (!p.id[0] && !p.patient[0] && !p.code[0] && !p.status[0] && !p.n_updated && !p.n_date));
    mv_buf_init(&url, 64 << 10);
    CHECK(mvc_fs_page_url("", "", &p, p.offset, &url) == MV_OK);
    CHECK(mv_buf_puts(&url, "") == MV_OK && url.len > 0 && url.ptr[0] == '?');
    char *again = mv_malloc(url.len);
    CHECK(again != NULL);
    memcpy(again, url.ptr + 1, url.len - 1);
    again[url.len - 1] = 0;
    CHECK(mvc_fs_params_parse(again, history, 0, &back, why, sizeof why) == 0);
    CHECK(!strcmp(p.id, back.id) && !strcmp(p.patient, back.patient) && !strcmp(p.code, back.code) &&
          !strcmp(p.status, back.status));
    CHECK(!p.patient[0] || !strcmp(p.patient_name, back.patient_name));
    CHECK(p.count == back.count && p.offset == back.offset);
    CHECK(p.n_updated == back.n_updated && p.n_date == back.n_date);
    CHECK(same_cmp(p.updated, back.updated, p.n_updated) && same_cmp(p.date, back.date, p.n_date));
    mv_free(again);
    mv_buf_clear(&url);
    mv_free(qs);
    return 0;
}
