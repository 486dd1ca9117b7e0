/* stepup_grant.c - a step-up grant is trusted only with the hospital's signature over every byte and
 * only inside its validity window; device proofs are domain-separated from every other
 * signature a device or user key makes. */
#include "medvault/mv_stepup.h"

#include <string.h>

#include "core/endian.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define MAGIC "MVS1"
#define GRANT_DOMAIN "medvault-stepup-grant-v1"
#define GRANT_DOMAIN_LEN (sizeof GRANT_DOMAIN - 1)
#define PROOF_DOMAIN "medvault-stepup-v1"
#define PROOF_DOMAIN_LEN (sizeof PROOF_DOMAIN - 1)
#define BODY 53 /* bytes before the signature */

_Static_assert(BODY + 64 == MV_STEPUP_GRANT_BYTES, "grant layout");
_Static_assert(MV_B64_LEN(MV_STEPUP_GRANT_BYTES) == MV_STEPUP_GRANT_B64_LEN, "grant base64 length");

static void body_put(uint8_t out[static BODY], const mv_stepup_grant *g)
{
    memcpy(out, MAGIC, 4);
    memcpy(out + 4, g->subject, 32);
    mv_be64_put(out + 36, g->issued);
    mv_be64_put(out + 44, g->expires);
    out[52] = g->method;
}

static int method_ok(uint8_t m)
{
    return m == MV_STEPUP_METHOD_DEVICE || m == MV_STEPUP_METHOD_ADMIN;
}

mv_err mv_stepup_grant_sign(mv_stepup_grant *g, const uint8_t hospital_sk[static 64])
{
    uint8_t msg[GRANT_DOMAIN_LEN + BODY];
    mv_err rc;
    if (!g)
        return MV_ERR_INVAL;
    memset(g->sig, 0, sizeof g->sig);
    if (!hospital_sk || g->expires <= g->issued || !method_ok(g->method))
        return MV_ERR_INVAL;
    memcpy(msg, GRANT_DOMAIN, GRANT_DOMAIN_LEN);
    body_put(msg + GRANT_DOMAIN_LEN, g);
    rc = mv_sign(g->sig, msg, sizeof msg, hospital_sk);
    if (rc != MV_OK)
        memset(g->sig, 0, sizeof g->sig);
    return rc;
}

mv_err mv_stepup_grant_encode(const mv_stepup_grant *g, uint8_t out[static MV_STEPUP_GRANT_BYTES])
{
    if (!g || !out)
        return MV_ERR_INVAL;
    body_put(out, g);
    memcpy(out + BODY, g->sig, 64);
    return MV_OK;
}

mv_err mv_stepup_grant_encode_b64(const mv_stepup_grant *g, char *out, size_t out_cap)
{
    uint8_t bin[MV_STEPUP_GRANT_BYTES];
    mv_err rc;
    if (!g || !out)
        return MV_ERR_INVAL;
    if (out_cap < MV_STEPUP_GRANT_B64_LEN + 1)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_stepup_grant_encode(g, bin)) != MV_OK)
        return rc;
    return mv_b64_encode(out, out_cap, bin, sizeof bin);
}

mv_err mv_stepup_grant_verify(const uint8_t *buf, size_t len, const uint8_t hospital_pk[static 32], uint64_t now,
                              mv_stepup_grant *out)
{
    uint8_t msg[GRANT_DOMAIN_LEN + BODY];
    mv_stepup_grant g;
    memset(&g, 0, sizeof g);
    if (out)
        memset(out, 0, sizeof *out);
    if (!buf || !hospital_pk)
        return MV_ERR_INVAL;
    if (len != MV_STEPUP_GRANT_BYTES || memcmp(buf, MAGIC, 4) != 0)
        return MV_ERR_PARSE;
    memcpy(g.subject, buf + 4, 32);
    g.issued = mv_be64_get(buf + 36);
    g.expires = mv_be64_get(buf + 44);
    g.method = buf[52];
    memcpy(g.sig, buf + BODY, 64);
    if (!method_ok(g.method) || g.expires <= g.issued)
        return MV_ERR_PARSE;
    memcpy(msg, GRANT_DOMAIN, GRANT_DOMAIN_LEN);
    memcpy(msg + GRANT_DOMAIN_LEN, buf, BODY);
    if (mv_sign_verify(g.sig, msg, sizeof msg, hospital_pk) != MV_OK)
        return MV_ERR_VERIFY;
    if (now < g.issued || now >= g.expires)
        return MV_ERR_EXPIRED;
    if (out)
        *out = g;
    return MV_OK;
}

mv_err mv_stepup_grant_verify_b64(const char *b64, size_t len, const uint8_t hospital_pk[static 32], uint64_t now,
                                  mv_stepup_grant *out)
{
    uint8_t bin[MV_STEPUP_GRANT_BYTES];
    size_t n = 0;
    if (out)
        memset(out, 0, sizeof *out);
    if (!b64 || !hospital_pk)
        return MV_ERR_INVAL;
    if (len > MV_STEPUP_GRANT_B64_LEN || mv_b64_decode(bin, sizeof bin, &n, b64, len) != MV_OK)
        return MV_ERR_PARSE;
    return mv_stepup_grant_verify(bin, n, hospital_pk, now, out);
}

static void proof_msg(uint8_t msg[static PROOF_DOMAIN_LEN + 32 + 8 + MV_STEPUP_NONCE_BYTES],
                      const uint8_t subject[static 32], uint64_t time, const uint8_t nonce[static MV_STEPUP_NONCE_BYTES])
{
    memcpy(msg, PROOF_DOMAIN, PROOF_DOMAIN_LEN);
    memcpy(msg + PROOF_DOMAIN_LEN, subject, 32);
    mv_be64_put(msg + PROOF_DOMAIN_LEN + 32, time);
    memcpy(msg + PROOF_DOMAIN_LEN + 40, nonce, MV_STEPUP_NONCE_BYTES);
}

mv_err mv_stepup_proof_sign(uint8_t sig[static 64], const uint8_t device_sk[static 64], const uint8_t subject[static 32],
                            uint64_t time, const uint8_t nonce[static MV_STEPUP_NONCE_BYTES])
{
    uint8_t msg[PROOF_DOMAIN_LEN + 32 + 8 + MV_STEPUP_NONCE_BYTES];
    if (!sig || !device_sk || !subject || !nonce)
        return MV_ERR_INVAL;
    proof_msg(msg, subject, time, nonce);
    return mv_sign(sig, msg, sizeof msg, device_sk);
}

mv_err mv_stepup_proof_verify(const uint8_t sig[static 64], const uint8_t device_pk[static 32],
                              const uint8_t subject[static 32], uint64_t time,
                              const uint8_t nonce[static MV_STEPUP_NONCE_BYTES])
{
    uint8_t msg[PROOF_DOMAIN_LEN + 32 + 8 + MV_STEPUP_NONCE_BYTES];
    if (!sig || !device_pk || !subject || !nonce)
        return MV_ERR_INVAL;
    proof_msg(msg, subject, time, nonce);
    return mv_sign_verify(sig, msg, sizeof msg, device_pk) == MV_OK ? MV_OK : MV_ERR_VERIFY;
}
