/* delegation.c - a doctor may write for a patient only with the patient's own signature on a
 * delegation for that episode, countersigned by the hospital; both are checked before use. */
#include "medvault/mv_delegation.h"

#include <string.h>

#include "core/endian.h"
#include "medvault/mv_auth.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define MAGIC "MVD1"
#define PATIENT_DOMAIN "medvault-delegation-v1\n"
#define HOSPITAL_DOMAIN "medvault-delegation-hospital-v1\n"
#define FIXED 101 /* bytes before the department */

static int dept_char_ok(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' ||
           ch == '_' || ch == '.' || ch == '-';
}

static size_t dept_len(const char *s)
{
    size_t n = 0;
    while (n < sizeof ((mv_delegation *)0)->department && s[n])
        if (!dept_char_ok((unsigned char)s[n++]))
            return 0;
    return n <= MV_DELEGATION_MAX_DEPT ? n : 0;
}


/* Writes every byte of the encoding into out[0..MV_DELEGATION_MAX_BYTES) and returns its
 * length, or 0 if a field cannot be encoded. */
static size_t encode(const mv_delegation *d, uint8_t *out)
{
    size_t dl = dept_len(d->department);
    if (dl == 0 || d->expires_at <= d->issued_at)
        return 0;
    memcpy(out, MAGIC, 4);
    memcpy(out + 4, d->patient, 32);
    memcpy(out + 36, d->doctor, 32);
    memcpy(out + 68, d->appointment, 16);
    mv_be64_put(out + 84, d->issued_at);
    mv_be64_put(out + 92, d->expires_at);
    out[100] = (uint8_t)dl;
    memcpy(out + FIXED, d->department, dl);
    memcpy(out + FIXED + dl, d->patient_sig, 64);
    memcpy(out + FIXED + dl + 64, d->hospital_sig, 64);
    return FIXED + dl + 128;
}

/* domain || bytes[0..n) into msg (room for the longer domain and a whole delegation). */
static size_t signed_msg(uint8_t *msg, const char *domain, const uint8_t *bytes, size_t n)
{
    size_t l = strlen(domain);
    memcpy(msg, domain, l);
    memcpy(msg + l, bytes, n);
    return l + n;
}

#define MSG_MAX (sizeof HOSPITAL_DOMAIN + MV_DELEGATION_MAX_BYTES)

mv_err mv_delegation_sign(mv_delegation *d, const uint8_t patient_sk[static 64])
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[MSG_MAX];
    mv_err rc = MV_ERR_INVAL;
    if (!d || !patient_sk)
        return MV_ERR_INVAL;
    memset(d->patient_sig, 0, 64);
    memset(d->hospital_sig, 0, 64);
    size_t n = encode(d, enc);
    /* An Ed25519 secret key in libsodium's form ends with its public key. */
    if (n == 0 || !mv_ct_eq(patient_sk + 32, d->patient, 32) || !memcmp(d->patient, d->doctor, 32))
        goto out;
    size_t dl = n - FIXED - 128;
    rc = mv_sign(d->patient_sig, msg, signed_msg(msg, PATIENT_DOMAIN, enc, FIXED + dl), patient_sk);
out:
    if (rc != MV_OK)
        memset(d->patient_sig, 0, 64);
    return rc;
}

mv_err mv_delegation_verify_patient(const mv_delegation *d)
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[MSG_MAX];
    if (!d)
        return MV_ERR_INVAL;
    size_t n = encode(d, enc);
    if (n == 0 || !memcmp(d->patient, d->doctor, 32))
        return MV_ERR_AUTH;
    size_t m = signed_msg(msg, PATIENT_DOMAIN, enc, n - 128);
    return mv_sign_verify(d->patient_sig, msg, m, d->patient) == MV_OK ? MV_OK : MV_ERR_AUTH;
}

mv_err mv_delegation_countersign(mv_delegation *d, const uint8_t hospital_pk[static 32],
                                 const uint8_t hospital_sk[static 64])
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[MSG_MAX];
    mv_err rc;
    if (!d || !hospital_pk || !hospital_sk || !mv_ct_eq(hospital_sk + 32, hospital_pk, 32))
        return MV_ERR_INVAL;
    if ((rc = mv_delegation_verify_patient(d)) != MV_OK)
        return rc;
    size_t n = encode(d, enc);
    size_t m = signed_msg(msg, HOSPITAL_DOMAIN, enc, n - 64);
    if ((rc = mv_sign(d->hospital_sig, msg, m, hospital_sk)) != MV_OK)
        memset(d->hospital_sig, 0, 64);
    return rc;
}

mv_err mv_delegation_verify(const mv_delegation *d, const uint8_t hospital_pk[static 32], uint64_t now)
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES], msg[MSG_MAX];
    mv_err rc;
    if (!d || !hospital_pk)
        return MV_ERR_INVAL;
    if ((rc = mv_delegation_verify_patient(d)) != MV_OK)
        return rc;
    size_t n = encode(d, enc);
    size_t m = signed_msg(msg, HOSPITAL_DOMAIN, enc, n - 64);
    if (mv_sign_verify(d->hospital_sig, msg, m, hospital_pk) != MV_OK)
        return MV_ERR_AUTH;
    /* Written without now + skew, which could wrap. */
    if (now >= d->expires_at || (d->issued_at > MV_CRED_ISSUE_SKEW && now < d->issued_at - MV_CRED_ISSUE_SKEW))
        return MV_ERR_EXPIRED;
    return MV_OK;
}

mv_err mv_delegation_encode(const mv_delegation *d, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    if (!d || !out || !len)
        return MV_ERR_INVAL;
    size_t n = encode(d, enc);
    if (n == 0)
        return MV_ERR_INVAL;
    if (cap < n)
        return MV_ERR_TOO_LARGE;
    memcpy(out, enc, n);
    *len = n;
    return MV_OK;
}

mv_err mv_delegation_decode(const uint8_t *in, size_t len, mv_delegation *out)
{
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!in)
        return MV_ERR_INVAL;
    if (len < MV_DELEGATION_MIN_BYTES || len > MV_DELEGATION_MAX_BYTES || memcmp(in, MAGIC, 4) != 0)
        return MV_ERR_PARSE;
    size_t dl = in[100];
    if (dl == 0 || dl > MV_DELEGATION_MAX_DEPT || len != FIXED + dl + 128)
        return MV_ERR_PARSE;
    for (size_t i = 0; i < dl; i++)
        if (!dept_char_ok(in[FIXED + i]))
            return MV_ERR_PARSE;
    memcpy(out->patient, in + 4, 32);
    memcpy(out->doctor, in + 36, 32);
    memcpy(out->appointment, in + 68, 16);
    out->issued_at = mv_be64_get(in + 84);
    out->expires_at = mv_be64_get(in + 92);
    memcpy(out->department, in + FIXED, dl);
    memcpy(out->patient_sig, in + FIXED + dl, 64);
    memcpy(out->hospital_sig, in + FIXED + dl + 64, 64);
    if (out->expires_at <= out->issued_at) {
        memset(out, 0, sizeof *out);
        return MV_ERR_PARSE;
    }
    return MV_OK;
}

mv_err mv_delegation_to_b64(const mv_delegation *d, char *out, size_t out_cap)
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    size_t n = 0;
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    if ((rc = mv_delegation_encode(d, enc, sizeof enc, &n)) != MV_OK)
        return rc;
    if (out_cap < MV_B64_LEN(n) + 1)
        return MV_ERR_TOO_LARGE;
    return mv_b64_encode(out, out_cap, enc, n);
}

mv_err mv_delegation_from_b64(const char *b64, size_t len, mv_delegation *out)
{
    uint8_t enc[MV_DELEGATION_MAX_BYTES];
    size_t n = 0;
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!b64)
        return MV_ERR_INVAL;
    if (len > MV_B64_LEN(MV_DELEGATION_MAX_BYTES))
        return MV_ERR_TOO_LARGE;
    if (mv_b64_decode(enc, sizeof enc, &n, b64, len) != MV_OK)
        return MV_ERR_PARSE;
    return mv_delegation_decode(enc, n, out);
}
