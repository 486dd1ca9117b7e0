/* ringsig_internal.h - what ringsig.c (sign, verify) and ringsig_open.c (open, judge, proofs
 * of possession and ownership) share: the signature layout, the domain tags and the derived
 * randomness of docs/group-signature.md. Not installed. */
#ifndef MV_RINGSIG_INTERNAL_H
#define MV_RINGSIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_ringsig.h"

#define RS_VERSION 1u
/* Offsets in a signature of a ring with m bits (docs/group-signature.md "Encoding"). */
#define RS_OFF_U 10u
#define RS_OFF_V 42u
#define RS_OFF_A 74u
#define RS_OFF_B 106u
#define RS_OFF_C 138u
#define RS_OFF_D 170u
#define RS_OFF_G 202u
#define RS_OFF_T1(m) (202u + 64u * (size_t)(m))
#define RS_OFF_T2(m) (RS_OFF_T1(m) + 32u)
#define RS_OFF_F(m) (RS_OFF_T1(m) + 64u)
#define RS_OFF_ZA(m) (RS_OFF_F(m) + 32u * (size_t)(m))
#define RS_OFF_ZC(m) (RS_OFF_ZA(m) + 32u)
#define RS_OFF_ZD(m) (RS_OFF_ZA(m) + 64u)
#define RS_OFF_ZR(m) (RS_OFF_ZA(m) + 96u)
#define RS_OFF_ZK(m) (RS_OFF_ZA(m) + 128u)

#define RS_DST_GEN "medvault-ring-v1-generators"
#define RS_DST_CHALLENGE "medvault-ring-v1-challenge"
#define RS_DST_NONCE "medvault-ring-v1-nonce"
#define RS_DST_ENC "medvault-ring-v1-enc"
#define RS_DST_OPEN "medvault-ring-v1-open"
#define RS_DST_POP "medvault-ring-v1-pop"
#define RS_DST_LINK "medvault-ring-v1-link"
#define RS_DST_KEY "medvault ring key v1"

/* The ciphertext randomness of a signature: HashToScalar(sk || roster_hash || SHA-512(msg),
 * RS_DST_ENC). Deterministic so that the signer can later prove she made the signature. */
mv_err rs_enc_randomness(const mv_ring *r, const uint8_t sk[32], const uint8_t *msg, size_t len, uint8_t out[32]);
/* The nonce stream of one signing or proving: key = SHA-512(label || secret || context ||
 * seed32); nonce(tag, j) = HashToScalar(key || tag || u8(j), RS_DST_NONCE). */
typedef struct rs_nonces {
    uint8_t key[64];
} rs_nonces;
void rs_nonces_init(rs_nonces *n, const char *label, const uint8_t *secret, size_t secret_len, const uint8_t *ctx,
                    size_t ctx_len, const uint8_t *seed);
mv_err rs_nonce(const rs_nonces *n, char tag, unsigned j, uint8_t out[32]);
void rs_nonces_wipe(rs_nonces *n);
/* HashToScalar(data[0..len), dst); MV_ERR_CRYPTO if the result is zero. */
mv_err rs_challenge(const uint8_t *data, size_t len, const char *dst, uint8_t out[32]);
/* Checks the header (version, m, epoch) and length of sig for r, and that every element is a
 * valid non-identity encoding and every scalar canonical. MV_ERR_AUTH otherwise. */
mv_err rs_parse_check(const mv_ring *r, const uint8_t *sig, size_t sig_len);
/* out = a*p + b*q (identities allowed). */
mv_err rs_lincomb2(uint8_t out[32], const uint8_t a[32], const uint8_t p[32], const uint8_t b[32],
                   const uint8_t q[32]);

#endif
