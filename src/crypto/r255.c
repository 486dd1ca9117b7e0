/* r255.c - ristretto255 over libsodium: only canonical, valid encodings are accepted, and the
 * identity is reported wherever a caller must be able to reject it (RFC 9497 2.1). */
#include "medvault/mv_r255.h"

#include <string.h>

#include <sodium.h>

#include "medvault/mv_mem.h"
#include "medvault/mv_xmd.h"

/* The group order L, little-endian (RFC 9496 4). */
static const uint8_t ORDER_L[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* RFC 9496 4.3.1: an encoding whose integer value is >= p fails to decode. libsodium 1.0.18's
 * canonicity check masks bit 255 and so accepts each element under a second encoding with
 * that bit set (a malleability RFC 9497 DeserializeElement forbids): refuse it here, before
 * every decode. */
static int top_bit_clear(const uint8_t p[32])
{
    return (p[31] & 0x80) == 0;
}

static int valid_point(const uint8_t p[32])
{
    return top_bit_clear(p) && crypto_core_ristretto255_is_valid_point(p);
}

int mv_r255_is_identity(const uint8_t p[static MV_R255_ELEM_BYTES])
{
    return sodium_is_zero(p, MV_R255_ELEM_BYTES);
}

mv_err mv_r255_elem_check(const uint8_t p[static MV_R255_ELEM_BYTES])
{
    if (!valid_point(p))
        return MV_ERR_CRYPTO;
    /* libsodium accepts the identity's encoding as a valid point. */
    if (mv_r255_is_identity(p))
        return MV_ERR_IDENTITY;
    return MV_OK;
}

mv_err mv_r255_hash_to_group(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t *msg, size_t len,
                             const uint8_t *dst, size_t dst_len)
{
    uint8_t u[MV_R255_HASH_BYTES];
    mv_err rc = mv_xmd_sha512(u, sizeof u, msg, len, dst, dst_len);
    if (rc == MV_OK)
        crypto_core_ristretto255_from_hash(out, u);
    else
        memset(out, 0, MV_R255_ELEM_BYTES);
    mv_wipe(u, sizeof u);
    return rc;
}

mv_err mv_r255_hash_to_scalar(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t *msg, size_t len,
                              const uint8_t *dst, size_t dst_len)
{
    uint8_t u[MV_R255_HASH_BYTES];
    mv_err rc = mv_xmd_sha512(u, sizeof u, msg, len, dst, dst_len);
    if (rc == MV_OK)
        crypto_core_ristretto255_scalar_reduce(out, u);
    else
        memset(out, 0, MV_R255_SCALAR_BYTES);
    mv_wipe(u, sizeof u);
    return rc;
}

void mv_r255_scalar_random(uint8_t out[static MV_R255_SCALAR_BYTES])
{
    /* libsodium draws until the value is canonical and non-zero. */
    crypto_core_ristretto255_scalar_random(out);
}

int mv_r255_scalar_is_canonical(const uint8_t s[static MV_R255_SCALAR_BYTES])
{
    /* s < L iff computing s - L borrows out of the top byte. */
    unsigned borrow = 0;
    for (size_t i = 0; i < 32; i++)
        borrow = (((unsigned)s[i] - ORDER_L[i] - borrow) >> 8) & 1u;
    return (int)borrow;
}

int mv_r255_scalar_is_zero(const uint8_t s[static MV_R255_SCALAR_BYTES])
{
    return sodium_is_zero(s, MV_R255_SCALAR_BYTES);
}

mv_err mv_r255_scalar_check(const uint8_t s[static MV_R255_SCALAR_BYTES])
{
    int ok = mv_r255_scalar_is_canonical(s) & !mv_r255_scalar_is_zero(s);
    return ok ? MV_OK : MV_ERR_CRYPTO;
}

void mv_r255_scalar_add(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                        const uint8_t b[static MV_R255_SCALAR_BYTES])
{
    crypto_core_ristretto255_scalar_add(out, a, b);
}

void mv_r255_scalar_sub(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                        const uint8_t b[static MV_R255_SCALAR_BYTES])
{
    crypto_core_ristretto255_scalar_sub(out, a, b);
}

void mv_r255_scalar_mul(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES],
                        const uint8_t b[static MV_R255_SCALAR_BYTES])
{
    crypto_core_ristretto255_scalar_mul(out, a, b);
}

void mv_r255_scalar_neg(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES])
{
    crypto_core_ristretto255_scalar_negate(out, a);
}

mv_err mv_r255_scalar_invert(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t a[static MV_R255_SCALAR_BYTES])
{
    uint8_t t[32];
    mv_err rc = MV_OK;
    if (crypto_core_ristretto255_scalar_invert(t, a) != 0) {
        memset(out, 0, MV_R255_SCALAR_BYTES);
        rc = MV_ERR_CRYPTO;
    } else {
        memcpy(out, t, sizeof t);
    }
    mv_wipe(t, sizeof t);
    return rc;
}

void mv_r255_scalar_reduce64(uint8_t out[static MV_R255_SCALAR_BYTES], const uint8_t wide[static MV_R255_HASH_BYTES])
{
    crypto_core_ristretto255_scalar_reduce(out, wide);
}

void mv_r255_scalar_from_u64(uint8_t out[static MV_R255_SCALAR_BYTES], uint64_t x)
{
    memset(out, 0, MV_R255_SCALAR_BYTES);
    for (size_t i = 0; i < 8; i++)
        out[i] = (uint8_t)(x >> (8 * i));
}

/* s*p into out. libsodium returns -1 both for an invalid p and for an identity result; the
 * validity check runs only on that (rare) path, so the common case costs one decode.
 * The result goes through a local because libsodium stages the scalar in its output
 * buffer, which would clobber p if out aliased it. Returns 0, MV_ERR_CRYPTO or
 * MV_ERR_IDENTITY (out zeroed on either). */
static mv_err smul_raw(uint8_t out[32], const uint8_t s[32], const uint8_t p[32])
{
    uint8_t t[32];
    mv_err rc = MV_OK;
    if (!top_bit_clear(p))
        rc = MV_ERR_CRYPTO;
    else if (crypto_scalarmult_ristretto255(t, s, p) != 0)
        rc = crypto_core_ristretto255_is_valid_point(p) ? MV_ERR_IDENTITY : MV_ERR_CRYPTO;
    if (rc == MV_OK)
        memcpy(out, t, sizeof t);
    else
        memset(out, 0, 32);
    mv_wipe(t, sizeof t);
    return rc;
}

mv_err mv_r255_smul(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES],
                    const uint8_t p[static MV_R255_ELEM_BYTES])
{
    return smul_raw(out, s, p);
}

mv_err mv_r255_smul_any(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES],
                        const uint8_t p[static MV_R255_ELEM_BYTES])
{
    mv_err rc = smul_raw(out, s, p);
    return rc == MV_ERR_IDENTITY ? MV_OK : rc; /* out already holds the identity (zeros) */
}

mv_err mv_r255_smul_base(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES])
{
    uint8_t t[32];
    mv_err rc = MV_OK;
    if (crypto_scalarmult_ristretto255_base(t, s) != 0)
        rc = MV_ERR_IDENTITY;
    if (rc == MV_OK)
        memcpy(out, t, sizeof t);
    else
        memset(out, 0, MV_R255_ELEM_BYTES);
    mv_wipe(t, sizeof t);
    return rc;
}

void mv_r255_smul_base_any(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t s[static MV_R255_SCALAR_BYTES])
{
    /* The only failure is an identity result, which is allowed here (out is then zeros). */
    if (mv_r255_smul_base(out, s) != MV_OK)
        memset(out, 0, MV_R255_ELEM_BYTES);
}

mv_err mv_r255_add(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t p[static MV_R255_ELEM_BYTES],
                   const uint8_t q[static MV_R255_ELEM_BYTES])
{
    /* libsodium decodes both inputs before writing out, so aliasing is safe. */
    if (!top_bit_clear(p) || !top_bit_clear(q) || crypto_core_ristretto255_add(out, p, q) != 0) {
        memset(out, 0, MV_R255_ELEM_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}

mv_err mv_r255_sub(uint8_t out[static MV_R255_ELEM_BYTES], const uint8_t p[static MV_R255_ELEM_BYTES],
                   const uint8_t q[static MV_R255_ELEM_BYTES])
{
    if (!top_bit_clear(p) || !top_bit_clear(q) || crypto_core_ristretto255_sub(out, p, q) != 0) {
        memset(out, 0, MV_R255_ELEM_BYTES);
        return MV_ERR_CRYPTO;
    }
    return MV_OK;
}
