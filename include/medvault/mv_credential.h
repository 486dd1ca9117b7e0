/* mv_credential.h - hospital-signed credentials (DESIGN section 3 "Requests").
 *
 * A credential binds a subject's Ed25519 key to a role and departments for a time window,
 * signed by the hospital. It is a pure signed format with no network in it, so it sits in the
 * crypto layer: the key directory (mv_identity.h) checks its own, and the request verifier
 * (mv_auth.h) checks the one each request carries.
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
#ifndef MV_CREDENTIAL_H
#define MV_CREDENTIAL_H

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

/* The roles a credential can carry, as the hospital issues them: people (admin, doctor,
 * patient, also the registry's users) and the services that call each other (a key server in a
 * DKG, a storage server raising alerts). The values are bits, so that a set of roles (those who
 * may call a route) is their OR. A credential holds the role's name (mv_role_name); one whose
 * text is none of these (the format allows any [A-Za-z0-9 _.-]) has MV_ROLE_NONE, which no
 * check accepts. Append only: the bits may be stored. */
typedef enum mv_role {
    MV_ROLE_NONE = 0,
    MV_ROLE_ADMIN = 1,
    MV_ROLE_DOCTOR = 2,
    MV_ROLE_PATIENT = 4,
    MV_ROLE_KEYSERVER = 8,
    MV_ROLE_STORAGE = 16,
} mv_role;

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
MV_API mv_err mv_credential_issue(mv_credential *c, const uint8_t hospital_pk[static 32],
                                  const uint8_t hospital_sk[static 64]) __attribute__((warn_unused_result));

/* Writes the base64 of the binary encoding of c, NUL-terminated, into out[0..out_cap).
 * out_cap >= MV_CRED_B64_MAX + 1 always suffices. Does not check the signature.
 * Errors: MV_ERR_INVAL (NULL, fields as for mv_credential_issue), MV_ERR_TOO_LARGE (out_cap). */
MV_API mv_err mv_credential_encode(const mv_credential *c, char *out, size_t out_cap)
    __attribute__((warn_unused_result));

/* Parses b64[0..len) (untrusted; need not be NUL-terminated) into *out. Only parses: call
 * mv_credential_verify before trusting it. *out is zeroed on failure.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_TOO_LARGE (len > MV_CRED_B64_MAX or decoded size over
 * MV_CRED_BIN_MAX), MV_ERR_PARSE (bad base64, wrong magic, bad lengths or characters,
 * truncated or trailing bytes). */
MV_API mv_err mv_credential_decode(const char *b64, size_t len, mv_credential *out)
    __attribute__((warn_unused_result));

/* Checks that c was issued by hospital_pk and is valid at `now` (unix seconds).
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_AUTH (issuer != hospital_pk, bad signature, or fields
 * that cannot be encoded), MV_ERR_EXPIRED (now >= expires_at, or now + MV_CRED_ISSUE_SKEW <
 * issued_at). Authenticity is checked before the time window. */
MV_API mv_err mv_credential_verify(const mv_credential *c, const uint8_t hospital_pk[static 32], uint64_t now)
    __attribute__((warn_unused_result));

/* The role named s: exactly "admin", "doctor", "patient", "keyserver" or "storage"
 * (case-sensitive, as the signed bytes are); MV_ROLE_NONE for any other text, "" or NULL.
 * s is NUL-terminated and only read. */
MV_API mv_role mv_role_of(const char *s);

/* The name of role, a static string; "" for MV_ROLE_NONE or a value that is not one role
 * (a set of several). mv_role_of(mv_role_name(r)) == r for every single role r. */
MV_API const char *mv_role_name(mv_role role);

/* 1 if c carries role (never for MV_ROLE_NONE, a set of several roles or c NULL), else 0. */
MV_API int mv_credential_has_role(const mv_credential *c, mv_role role);

/* 1 if dept is one of c's departments (exact, case-sensitive), else 0 (also for NULL). */
MV_API int mv_credential_has_department(const mv_credential *c, const char *dept);

#ifdef __cplusplus
}
#endif

#endif
