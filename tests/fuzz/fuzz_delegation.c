/* fuzz_delegation.c - fuzz target for mv_delegation_decode and mv_delegation_from_b64 (the
 * MVD1 delegation a storage server receives in a record upload, binary or base64).
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; it returns
 * only its documented codes and a zeroed struct on failure; whatever decodes re-encodes to the
 * identical bytes (the encoding is canonical) and round-trips through base64; verification
 * of a decoded delegation returns only its documented codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_delegation.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_delegation a, b;
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    char b64[MV_DELEGATION_B64_MAX];
    size_t n = 0;

    /* The same bytes read as base64 text. */
    mv_err rc = mv_delegation_from_b64((const char *)data, size, &b);
    CHECK(rc == MV_OK || rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
    if (rc != MV_OK)
        CHECK(all_zero(&b, sizeof b));

    rc = mv_delegation_decode(data, size, &a);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE);
        CHECK(all_zero(&a, sizeof a));
        return 0;
    }
    CHECK(size >= MV_DELEGATION_MIN_BYTES && size <= MV_DELEGATION_MAX_BYTES);
    CHECK(strlen(a.department) >= 1 && strlen(a.department) <= MV_DELEGATION_MAX_DEPT);
    CHECK(a.expires_at > a.issued_at);
    CHECK(mv_delegation_encode(&a, enc, sizeof enc, &n) == MV_OK);
    CHECK(n == size && memcmp(enc, data, size) == 0);
    CHECK(mv_delegation_to_b64(&a, b64, sizeof b64) == MV_OK);
    CHECK(mv_delegation_from_b64(b64, strlen(b64), &b) == MV_OK);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    rc = mv_delegation_verify_patient(&a);
    CHECK(rc == MV_OK || rc == MV_ERR_AUTH);
    rc = mv_delegation_verify(&a, a.doctor, a.issued_at);
    CHECK(rc == MV_OK || rc == MV_ERR_AUTH || rc == MV_ERR_EXPIRED);
    return 0;
}
