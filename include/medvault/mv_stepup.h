/* mv_stepup.h - step-up grants and device proofs (issue 5, docs/stepup.md).
 *
 * A user whose credential is valid but whose behaviour looks unusual is asked by the primary
 * storage server to "step up": prove a second factor to the hospital, either a signature by a
 * device key an admin registered for the user, or an admin's explicit approval. The hospital
 * then issues a short-lived grant that the client sends on storage requests in the header
 * MV-Step-Up (base64); the storage server checks it with mv_stepup_grant_verify and that its
 * subject is the caller's key.
 *
 * Grant, 117 bytes (integers big-endian):
 *
 *   offset  size  field
 *   0       4     magic "MVS1"
 *   4       32    subject: the user's Ed25519 public key
 *   36      8     issued (u64, unix seconds)
 *   44      8     expires (u64, unix seconds; > issued)
 *   52      1     method (1 device key, 2 admin approval)
 *   53      64    Ed25519 by the hospital over "medvault-stepup-grant-v1" || bytes[0, 53)
 *
 * Device proof: Ed25519(device_sk, "medvault-stepup-v1" || subject(32) || time u64be ||
 * nonce(16)); the hospital accepts it only for a device registered to subject, a time within
 * MV_STEPUP_PROOF_SKEW of its clock and a nonce it has not seen. All functions are pure and
 * thread-safe. */
#ifndef MV_STEPUP_H
#define MV_STEPUP_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_STEPUP_GRANT_BYTES 117
#define MV_STEPUP_GRANT_B64_LEN 156    /* base64 of 117 bytes, without NUL */
#define MV_STEPUP_NONCE_BYTES 16
#define MV_STEPUP_LIFETIME 900         /* default grant lifetime, seconds */
#define MV_STEPUP_PROOF_SKEW 300       /* device proof time window, seconds either side */
#define MV_STEPUP_HEADER "MV-Step-Up"  /* request header (grant) and 401 answer header ("required") */
#define MV_STEPUP_METHOD_DEVICE 1
#define MV_STEPUP_METHOD_ADMIN 2

typedef struct mv_stepup_grant {
    uint8_t subject[32];
    uint64_t issued, expires;
    uint8_t method;
    uint8_t sig[64];
} mv_stepup_grant;

/* Signs g as the hospital: the caller fills subject, issued, expires and method; this sets
 * g->sig. hospital_sk is the 64-byte Ed25519 secret key (seed || pk).
 * Errors: MV_ERR_INVAL (NULL, expires <= issued, method not 1 or 2), MV_ERR_CRYPTO.
 * On error g->sig is zero. */
MV_API mv_err mv_stepup_grant_sign(mv_stepup_grant *g, const uint8_t hospital_sk[static 64])
    __attribute__((warn_unused_result));

/* Writes the 117-byte encoding of g (signature included, not checked) into out.
 * Errors: MV_ERR_INVAL (NULL). */
MV_API mv_err mv_stepup_grant_encode(const mv_stepup_grant *g, uint8_t out[static MV_STEPUP_GRANT_BYTES])
    __attribute__((warn_unused_result));

/* Decodes buf[0..len) (untrusted), verifies the hospital's signature under hospital_pk and
 * that issued <= now < expires. On MV_OK *out (if not NULL) holds the grant; on error it is
 * zeroed. Errors: MV_ERR_INVAL (buf or hospital_pk NULL), MV_ERR_PARSE (length not 117,
 * wrong magic, method not 1 or 2, expires <= issued), MV_ERR_VERIFY (bad signature),
 * MV_ERR_EXPIRED (outside the window; checked after the signature). */
MV_API mv_err mv_stepup_grant_verify(const uint8_t *buf, size_t len, const uint8_t hospital_pk[static 32],
                                     uint64_t now, mv_stepup_grant *out) __attribute__((warn_unused_result));

/* As mv_stepup_grant_verify, for the base64 text b64[0..len) (the MV-Step-Up header value;
 * need not be NUL-terminated). MV_ERR_PARSE also for bad base64 or a length over
 * MV_STEPUP_GRANT_B64_LEN. */
MV_API mv_err mv_stepup_grant_verify_b64(const char *b64, size_t len, const uint8_t hospital_pk[static 32],
                                         uint64_t now, mv_stepup_grant *out) __attribute__((warn_unused_result));

/* Writes the base64 of g's encoding, NUL-terminated, into out[0..out_cap); out_cap >=
 * MV_STEPUP_GRANT_B64_LEN + 1. Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (out_cap). */
MV_API mv_err mv_stepup_grant_encode_b64(const mv_stepup_grant *g, char *out, size_t out_cap)
    __attribute__((warn_unused_result));

/* Device proof: sig = Ed25519(device_sk, "medvault-stepup-v1" || subject || time u64be ||
 * nonce). device_sk is the device's 64-byte Ed25519 secret key; nothing is retained.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_CRYPTO. */
MV_API mv_err mv_stepup_proof_sign(uint8_t sig[static 64], const uint8_t device_sk[static 64],
                                   const uint8_t subject[static 32], uint64_t time,
                                   const uint8_t nonce[static MV_STEPUP_NONCE_BYTES])
    __attribute__((warn_unused_result));

/* Checks a device proof against device_pk. Does not check time or nonce freshness (the
 * hospital does, with its clock and its nonce table). Errors: MV_ERR_INVAL (NULL),
 * MV_ERR_VERIFY (bad signature). */
MV_API mv_err mv_stepup_proof_verify(const uint8_t sig[static 64], const uint8_t device_pk[static 32],
                                     const uint8_t subject[static 32], uint64_t time,
                                     const uint8_t nonce[static MV_STEPUP_NONCE_BYTES])
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
