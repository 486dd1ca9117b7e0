/* mv_delegation.h - a patient's delegation to a doctor for one episode (DESIGN.md 5).
 *
 * At the appointment the patient signs a delegation naming the doctor, the appointment (the
 * episode), the department and a validity window. The hospital checks it against its registry
 * (the patient and the doctor are active, the appointment is theirs) and countersigns it. A
 * storage server then accepts a record that names the patient only from the delegated doctor,
 * carrying a delegation that verifies under the hospital key alone.
 *
 * Binary layout "MVD1" (integers big-endian):
 *
 *   offset  size  field
 *   0       4     magic "MVD1"
 *   4       32    patient: the patient's Ed25519 public key
 *   36      32    doctor: the delegated doctor's Ed25519 public key
 *   68      16    appointment: the episode id
 *   84      8     issued_at  (u64, unix seconds)
 *   92      8     expires_at (u64, unix seconds)
 *   100     1     department length d (1..MV_DELEGATION_MAX_DEPT)
 *   101     d     department ([A-Za-z0-9 _.-])
 *   101+d   64    patient_sig:  Ed25519 by patient over "medvault-delegation-v1\n" || bytes[0, 101+d)
 *   165+d   64    hospital_sig: Ed25519 by the hospital over
 *                 "medvault-delegation-hospital-v1\n" || bytes[0, 165+d)
 *
 * The encoding is canonical; decoding rejects anything else. A delegation that only the
 * patient signed has an all-zero hospital_sig (encoded as such) until it is countersigned. */
#ifndef MV_DELEGATION_H
#define MV_DELEGATION_H

#include <stddef.h>
#include <stdint.h>
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_DELEGATION_MAX_DEPT 63
#define MV_DELEGATION_MIN_BYTES (101 + 1 + 128)
#define MV_DELEGATION_MAX_BYTES (101 + MV_DELEGATION_MAX_DEPT + 128)
/* Base64 text of the largest delegation, plus the NUL. */
#define MV_DELEGATION_B64_MAX 400

typedef struct mv_delegation {
    uint8_t patient[32];
    uint8_t doctor[32];
    uint8_t appointment[16];
    uint64_t issued_at;
    uint64_t expires_at;
    char department[MV_DELEGATION_MAX_DEPT + 1]; /* NUL-terminated */
    uint8_t patient_sig[64];
    uint8_t hospital_sig[64];
} mv_delegation;

/* Signs d as the patient: the caller fills patient, doctor, appointment, issued_at,
 * expires_at and department; this sets patient_sig and zeroes hospital_sig.
 * Errors: MV_ERR_INVAL (NULL, patient_sk not the secret key of d->patient, expires_at <=
 * issued_at, department empty, too long or with a character outside [A-Za-z0-9 _.-],
 * patient == doctor), MV_ERR_CRYPTO. On error both signatures are zero. */
MV_API mv_err mv_delegation_sign(mv_delegation *d, const uint8_t patient_sk[static 64])
    __attribute__((warn_unused_result));

/* Checks the patient's signature. Errors: MV_ERR_INVAL (NULL), MV_ERR_AUTH (bad signature
 * or fields that cannot be encoded). */
MV_API mv_err mv_delegation_verify_patient(const mv_delegation *d) __attribute__((warn_unused_result));

/* Countersigns d as the hospital after checking the patient's signature; the registry checks
 * (who may delegate to whom) are the caller's. Errors: MV_ERR_INVAL (NULL, hospital_sk not the
 * secret key of hospital_pk), MV_ERR_AUTH (the patient's signature fails), MV_ERR_CRYPTO. */
MV_API mv_err mv_delegation_countersign(mv_delegation *d, const uint8_t hospital_pk[static 32],
                                        const uint8_t hospital_sk[static 64]) __attribute__((warn_unused_result));

/* Checks both signatures (the hospital's against hospital_pk) and that now is within
 * [issued_at - MV_CRED_ISSUE_SKEW, expires_at). Authenticity is checked first.
 * Errors: MV_ERR_INVAL (NULL), MV_ERR_AUTH, MV_ERR_EXPIRED. */
MV_API mv_err mv_delegation_verify(const mv_delegation *d, const uint8_t hospital_pk[static 32], uint64_t now)
    __attribute__((warn_unused_result));

/* Writes the binary encoding to out[0..cap) and its length to *len (cap >=
 * MV_DELEGATION_MAX_BYTES always suffices). Signatures are copied, not checked.
 * Errors: MV_ERR_INVAL (NULL, fields as for mv_delegation_sign), MV_ERR_TOO_LARGE (cap). */
MV_API mv_err mv_delegation_encode(const mv_delegation *d, uint8_t *out, size_t cap, size_t *len)
    __attribute__((warn_unused_result));

/* Parses in[0..len) (untrusted) into *out; only parses (verify before trusting it). *out is
 * zeroed on failure. Errors: MV_ERR_INVAL (NULL), MV_ERR_PARSE (magic, lengths, characters,
 * trailing bytes). */
MV_API mv_err mv_delegation_decode(const uint8_t *in, size_t len, mv_delegation *out)
    __attribute__((warn_unused_result));

/* Base64 (RFC 4648 section 4, padded) forms of encode and decode, for JSON and headers.
 * out_cap >= MV_DELEGATION_B64_MAX suffices. Errors as above; MV_ERR_PARSE for bad base64,
 * MV_ERR_TOO_LARGE for input longer than any delegation. */
MV_API mv_err mv_delegation_to_b64(const mv_delegation *d, char *out, size_t out_cap)
    __attribute__((warn_unused_result));
MV_API mv_err mv_delegation_from_b64(const char *b64, size_t len, mv_delegation *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
