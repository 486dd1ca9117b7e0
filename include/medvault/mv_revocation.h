/* mv_revocation.h - the hospital's signed revocation list (DESIGN.md 3, issue 4).
 *
 * Credentials are short-lived and renewed from the hospital while the user is active; on top
 * of that the hospital publishes a signed list of the subject keys whose credentials must be
 * refused now (users revoked or suspended). Key servers and storage servers poll it
 * (GET /v1/revocations on the hospital) and refuse any request whose credential subject is on
 * it. The list is public: it names keys, not people. This header is the list's format; the
 * services' poller that fetches it is mv_revocation_poller.h.
 *
 * Binary layout "MVL1" (integers big-endian):
 *
 *   offset  size  field
 *   0       4     magic "MVL1"
 *   4       32    issuer: the hospital's Ed25519 public key
 *   36      8     serial (u64; grows with every change, so an old list never replaces a newer one)
 *   44      8     issued_at (u64, unix seconds)
 *   52      8     next_update (u64, unix seconds; pollers warn when a list is older)
 *   60      4     n (u32, <= MV_REVOCATION_MAX)
 *   64      32n   revoked subject keys, strictly ascending (memcmp order)
 *   64+32n  64    Ed25519 by the issuer over "medvault-revocation-v1\n" || bytes[0, 64+32n)
 */
#ifndef MV_REVOCATION_H
#define MV_REVOCATION_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_REVOCATION_MAX 1000000u

typedef struct mv_revocation_list {
    uint8_t issuer[32];
    uint64_t serial;
    uint64_t issued_at;
    uint64_t next_update;
    size_t n;
    uint8_t *keys; /* n * 32 bytes, ascending; owned (mv_revocation_list_clear frees it) */
} mv_revocation_list;

/* Builds and signs a list of keys[0..n) (32 bytes each, any order, duplicates folded) and
 * appends its encoding to out. Errors: MV_ERR_INVAL (NULL, sk not the secret key of pk,
 * next_update < issued_at), MV_ERR_TOO_LARGE (n > MV_REVOCATION_MAX or out's cap),
 * MV_ERR_NOMEM, MV_ERR_CRYPTO. On error out is unchanged. */
MV_API mv_err mv_revocation_sign(const uint8_t *keys, size_t n, uint64_t serial, uint64_t issued_at,
                                 uint64_t next_update, const uint8_t hospital_pk[static 32],
                                 const uint8_t hospital_sk[static 64], mv_buf *out)
    __attribute__((warn_unused_result));

/* Parses in[0..len) (untrusted) and checks its signature against hospital_pk; fills *out
 * (which the caller clears). On error *out is empty.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_PARSE (magic, lengths, keys not strictly ascending),
 * MV_ERR_TOO_LARGE (n over MV_REVOCATION_MAX), MV_ERR_AUTH (issuer is not hospital_pk, or a
 * bad signature), MV_ERR_NOMEM. */
MV_API mv_err mv_revocation_verify(const uint8_t *in, size_t len, const uint8_t hospital_pk[static 32],
                                   mv_revocation_list *out) __attribute__((warn_unused_result));

/* 1 if pk (32 bytes) is on the list (binary search), else 0 (also for NULL). */
MV_API int mv_revocation_contains(const mv_revocation_list *l, const uint8_t *pk);

/* Frees the keys and zeroes *l (accepts NULL). */
MV_API void mv_revocation_list_clear(mv_revocation_list *l);

#ifdef __cplusplus
}
#endif
#endif
