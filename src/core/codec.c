/* codec.c - hex and base64 over libsodium's constant-time codecs. */
#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"

#include <sodium.h>

mv_err mv_hex_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    if (!out || (n && !in) || n > (SIZE_MAX - 1) / 2 || out_cap < n * 2 + 1)
        return MV_ERR_INVAL;
    sodium_bin2hex(out, out_cap, in, n);
    return MV_OK;
}

mv_err mv_hex_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *hex, size_t hex_len)
{
    size_t got = 0;
    const char *end = NULL;
    if (!out || !out_len || (hex_len && !hex))
        return MV_ERR_INVAL;
    *out_len = 0;
    if (hex_len % 2)
        return MV_ERR_PARSE;
    if (hex_len / 2 > out_cap)
        return MV_ERR_TOO_LARGE;
    if (sodium_hex2bin(out, out_cap, hex, hex_len, NULL, &got, &end) != 0 || end != hex + hex_len ||
        got != hex_len / 2) {
        mv_wipe(out, out_cap);
        return MV_ERR_PARSE;
    }
    *out_len = got;
    return MV_OK;
}

int mv_is_lower_hex(const char *s, size_t n)
{
    if (!s || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0; /* also stops at a NUL before n */
    return s[n] == 0;
}

mv_err mv_hex_decode_exact(uint8_t *out, size_t n, const char *hex, size_t hex_len)
{
    size_t got = 0;
    if (hex_len != n * 2)
        return MV_ERR_PARSE;
    mv_err rc = mv_hex_decode(out, n, &got, hex, hex_len);
    if (rc == MV_OK && got != n) {
        mv_wipe(out, n);
        rc = MV_ERR_PARSE;
    }
    return rc;
}

mv_err mv_b64_encode(char *out, size_t out_cap, const uint8_t *in, size_t n)
{
    if (!out || (n && !in) || out_cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL))
        return MV_ERR_INVAL;
    sodium_bin2base64(out, out_cap, in, n, sodium_base64_VARIANT_ORIGINAL);
    return MV_OK;
}

mv_err mv_b64_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *b64, size_t b64_len)
{
    size_t got = 0;
    const char *end = NULL;
    if (!out || !out_len || (b64_len && !b64))
        return MV_ERR_INVAL;
    *out_len = 0;
    if (b64_len % 4)
        return MV_ERR_PARSE;
    if (b64_len / 4 * 3 > out_cap + 2)
        return MV_ERR_TOO_LARGE;
    if (sodium_base642bin(out, out_cap, b64, b64_len, NULL, &got, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + b64_len) {
        mv_wipe(out, out_cap);
        return MV_ERR_PARSE;
    }
    *out_len = got;
    return MV_OK;
}

size_t mv_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

int mv_varint_get(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; *pos < n && shift < 64; shift += 7) {
        uint8_t b = p[(*pos)++];
        if (shift == 63 && b > 1)
            return 0;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift > 0 && b == 0)
                return 0;
            *v = x;
            return 1;
        }
    }
    return 0;
}
