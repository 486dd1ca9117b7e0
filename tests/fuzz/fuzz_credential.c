/* fuzz_credential.c - fuzz target for mv_credential_decode (the MV-Credential header).
 *
 * Properties (abort on violation): decoding never crashes, leaks or over-reads; whatever
 * decodes re-encodes to base64 that decodes to the identical credential; verification of a
 * decoded credential against an arbitrary key returns only its documented codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_auth.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_credential a, b;
    char b64[MV_CRED_B64_MAX];
    mv_err rc = mv_credential_decode((const char *)data, size, &a);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE || rc == MV_ERR_INVAL);
        return 0;
    }
    CHECK(a.n_departments <= MV_CRED_MAX_DEPTS);
    CHECK(strlen(a.role) > 0 && strlen(a.role) <= MV_CRED_MAX_ROLE);
    CHECK(mv_credential_encode(&a, b64, sizeof b64) == MV_OK);
    CHECK(mv_credential_decode(b64, strlen(b64), &b) == MV_OK);
    CHECK(memcmp(a.subject, b.subject, 32) == 0 && memcmp(a.issuer, b.issuer, 32) == 0);
    CHECK(strcmp(a.role, b.role) == 0 && a.n_departments == b.n_departments);
    for (size_t i = 0; i < a.n_departments; i++)
        CHECK(strcmp(a.departments[i], b.departments[i]) == 0);
    CHECK(a.issued_at == b.issued_at && a.expires_at == b.expires_at);
    CHECK(memcmp(a.signature, b.signature, 64) == 0);
    rc = mv_credential_verify(&a, a.issuer, a.issued_at);
    CHECK(rc == MV_OK || rc == MV_ERR_AUTH || rc == MV_ERR_EXPIRED);
    return 0;
}
