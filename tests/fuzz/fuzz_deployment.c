/* fuzz_deployment.c - fuzz target for mv_deployment_parse (the client's deployment file).
 *
 * Properties (abort on violation): parsing never crashes or leaks; it returns only its
 * documented codes; a parsed deployment has 1 <= t <= n <= MV_DEPLOY_MAX_SERVERS with indexes
 * 1..n in order, and writing it out and parsing that gives the identical structure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_deployment.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_deployment a, b;
    mv_err rc = mv_deployment_parse((const char *)data, size, &a);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_VERIFY || rc == MV_ERR_TOO_LARGE || rc == MV_ERR_NOMEM ||
              rc == MV_ERR_INVAL);
        return 0;
    }
    CHECK(a.threshold >= 1 && a.threshold <= a.n_servers && a.n_servers <= MV_DEPLOY_MAX_SERVERS);
    for (size_t i = 0; i < a.n_servers; i++)
        CHECK(a.servers[i].index == i + 1);
    mv_buf out;
    mv_buf_init(&out, 1u << 20);
    CHECK(mv_deployment_write(&a, &out) == MV_OK);
    CHECK(mv_deployment_parse((const char *)out.ptr, out.len, &b) == MV_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    mv_buf_clear(&out);
    return 0;
}
