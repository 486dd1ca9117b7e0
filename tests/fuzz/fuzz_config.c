/* fuzz_config.c - fuzz target for mv_config_parse.
 *
 * Properties checked (abort on violation): the parser never crashes, leaks or reads past the
 * input; a failure leaves no config and names a line no greater than the input's line count
 * (line 0 only for the size cap); on success every key reported is retrievable, lies on a
 * real line, and the typed getters return only their documented codes. Build and run: see
 * replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_config.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const none[] = {NULL};
    mv_config *cfg = NULL;
    size_t line = 0, lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    mv_err rc = mv_config_parse((const char *)data, size, &cfg, &line);
    if (rc != MV_OK) {
        CHECK(cfg == NULL);
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        if (size > MV_CONFIG_MAX_BYTES)
            CHECK(rc == MV_ERR_TOO_LARGE && line == 0);
        else
            CHECK(line >= 1 && line <= lines);
        return 0;
    }
    CHECK(cfg != NULL);
    /* Walk the keys in file order by allowing everything seen so far (the first 64 keys:
     * the walk is quadratic). */
    size_t n = mv_config_count(cfg);
    CHECK(n <= lines);
    if (n > 64)
        n = 64;
    const char **seen = calloc(n + 1, sizeof *seen);
    CHECK(seen != NULL);
    size_t prev_line = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *bad = NULL;
        mv_err kr = mv_config_check_keys(cfg, i ? seen : none, &bad);
        if (i == n) {
            if (n == mv_config_count(cfg))
                CHECK(kr == MV_OK && bad == NULL);
            break;
        }
        CHECK(kr == MV_ERR_PARSE && bad != NULL);
        size_t kl = strlen(bad), l = mv_config_line(cfg, bad);
        CHECK(kl > 0);
        for (size_t j = 0; j < kl; j++) {
            char c = bad[j];
            CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
        }
        CHECK(l > prev_line && l <= lines);
        prev_line = l;
        const char *v = mv_config_get(cfg, bad);
        CHECK(v != NULL && strlen(v) <= size);
        uint64_t u = 0;
        int b = 0;
        mv_err ur = mv_config_get_u64(cfg, bad, 0, 0, 1000, &u);
        CHECK(ur == MV_OK || ur == MV_ERR_PARSE || ur == MV_ERR_INVAL);
        CHECK(ur != MV_OK || u <= 1000);
        mv_err br = mv_config_get_bool(cfg, bad, 0, &b);
        CHECK(br == MV_ERR_PARSE || (br == MV_OK && (b == 0 || b == 1)));
        seen[i] = bad;
    }
    free(seen);
    mv_config_free(cfg);
    return 0;
}
