/* revocation.c - a revocation list is trusted only with the hospital's signature over every
 * byte, and carries a serial so a replayed older list never un-revokes anyone. The codec only:
 * the services' poller that fetches lists is revocation_poller.c. */
#include "medvault/mv_revocation.h"

#include <stdlib.h>
#include <string.h>

#include "core/endian.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_sig.h"

#define MAGIC "MVL1"
#define DOMAIN "medvault-revocation-v1\n"
#define DOMAIN_LEN (sizeof DOMAIN - 1)
#define HEADER 64


static int key_cmp(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

mv_err mv_revocation_sign(const uint8_t *keys, size_t n, uint64_t serial, uint64_t issued_at, uint64_t next_update,
                          const uint8_t hospital_pk[static 32], const uint8_t hospital_sk[static 64], mv_buf *out)
{
    uint8_t *msg = NULL;
    mv_err rc = MV_ERR_INVAL;
    if (!hospital_pk || !hospital_sk || !out || (n && !keys) || next_update < issued_at ||
        !mv_ct_eq(hospital_sk + 32, hospital_pk, 32))
        return MV_ERR_INVAL;
    if (n > MV_REVOCATION_MAX)
        return MV_ERR_TOO_LARGE;
    msg = mv_malloc(DOMAIN_LEN + HEADER + 32 * n + 64);
    if (!msg)
        return MV_ERR_NOMEM;
    uint8_t *body = msg + DOMAIN_LEN, *k = body + HEADER;
    if (n)
        memcpy(k, keys, 32 * n);
    qsort(k, n, 32, key_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || memcmp(k + 32 * (m - 1), k + 32 * i, 32) != 0)
            memmove(k + 32 * m++, k + 32 * i, 32);
    memcpy(msg, DOMAIN, DOMAIN_LEN);
    memcpy(body, MAGIC, 4);
    memcpy(body + 4, hospital_pk, 32);
    mv_be64_put(body + 36, serial);
    mv_be64_put(body + 44, issued_at);
    mv_be64_put(body + 52, next_update);
    body[60] = (uint8_t)(m >> 24);
    body[61] = (uint8_t)(m >> 16);
    body[62] = (uint8_t)(m >> 8);
    body[63] = (uint8_t)m;
    size_t blen = HEADER + 32 * m;
    if ((rc = mv_sign(body + blen, msg, DOMAIN_LEN + blen, hospital_sk)) != MV_OK)
        goto out;
    rc = mv_buf_append(out, body, blen + 64);
out:
    mv_free(msg);
    return rc;
}

mv_err mv_revocation_verify(const uint8_t *in, size_t len, const uint8_t hospital_pk[static 32],
                            mv_revocation_list *out)
{
    uint8_t *msg = NULL;
    mv_err rc;
    if (!out)
        return MV_ERR_INVAL;
    memset(out, 0, sizeof *out);
    if (!in || !hospital_pk)
        return MV_ERR_INVAL;
    if (len < HEADER + 64 || memcmp(in, MAGIC, 4) != 0)
        return MV_ERR_PARSE;
    uint32_t n = (uint32_t)in[60] << 24 | (uint32_t)in[61] << 16 | (uint32_t)in[62] << 8 | in[63];
    if (n > MV_REVOCATION_MAX)
        return MV_ERR_TOO_LARGE;
    if (len != HEADER + 32 * (size_t)n + 64)
        return MV_ERR_PARSE;
    const uint8_t *k = in + HEADER;
    for (size_t i = 1; i < n; i++)
        if (memcmp(k + 32 * (i - 1), k + 32 * i, 32) >= 0)
            return MV_ERR_PARSE;
    if (!mv_ct_eq(in + 4, hospital_pk, 32))
        return MV_ERR_AUTH;
    size_t blen = HEADER + 32 * (size_t)n;
    if (!(msg = mv_malloc(DOMAIN_LEN + blen)))
        return MV_ERR_NOMEM;
    memcpy(msg, DOMAIN, DOMAIN_LEN);
    memcpy(msg + DOMAIN_LEN, in, blen);
    rc = mv_sign_verify(in + blen, msg, DOMAIN_LEN + blen, hospital_pk) == MV_OK ? MV_OK : MV_ERR_AUTH;
    mv_free(msg);
    if (rc != MV_OK)
        return rc;
    if (n && !(out->keys = mv_malloc(32 * (size_t)n)))
        return MV_ERR_NOMEM;
    if (n)
        memcpy(out->keys, k, 32 * (size_t)n);
    memcpy(out->issuer, in + 4, 32);
    out->serial = mv_be64_get(in + 36);
    out->issued_at = mv_be64_get(in + 44);
    out->next_update = mv_be64_get(in + 52);
    out->n = n;
    return MV_OK;
}

int mv_revocation_contains(const mv_revocation_list *l, const uint8_t *pk)
{
    if (!l || !pk || !l->n)
        return 0;
    return bsearch(pk, l->keys, l->n, 32, key_cmp) != NULL;
}

void mv_revocation_list_clear(mv_revocation_list *l)
{
    if (!l)
        return;
    mv_free(l->keys);
    memset(l, 0, sizeof *l);
}
