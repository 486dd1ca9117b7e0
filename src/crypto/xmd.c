/* xmd.c - expand_message_xmd(SHA-512), RFC 9380 5.3.1: output is a random oracle of (msg, DST),
 * with DST separating every use. */
#include "medvault/mv_xmd.h"

#include <string.h>

#include "medvault/mv_hash.h"
#include "medvault/mv_mem.h"

/* SHA-512: b_in_bytes = 64, s_in_bytes (input block size) = 128 (RFC 9380 5.3.1). */
#define XMD_B 64u
#define XMD_S 128u

static mv_err hash_parts(uint8_t out[MV_SHA512_BYTES], const mv_xmd_part *parts, size_t nparts)
{
    mv_sha512_ctx *c = NULL;
    mv_err rc = mv_sha512_new(&c);
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].len == 0)
            continue;
        if ((rc = mv_sha512_update(c, parts[i].ptr, parts[i].len)) != MV_OK) {
            mv_sha512_free(c);
            return rc;
        }
    }
    return mv_sha512_final(c, out);
}

mv_err mv_xmd_sha512_parts(uint8_t *out, size_t out_len, const mv_xmd_part *parts, size_t nparts,
                           const uint8_t *dst, size_t dst_len)
{
    static const uint8_t z_pad[XMD_S] = {0};
    uint8_t b0[MV_SHA512_BYTES], bi[MV_SHA512_BYTES], x[MV_SHA512_BYTES];
    uint8_t lib[3], dlen, idx;
    mv_err rc = MV_OK;

    if (!out || out_len == 0 || out_len > MV_XMD_MAX_OUT || dst_len > MV_XMD_MAX_DST ||
        (!dst && dst_len) || (!parts && nparts)) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        if (!parts[i].ptr && parts[i].len) {
            rc = MV_ERR_INVAL;
            goto out;
        }
    }
    size_t ell = (out_len + XMD_B - 1) / XMD_B;
    dlen = (uint8_t)dst_len;
    lib[0] = (uint8_t)(out_len >> 8);
    lib[1] = (uint8_t)out_len;
    lib[2] = 0;

    /* b_0 = H(Z_pad || msg || I2OSP(len_in_bytes, 2) || I2OSP(0, 1) || DST_prime). Hash the
     * parts in one stream: the caller's parts, then the suffix. */
    {
        mv_sha512_ctx *c = NULL;
        if ((rc = mv_sha512_new(&c)) != MV_OK)
            goto out;
        rc = mv_sha512_update(c, z_pad, sizeof z_pad);
        for (size_t i = 0; rc == MV_OK && i < nparts; i++)
            if (parts[i].len)
                rc = mv_sha512_update(c, parts[i].ptr, parts[i].len);
        if (rc == MV_OK)
            rc = mv_sha512_update(c, lib, sizeof lib);
        if (rc == MV_OK && dst_len)
            rc = mv_sha512_update(c, dst, dst_len);
        if (rc == MV_OK)
            rc = mv_sha512_update(c, &dlen, 1);
        if (rc != MV_OK) {
            mv_sha512_free(c);
            goto out;
        }
        if ((rc = mv_sha512_final(c, b0)) != MV_OK)
            goto out;
    }

    /* b_1 = H(b_0 || 1 || DST_prime); b_i = H((b_0 xor b_{i-1}) || i || DST_prime). */
    memcpy(x, b0, sizeof x);
    for (size_t i = 1; i <= ell; i++) {
        idx = (uint8_t)i;
        if (i > 1)
            for (size_t j = 0; j < sizeof x; j++)
                x[j] = (uint8_t)(b0[j] ^ bi[j]);
        mv_xmd_part p[4] = {{x, sizeof x}, {&idx, 1}, {dst, dst_len}, {&dlen, 1}};
        if ((rc = hash_parts(bi, p, 4)) != MV_OK)
            goto out;
        size_t off = (i - 1) * XMD_B, take = out_len - off < XMD_B ? out_len - off : XMD_B;
        memcpy(out + off, bi, take);
    }

out:
    if (rc != MV_OK && out && out_len && out_len <= MV_XMD_MAX_OUT)
        mv_wipe(out, out_len);
    mv_wipe(b0, sizeof b0);
    mv_wipe(bi, sizeof bi);
    mv_wipe(x, sizeof x);
    return rc;
}

mv_err mv_xmd_sha512(uint8_t *out, size_t out_len, const uint8_t *msg, size_t msg_len,
                     const uint8_t *dst, size_t dst_len)
{
    if (!msg && msg_len) {
        if (out && out_len && out_len <= MV_XMD_MAX_OUT)
            mv_wipe(out, out_len);
        return MV_ERR_INVAL;
    }
    mv_xmd_part p = {msg, msg_len};
    return mv_xmd_sha512_parts(out, out_len, &p, 1, dst, dst_len);
}
