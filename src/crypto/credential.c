/* credential.c - a credential is accepted only with the hospital's Ed25519 signature over its
 * one canonical encoding, and only inside its validity window. */
#include "medvault/mv_credential.h"
#include "crypto/credential.h"
#include "core/endian.h"

#include <string.h>

#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define CRED_MAGIC "MVC1"
#define CRED_DOMAIN "medvault-cred-v1\n"
#define CRED_DOMAIN_LEN (sizeof CRED_DOMAIN - 1)

static int name_char_ok(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ' ||
           ch == '_' || ch == '.' || ch == '-';
}

/* Length of a valid name stored in a char[cap] (NUL within the array, 1..cap-1 allowed
 * characters), or 0 if invalid. */
static size_t name_len(const char *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n])
        if (!name_char_ok((unsigned char)s[n++]))
            return 0;
    return n < cap ? n : 0;
}


/* Writes the domain separator and every credential byte before the signature into
 * out[0..CRED_DOMAIN_LEN + MV_CRED_BIN_MAX); *n receives the length written.
 * MV_ERR_INVAL if a field cannot be encoded. */
static mv_err cred_signed_part(const mv_credential *c, uint8_t *out, size_t *n)
{
    size_t off = 0, l;
    if (c->n_departments > MV_CRED_MAX_DEPTS)
        return MV_ERR_INVAL;
    memcpy(out, CRED_DOMAIN, CRED_DOMAIN_LEN);
    off = CRED_DOMAIN_LEN;
    memcpy(out + off, CRED_MAGIC, 4);
    off += 4;
    memcpy(out + off, c->subject, 32);
    off += 32;
    memcpy(out + off, c->issuer, 32);
    off += 32;
    mv_be64_put(out + off, c->issued_at);
    off += 8;
    mv_be64_put(out + off, c->expires_at);
    off += 8;
    if ((l = name_len(c->role, sizeof c->role)) == 0)
        return MV_ERR_INVAL;
    out[off++] = (uint8_t)l;
    memcpy(out + off, c->role, l);
    off += l;
    out[off++] = (uint8_t)c->n_departments;
    for (size_t i = 0; i < c->n_departments; i++) {
        if ((l = name_len(c->departments[i], sizeof c->departments[i])) == 0)
            return MV_ERR_INVAL;
        out[off++] = (uint8_t)l;
        memcpy(out + off, c->departments[i], l);
        off += l;
    }
    *n = off;
    return MV_OK;
}

mv_err mv_credential_issue(mv_credential *c, const uint8_t hospital_pk[static 32],
                           const uint8_t hospital_sk[static 64])
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    mv_err rc = MV_ERR_INVAL;
    if (!c || !hospital_pk || !hospital_sk)
        return MV_ERR_INVAL;
    memset(c->signature, 0, sizeof c->signature);
    /* libsodium secret keys end with their public key; refuse a mismatched pair rather than
     * issue a credential nobody can verify. */
    if (!mv_ct_eq(hospital_sk + 32, hospital_pk, 32) || c->expires_at <= c->issued_at)
        goto out;
    memcpy(c->issuer, hospital_pk, 32);
    if ((rc = cred_signed_part(c, buf, &n)) != MV_OK)
        goto out;
    rc = mv_sign(c->signature, buf, n, hospital_sk);
out:
    if (rc != MV_OK && c)
        memset(c->signature, 0, sizeof c->signature);
    return rc;
}

mv_err mv_credential_encode(const mv_credential *c, char *out, size_t out_cap)
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    mv_err rc;
    if (!c || !out)
        return MV_ERR_INVAL;
    if ((rc = cred_signed_part(c, buf, &n)) != MV_OK)
        return rc;
    memcpy(buf + n, c->signature, 64);
    n += 64;
    if (out_cap < MV_B64_LEN(n - CRED_DOMAIN_LEN) + 1)
        return MV_ERR_TOO_LARGE;
    return mv_b64_encode(out, out_cap, buf + CRED_DOMAIN_LEN, n - CRED_DOMAIN_LEN);
}

/* Reads a length-prefixed name from bin[*off..len) into dst (char[cap]). */
static mv_err read_name(const uint8_t *bin, size_t len, size_t *off, char *dst, size_t cap)
{
    if (*off >= len)
        return MV_ERR_PARSE;
    size_t l = bin[(*off)++];
    if (l == 0 || l >= cap || l > len - *off)
        return MV_ERR_PARSE;
    for (size_t i = 0; i < l; i++) {
        if (!name_char_ok(bin[*off + i]))
            return MV_ERR_PARSE;
        dst[i] = (char)bin[*off + i];
    }
    dst[l] = 0;
    *off += l;
    return MV_OK;
}

mv_err mv_credential_decode(const char *b64, size_t len, mv_credential *out)
{
    uint8_t bin[MV_CRED_BIN_MAX];
    size_t n = 0, off = 0;
    mv_err rc;
    if (!out || (len && !b64))
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (len > MV_CRED_B64_MAX)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_b64_decode(bin, sizeof bin, &n, b64, len)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    /* Fixed part (84) + role length + dept count + signature is the least possible. */
    if (n < 84 + 1 + 1 + 64 || memcmp(bin, CRED_MAGIC, 4) != 0)
        goto out;
    off = 4;
    memcpy(out->subject, bin + off, 32);
    off += 32;
    memcpy(out->issuer, bin + off, 32);
    off += 32;
    out->issued_at = mv_be64_get(bin + off);
    off += 8;
    out->expires_at = mv_be64_get(bin + off);
    off += 8;
    if ((rc = read_name(bin, n, &off, out->role, sizeof out->role)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (off >= n || bin[off] > MV_CRED_MAX_DEPTS)
        goto out;
    out->n_departments = bin[off++];
    for (size_t i = 0; i < out->n_departments; i++)
        if ((rc = read_name(bin, n, &off, out->departments[i], sizeof out->departments[i])) != MV_OK)
            goto out;
    rc = MV_ERR_PARSE;
    if (n - off != 64) /* missing or trailing bytes */
        goto out;
    memcpy(out->signature, bin + off, 64);
    rc = MV_OK;
out:
    if (rc != MV_OK)
        memset(out, 0, sizeof *out);
    return rc;
}

/* The hospital's signature on c (MV_ERR_AUTH if it is not there). */
mv_err mv_credential_authentic(const mv_credential *c, const uint8_t hospital_pk[static 32])
{
    uint8_t buf[CRED_DOMAIN_LEN + MV_CRED_BIN_MAX];
    size_t n = 0;
    if (!mv_ct_eq(c->issuer, hospital_pk, 32))
        return MV_ERR_AUTH;
    if (cred_signed_part(c, buf, &n) != MV_OK)
        return MV_ERR_AUTH;
    mv_err rc = mv_sign_verify(c->signature, buf, n, hospital_pk);
    return rc == MV_ERR_VERIFY ? MV_ERR_AUTH : rc;
}

/* c's validity window at now (MV_ERR_EXPIRED outside it). */
mv_err mv_credential_in_window(const mv_credential *c, uint64_t now)
{
    if (now >= c->expires_at)
        return MV_ERR_EXPIRED;
    if (c->issued_at > MV_CRED_ISSUE_SKEW && now < c->issued_at - MV_CRED_ISSUE_SKEW)
        return MV_ERR_EXPIRED;
    return MV_OK;
}

mv_err mv_credential_verify(const mv_credential *c, const uint8_t hospital_pk[static 32], uint64_t now)
{
    mv_err rc;
    if (!c || !hospital_pk)
        return MV_ERR_INVAL;
    if ((rc = mv_credential_authentic(c, hospital_pk)) != MV_OK)
        return rc;
    return mv_credential_in_window(c, now);
}

int mv_credential_has_department(const mv_credential *c, const char *dept)
{
    if (!c || !dept || c->n_departments > MV_CRED_MAX_DEPTS)
        return 0;
    for (size_t i = 0; i < c->n_departments; i++)
        if (strncmp(c->departments[i], dept, sizeof c->departments[i]) == 0 &&
            strlen(dept) < sizeof c->departments[i])
            return 1;
    return 0;
}

mv_role mv_role_of(const char *s)
{
    if (!s)
        return MV_ROLE_NONE;
    return !strcmp(s, "admin")       ? MV_ROLE_ADMIN
           : !strcmp(s, "doctor")    ? MV_ROLE_DOCTOR
           : !strcmp(s, "patient")   ? MV_ROLE_PATIENT
           : !strcmp(s, "keyserver") ? MV_ROLE_KEYSERVER
           : !strcmp(s, "storage")   ? MV_ROLE_STORAGE
                                     : MV_ROLE_NONE;
}

/* A switch without default: -Wswitch-enum names a role added without its name. */
const char *mv_role_name(mv_role role)
{
    switch (role) {
    case MV_ROLE_ADMIN: return "admin";
    case MV_ROLE_DOCTOR: return "doctor";
    case MV_ROLE_PATIENT: return "patient";
    case MV_ROLE_KEYSERVER: return "keyserver";
    case MV_ROLE_STORAGE: return "storage";
    case MV_ROLE_NONE: break;
    }
    return "";
}

int mv_credential_has_role(const mv_credential *c, mv_role role)
{
    /* c->role is NUL-terminated within its array for any decoded or issued credential; the
     * memchr guards one a caller filled by hand. */
    if (!c || role == MV_ROLE_NONE || !memchr(c->role, 0, sizeof c->role))
        return 0;
    return mv_role_of(c->role) == role;
}
