/* fuzz_audit.c - fuzz target for mv_audit_verify_buf (an audit log fetched from a daemon or
 * read from a disk an attacker may have written).
 *
 * A fuzzer cannot forge the chain's hashes or the checkpoints' Ed25519 signatures, so what it
 * reaches is the line parser and the canonical-form check. Properties (abort on violation): no
 * crash, leak or over-read; only documented codes; a valid log has as many lines as newlines
 * and no problem; a failure names a problem at seq == the number of lines that verified; with
 * an expected key different from the log's, a valid log fails at seq 0 with a key mismatch. */
#include <stdint.h>
#include <string.h>

#include "medvault/mv_audit.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mv_audit_report rep;
    mv_err rc = mv_audit_verify_buf(data, size, NULL, &rep);
    CHECK(rc == MV_OK || rc == MV_ERR_VERIFY || rc == MV_ERR_NOMEM || rc == MV_ERR_CRYPTO);
    if (rc == MV_OK) {
        size_t nl = 0;
        for (size_t i = 0; i < size; i++)
            nl += data[i] == '\n';
        CHECK(rep.problem == MV_AUDIT_OK && rep.lines == nl && rep.lines >= 1);
        CHECK(rep.entries + rep.checkpoints + 1 == rep.lines);
        uint8_t other[32];
        memcpy(other, rep.key, 32);
        other[0] ^= 1;
        CHECK(mv_audit_verify_buf(data, size, other, &rep) == MV_ERR_VERIFY);
        CHECK(rep.problem == MV_AUDIT_KEY && rep.bad_seq == 0);
    } else if (rc == MV_ERR_VERIFY) {
        CHECK(rep.problem != MV_AUDIT_OK && rep.bad_seq == rep.lines && rep.reason[0] != 0);
    }
    return 0;
}
