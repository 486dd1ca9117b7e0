/* fuzz_revocation.c - fuzz target for mv_revocation_verify (the MVL1 list a key server or
 * storage server fetches from the hospital).
 *
 * A fuzzer cannot forge Ed25519 signatures, so each input is checked twice: as given (under
 * the issuer key it names), and re-signed with a fixed test key over its own header and keys,
 * which drives every input that is well-formed apart from its signature through the whole
 * parser. Properties (abort on violation): no crash, leak or over-read; only documented codes;
 * an empty list on failure; a re-signed well-formed list verifies, its fields are the bytes
 * given, and every listed key is found by mv_revocation_contains. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_revocation.h"
#include "medvault/mv_sig.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOMAIN "medvault-revocation-v1\n"
#define DOMAIN_LEN (sizeof DOMAIN - 1)
#define MAX_INPUT ((size_t)1 << 20)

static int list_empty(const mv_revocation_list *l)
{
    const uint8_t *b = (const uint8_t *)l;
    for (size_t i = 0; i < sizeof *l; i++)
        if (b[i])
            return 0;
    return 1;
}

static int code_ok(mv_err rc)
{
    return rc == MV_OK || rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE || rc == MV_ERR_AUTH || rc == MV_ERR_NOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t seed[32] = {0x6d, 0x76, 0x4c, 0x31, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t pk[32], sk[64], zero[32] = {0};
    mv_revocation_list l;
    mv_err rc;

    rc = mv_revocation_verify(data, size, size >= 36 ? data + 4 : zero, &l);
    CHECK(code_ok(rc));
    if (rc != MV_OK)
        CHECK(list_empty(&l));
    mv_revocation_list_clear(&l);

    if (size < 128 || size > MAX_INPUT)
        return 0;
    CHECK(mv_sign_seed_keypair(pk, sk, seed) == MV_OK);
    uint8_t *msg = mv_malloc(DOMAIN_LEN + size);
    CHECK(msg != NULL);
    memcpy(msg, DOMAIN, DOMAIN_LEN);
    memcpy(msg + DOMAIN_LEN, data, size);
    uint8_t *body = msg + DOMAIN_LEN;
    memcpy(body + 4, pk, 32);
    CHECK(mv_sign(body + size - 64, msg, DOMAIN_LEN + size - 64, sk) == MV_OK);
    rc = mv_revocation_verify(body, size, pk, &l);
    CHECK(code_ok(rc));
    if (rc == MV_OK) {
        CHECK(memcmp(body, "MVL1", 4) == 0 && memcmp(l.issuer, pk, 32) == 0);
        CHECK(l.n <= MV_REVOCATION_MAX && size == 64 + 32 * l.n + 64);
        for (size_t i = 0; i < l.n; i++) {
            CHECK(memcmp(l.keys + 32 * i, body + 64 + 32 * i, 32) == 0);
            CHECK(mv_revocation_contains(&l, body + 64 + 32 * i) == 1);
            if (i)
                CHECK(memcmp(l.keys + 32 * (i - 1), l.keys + 32 * i, 32) < 0);
        }
    } else {
        /* Signed by the key it names, only structure can be wrong. */
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE || rc == MV_ERR_NOMEM);
        CHECK(list_empty(&l));
    }
    mv_revocation_list_clear(&l);
    mv_free(msg);
    return 0;
}
