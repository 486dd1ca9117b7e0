/* mv_auth.h - hospital-signed credentials and signed requests (DESIGN section 3 "Requests").
 *
 * A credential binds a subject's Ed25519 key to a role and departments for a time window,
 * signed by the hospital. Every request carries five headers:
 *
 *   MV-Key         lowercase hex of the caller's Ed25519 public key (64 characters)
 *   MV-Date        unix seconds, decimal ASCII without sign or leading zeros
 *   MV-Nonce       lowercase hex of 16 random bytes (32 characters)
 *   MV-Credential  base64 (RFC 4648 section 4, padded) of the binary credential below
 *   MV-Signature   lowercase hex of the Ed25519 signature (128 characters) over
 *                  "medvault-req-v1\n" METHOD "\n" PATH_AND_QUERY "\n" DATE "\n" NONCE "\n"
 *                  hex(SHA-256(body))
 *
 * where DATE and NONCE are the header texts exactly as sent and hex() is lowercase.
 * Verifiers accept either case in hex headers (the signed text is the header as sent).
 *
 * Binary credential layout (all integers big-endian; version "MVC1"):
 *
 *   offset  size  field
 *   0       4     magic "MVC1"
 *   4       32    subject: the holder's Ed25519 public key
 *   36      32    issuer: the hospital's Ed25519 public key
 *   68      8     issued_at  (u64, unix seconds)
 *   76      8     expires_at (u64, unix seconds)
 *   84      1     role length r (1..MV_CRED_MAX_ROLE)
 *   85      r     role bytes
 *   ..      1     department count d (0..MV_CRED_MAX_DEPTS)
 *   then d times: 1 byte length l (1..MV_CRED_MAX_DEPT_LEN) and l bytes
 *   ..      64    Ed25519 signature by issuer over "medvault-cred-v1\n" || every byte above
 *
 * Role and department names use only [A-Za-z0-9 _.-]. The encoding is canonical: one
 * credential has exactly one byte string, and decoding rejects anything else. */
#ifndef MV_AUTH_H
#define MV_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_CRED_MAX_ROLE 31
#define MV_CRED_MAX_DEPTS 16
#define MV_CRED_MAX_DEPT_LEN 63
/* Upper bound on the base64 text of a credential (the largest is 1205 bytes = 1608 chars). */
#define MV_CRED_B64_MAX 4096
/* Largest binary credential: 4+32+32+8+8 + 1+31 + 1+16*(1+63) + 64. */
#define MV_CRED_BIN_MAX 1205
/* A credential may be used this many seconds before its issued_at (issuer clock skew). */
#define MV_CRED_ISSUE_SKEW 300
/* Cap on the path-and-query of a signed request. */
#define MV_AUTH_MAX_PATH 8192
/* Cap on the method of a signed request (an HTTP token of upper-case letters). */
#define MV_AUTH_MAX_METHOD 16

/* 1 if m is a request method as signed requests allow it (1 to MV_AUTH_MAX_METHOD upper-case
 * ASCII letters), else 0 (also for NULL). Shared by the signer, the verifier and the client. */
int mv_auth_method_ok(const char *m);

typedef struct mv_credential {
    uint8_t subject[32];
    uint8_t issuer[32];
    char role[MV_CRED_MAX_ROLE + 1]; /* NUL-terminated */
    size_t n_departments;
    char departments[MV_CRED_MAX_DEPTS][MV_CRED_MAX_DEPT_LEN + 1]; /* each NUL-terminated */
    uint64_t issued_at;
    uint64_t expires_at;
    uint8_t signature[64];
} mv_credential;

/* Signs a credential as the hospital. The caller fills subject, role, n_departments,
 * departments[0..n), issued_at and expires_at; this sets issuer = hospital_pk and signature.
 * Errors: MV_ERR_INVAL (NULL, a role or department empty, too long, not NUL-terminated within
 * its array or with a character outside [A-Za-z0-9 _.-], n_departments > MV_CRED_MAX_DEPTS,
 * expires_at <= issued_at, hospital_sk not the secret key of hospital_pk), MV_ERR_CRYPTO.
 * On error c->signature is zero. */
mv_err mv_credential_issue(mv_credential *c, const uint8_t hospital_pk[static 32],
                           const uint8_t hospital_sk[static 64]) __attribute__((warn_unused_result));

/* Writes the base64 of the binary encoding of c, NUL-terminated, into out[0..out_cap).
 * out_cap >= MV_CRED_B64_MAX + 1 always suffices. Does not check the signature.
 * Errors: MV_ERR_INVAL (NULL, fields as for mv_credential_issue), MV_ERR_TOO_LARGE (out_cap). */
mv_err mv_credential_encode(const mv_credential *c, char *out, size_t out_cap)
    __attribute__((warn_unused_result));

/* Parses b64[0..len) (untrusted; need not be NUL-terminated) into *out. Only parses: call
 * mv_credential_verify before trusting it. *out is zeroed on failure.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (len > MV_CRED_B64_MAX or decoded size over
 * MV_CRED_BIN_MAX), MV_ERR_PARSE (bad base64, wrong magic, bad lengths or characters,
 * truncated or trailing bytes). */
mv_err mv_credential_decode(const char *b64, size_t len, mv_credential *out)
    __attribute__((warn_unused_result));

/* Checks that c was issued by hospital_pk and is valid at `now` (unix seconds).
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_AUTH (issuer != hospital_pk, bad signature, or fields
 * that cannot be encoded), MV_ERR_EXPIRED (now >= expires_at, or now + MV_CRED_ISSUE_SKEW <
 * issued_at). Authenticity is checked before the time window. */
mv_err mv_credential_verify(const mv_credential *c, const uint8_t hospital_pk[static 32], uint64_t now)
    __attribute__((warn_unused_result));

/* 1 if dept is one of c's departments (exact, case-sensitive), else 0 (also for NULL). */
int mv_credential_has_department(const mv_credential *c, const char *dept);

/* The MV-Key, MV-Date, MV-Nonce and MV-Signature header values (NUL-terminated). */
typedef struct mv_signed_headers {
    char key[65];
    char date[21];
    char nonce[33];
    char signature[129];
} mv_signed_headers;

/* Signs a request with a fresh random nonce. method is an upper-case token ("GET"),
 * path_and_query starts with '/' and is printable ASCII without spaces (as sent on the
 * request line), body may be NULL when body_len is 0. sk must be the secret key of pk.
 * Errors: MV_ERR_INVAL (NULL or malformed method/path, path longer than MV_AUTH_MAX_PATH,
 * sk not matching pk), MV_ERR_NOMEM, MV_ERR_CRYPTO. *out is zeroed on failure. */
mv_err mv_auth_sign_request(mv_signed_headers *out, const uint8_t pk[static 32], const uint8_t sk[static 64],
                            const char *method, const char *path_and_query, const uint8_t *body,
                            size_t body_len, uint64_t now) __attribute__((warn_unused_result));

/* A received request: the method and path-and-query from the request line, the body, and
 * the five header values (NUL-terminated; any may be NULL = header missing). Nothing is
 * owned: all pointers are borrowed for the duration of mv_auth_verify. */
typedef struct mv_auth_request {
    const char *method;
    const char *path_and_query;
    const uint8_t *body;
    size_t body_len;
    const char *key;
    const char *date;
    const char *nonce;
    const char *credential;
    const char *signature;
} mv_auth_request;

/* A verifier holds the hospital key and the replay cache. It may be shared by any number of
 * threads (an internal mutex guards the cache; signatures are checked outside it). */
typedef struct mv_auth_verifier mv_auth_verifier;

/* Creates a verifier accepting requests dated within skew_seconds of `now` and remembering
 * up to max_nonces nonces (each for 2 * skew_seconds). The cache is allocated up front
 * (about 80 bytes per nonce). Errors: MV_ERR_INVAL (NULL, max_nonces 0 or > 2^31,
 * skew_seconds 0 or > 1 day), MV_ERR_NOMEM, MV_ERR_CRYPTO. */
mv_err mv_auth_verifier_new(const uint8_t hospital_pk[static 32], uint64_t skew_seconds, size_t max_nonces,
                            mv_auth_verifier **out) __attribute__((warn_unused_result));
/* Frees a verifier (accepts NULL). No call on it may be in progress. */
void mv_auth_verifier_free(mv_auth_verifier *v);

/* Authenticates request r at time now. Checks, in this order:
 *   1. every header present and well-formed, method and path well-formed -> MV_ERR_AUTH
 *   2. the credential decodes (MV_ERR_AUTH) and verifies against the hospital key
 *      (MV_ERR_AUTH, MV_ERR_EXPIRED)
 *   3. MV-Key equals the credential's subject                              -> MV_ERR_AUTH
 *   4. |now - MV-Date| <= skew                                             -> MV_ERR_EXPIRED
 *   5. MV-Signature verifies                                               -> MV_ERR_AUTH
 *   6. the subject is not on the installed revocation list                 -> MV_ERR_AUTH
 *   7. the nonce was not seen for this key within 2 * skew                 -> MV_ERR_REPLAY
 *      (recorded only now, after the signature verified). If the cache is full of unexpired
 *      nonces the request is refused with MV_ERR_BUSY rather than forgetting one.
 * On MV_OK, *out_cred (if not NULL) receives the verified credential; on error it is zeroed.
 * Other errors: MV_ERR_INVAL (v or r NULL, r->body NULL with body_len > 0), MV_ERR_NOMEM,
 * MV_ERR_CRYPTO. Thread-safe. */
mv_err mv_auth_verify(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred)
    __attribute__((warn_unused_result));

/* Why mv_auth_verify_ex refused a request, finer than its mv_err: lets a server tell an
 * attack (no or forged authentication, a revoked or long-expired credential) from an honest
 * client's trouble (a bad clock, a retried request). */
typedef enum mv_auth_failure {
    MV_AUTH_FAIL_NONE = 0,  /* accepted, or refused for a reason below none of which applies
                               (MV_ERR_INVAL, MV_ERR_NOMEM, MV_ERR_CRYPTO, MV_ERR_BUSY) */
    MV_AUTH_FAIL_MISSING,   /* not one MV-* header: an unauthenticated request */
    MV_AUTH_FAIL_MALFORMED, /* some MV-* headers missing or malformed, an undecodable credential */
    MV_AUTH_FAIL_FORGED,    /* a credential not signed by the hospital, MV-Key not its subject,
                               or a bad request signature */
    MV_AUTH_FAIL_EXPIRED,   /* an authentic credential outside its validity window */
    MV_AUTH_FAIL_SKEW,      /* MV-Date outside the allowed skew */
    MV_AUTH_FAIL_REVOKED,   /* a correctly signed request whose subject is revoked */
    MV_AUTH_FAIL_REPLAY,    /* a correctly signed request whose nonce was seen before */
} mv_auth_failure;

/* As mv_auth_verify (same checks, same order, same errors), and *why (required) receives the
 * reason of a refusal (MV_AUTH_FAIL_NONE on MV_OK). Thread-safe. */
mv_err mv_auth_verify_ex(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, mv_credential *out_cred,
                         mv_auth_failure *why) __attribute__((warn_unused_result));

/* As mv_auth_verify, but for a request that proves possession of a key rather than a
 * credential (the hospital's credential renewal, where the registry, not a credential, says
 * who the key belongs to): MV-Credential is ignored (it may be absent or expired), and
 * steps 2, 3 and the revocation check are skipped. On MV_OK the caller's Ed25519 key is
 * copied to key_out. Errors as for mv_auth_verify. */
mv_err mv_auth_verify_key(mv_auth_verifier *v, const mv_auth_request *r, uint64_t now, uint8_t key_out[static 32])
    __attribute__((warn_unused_result));

struct mv_revocation_list;
/* Installs a copy of a verified revocation list (mv_revocation.h): from then on
 * mv_auth_verify refuses (MV_ERR_AUTH, after the signature checks) every credential whose
 * subject is on it. A list with a lower serial than the installed one is refused with
 * MV_ERR_BAD_STATE (a replayed old list must not un-revoke anyone); an equal serial replaces.
 * l is borrowed (copied). Errors: MV_ERR_INVAL (NULL, keys NULL with n > 0, n over
 * MV_REVOCATION_MAX), MV_ERR_AUTH (l->issuer is not this verifier's hospital key),
 * MV_ERR_BAD_STATE, MV_ERR_NOMEM. Thread-safe. */
mv_err mv_auth_verifier_set_revocations(mv_auth_verifier *v, const struct mv_revocation_list *l)
    __attribute__((warn_unused_result));
/* Serial of the installed revocation list (0 = none yet). Thread-safe. */
uint64_t mv_auth_verifier_revocation_serial(mv_auth_verifier *v);

#ifdef __cplusplus
}
#endif
#endif
