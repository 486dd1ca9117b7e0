/* pre.c - threshold proxy re-encryption (docs/pre.md sections 2-5): keys, the capsule key
 * encapsulation, kfrags, re-encryption with its Chaum-Pedersen proof, and the recipient's
 * combination of cfrags. Only libsodium's ristretto255 operations are used, through mv_r255. */
#include "medvault/mv_pre.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "medvault/mv_crypto.h"
#include "medvault/mv_hkdf.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_r255.h"

#define DST_PREFIX "medvault-pre-v1-"
#define MAX_HASH_IN 352 /* the cfrag proof's transcript: 11 x 32 bytes */

/* H(name; in): HashToScalar(in, "medvault-pre-v1-" || name); a zero result is an error
 * (every use forbids it). */
static mv_err pre_h(const char *name, const uint8_t *in, size_t len, uint8_t out[32])
{
    char dst[64];
    size_t pl = sizeof DST_PREFIX - 1, nl = strlen(name);
    if (pl + nl > sizeof dst)
        return MV_ERR_INVAL;
    memcpy(dst, DST_PREFIX, pl);
    memcpy(dst + pl, name, nl);
    mv_err rc = mv_r255_hash_to_scalar(out, in, len, (const uint8_t *)dst, pl + nl);
    if (rc == MV_OK && mv_r255_scalar_is_zero(out))
        rc = MV_ERR_CRYPTO;
    return rc;
}

/* ---- the second generator U, computed once ---- */

static uint8_t gen_U[32];
static mv_err gen_U_rc = MV_ERR_CRYPTO;
static pthread_once_t gen_U_once = PTHREAD_ONCE_INIT;

static void gen_U_init(void)
{
    static const char dst[] = "medvault-pre-v1-generator";
    gen_U_rc = mv_r255_hash_to_group(gen_U, (const uint8_t *)"U", 1, (const uint8_t *)dst, sizeof dst - 1);
    if (gen_U_rc == MV_OK && mv_r255_elem_check(gen_U) != MV_OK)
        gen_U_rc = MV_ERR_CRYPTO;
}

static const uint8_t *generator_U(void)
{
    if (mv_crypto_init() != MV_OK)
        return NULL;
    pthread_once(&gen_U_once, gen_U_init);
    return gen_U_rc == MV_OK ? gen_U : NULL;
}

/* ---- keys ---- */

void mv_pre_seed(const uint8_t box_sk[static 32], uint8_t seed[static MV_PRE_SEED_BYTES])
{
    static const char salt[] = "medvault-pre-v1 seed";
    if (mv_hkdf_sha256(seed, MV_PRE_SEED_BYTES, (const uint8_t *)salt, sizeof salt - 1, box_sk, 32, NULL, 0) != MV_OK)
        memset(seed, 0, MV_PRE_SEED_BYTES); /* only on a NULL argument, which [static] excludes */
}

/* sk = H(name; in), pk = sk*G. */
static mv_err derive_key(const char *name, const uint8_t *in, size_t len, uint8_t sk[32], uint8_t pk[32])
{
    mv_err rc = mv_crypto_init();
    if (rc == MV_OK)
        rc = pre_h(name, in, len, sk);
    if (rc == MV_OK)
        rc = mv_r255_smul_base(pk, sk);
    if (rc != MV_OK) {
        mv_wipe(sk, 32);
        memset(pk, 0, 32);
    }
    return rc;
}

mv_err mv_pre_recipient_key(const uint8_t seed[static MV_PRE_SEED_BYTES], uint8_t sk[static 32], uint8_t pk[static 32])
{
    if (!seed || !sk || !pk)
        return MV_ERR_INVAL;
    return derive_key("recipient-key", seed, MV_PRE_SEED_BYTES, sk, pk);
}

mv_err mv_pre_label_key(const uint8_t seed[static MV_PRE_SEED_BYTES], const uint8_t owner_sign_pk[static 32],
                        mv_pre_label_kind kind, const uint8_t label[static 16], uint8_t sk[static 32],
                        uint8_t pk[static 32])
{
    uint8_t in[MV_PRE_SEED_BYTES + 32 + 1 + 16];
    if (!seed || !owner_sign_pk || !label || !sk || !pk ||
        (kind != MV_PRE_LABEL_EPISODE && kind != MV_PRE_LABEL_RECORD))
        return MV_ERR_INVAL;
    memcpy(in, seed, MV_PRE_SEED_BYTES);
    memcpy(in + 32, owner_sign_pk, 32);
    in[64] = (uint8_t)kind;
    memcpy(in + 65, label, 16);
    mv_err rc = derive_key("label-key", in, sizeof in, sk, pk);
    mv_wipe(in, sizeof in);
    return rc;
}

/* ---- the key encapsulation ---- */

static mv_err capsule_h(const uint8_t capsule[MV_PRE_CAPSULE_BYTES], uint8_t h[32])
{
    return pre_h("capsule", capsule, 64, h);
}

/* key = HKDF(salt "medvault-pre-v1 kdf", ikm P, info capsule). */
static mv_err kdf(const uint8_t P[32], const uint8_t capsule[MV_PRE_CAPSULE_BYTES], uint8_t key[MV_PRE_KEY_BYTES])
{
    static const char salt[] = "medvault-pre-v1 kdf";
    return mv_hkdf_sha256(key, MV_PRE_KEY_BYTES, (const uint8_t *)salt, sizeof salt - 1, P, 32, capsule,
                          MV_PRE_CAPSULE_BYTES);
}

mv_err mv_pre_capsule_check(const uint8_t capsule[static MV_PRE_CAPSULE_BYTES])
{
    uint8_t h[32], lhs[32], rhs[32], hE[32];
    if (!capsule)
        return MV_ERR_INVAL;
    if (mv_crypto_init() != MV_OK)
        return MV_ERR_CRYPTO;
    const uint8_t *E = capsule, *V = capsule + 32, *s = capsule + 64;
    if (mv_r255_elem_check(E) != MV_OK || mv_r255_elem_check(V) != MV_OK || !mv_r255_scalar_is_canonical(s) ||
        capsule_h(capsule, h) != MV_OK)
        return MV_ERR_VERIFY;
    mv_r255_smul_base_any(lhs, s);
    if (mv_r255_smul_any(hE, h, E) != MV_OK || mv_r255_add(rhs, V, hE) != MV_OK)
        return MV_ERR_VERIFY;
    return sodium_memcmp(lhs, rhs, 32) == 0 ? MV_OK : MV_ERR_VERIFY;
}

mv_err mv_pre_encapsulate(const uint8_t pk_A[static 32], const uint8_t *rnd, uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                          uint8_t key[static MV_PRE_KEY_BYTES])
{
    uint8_t r[32], u[32], h[32], ru[32], P[32];
    mv_err rc;
    if (!pk_A || !capsule || !key)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (mv_r255_elem_check(pk_A) != MV_OK)
        return MV_ERR_INVAL;
    if (rnd) {
        if ((rc = pre_h("encap-r", rnd, 32, r)) != MV_OK || (rc = pre_h("encap-u", rnd + 32, 32, u)) != MV_OK)
            goto out;
    } else {
        mv_r255_scalar_random(r);
        mv_r255_scalar_random(u);
    }
    if ((rc = mv_r255_smul_base(capsule, r)) != MV_OK || (rc = mv_r255_smul_base(capsule + 32, u)) != MV_OK ||
        (rc = capsule_h(capsule, h)) != MV_OK)
        goto out;
    mv_r255_scalar_mul(capsule + 64, r, h);
    mv_r255_scalar_add(capsule + 64, capsule + 64, u);
    mv_r255_scalar_add(ru, r, u);
    if ((rc = mv_r255_smul(P, ru, pk_A)) != MV_OK)
        goto out;
    rc = kdf(P, capsule, key);
out:
    if (rc != MV_OK) {
        memset(capsule, 0, MV_PRE_CAPSULE_BYTES);
        mv_wipe(key, MV_PRE_KEY_BYTES);
    }
    mv_wipe(r, sizeof r);
    mv_wipe(u, sizeof u);
    mv_wipe(ru, sizeof ru);
    mv_wipe(P, sizeof P);
    return rc;
}

mv_err mv_pre_decapsulate(const uint8_t sk_A[static 32], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                          uint8_t key[static MV_PRE_KEY_BYTES])
{
    uint8_t EV[32], P[32];
    mv_err rc;
    if (!sk_A || !capsule || !key)
        return MV_ERR_INVAL;
    mv_wipe(key, MV_PRE_KEY_BYTES);
    if ((rc = mv_pre_capsule_check(capsule)) != MV_OK)
        return rc;
    if (mv_r255_scalar_check(sk_A) != MV_OK)
        return MV_ERR_INVAL;
    if ((rc = mv_r255_add(EV, capsule, capsule + 32)) == MV_OK && (rc = mv_r255_smul(P, sk_A, EV)) == MV_OK)
        rc = kdf(P, capsule, key);
    if (rc != MV_OK)
        mv_wipe(key, MV_PRE_KEY_BYTES);
    mv_wipe(P, sizeof P);
    return rc;
}

/* The wrap's associated data: "medvault-pre-v1 wrap" | capsule | ref. */
#define WRAP_AD "medvault-pre-v1 wrap"
static size_t wrap_ad(uint8_t ad[sizeof WRAP_AD - 1 + MV_PRE_CAPSULE_BYTES + 16], const uint8_t *capsule,
                      const uint8_t *ref)
{
    memcpy(ad, WRAP_AD, sizeof WRAP_AD - 1);
    memcpy(ad + sizeof WRAP_AD - 1, capsule, MV_PRE_CAPSULE_BYTES);
    memcpy(ad + sizeof WRAP_AD - 1 + MV_PRE_CAPSULE_BYTES, ref, 16);
    return sizeof WRAP_AD - 1 + MV_PRE_CAPSULE_BYTES + 16;
}

mv_err mv_pre_wrap(const uint8_t key[static MV_PRE_KEY_BYTES], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                   const uint8_t ref[static 16], const uint8_t secret[static 32], uint8_t out[static MV_PRE_WRAPPED_BYTES])
{
    static const uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};
    uint8_t ad[sizeof WRAP_AD - 1 + MV_PRE_CAPSULE_BYTES + 16];
    unsigned long long clen = 0;
    if (!key || !capsule || !ref || !secret || !out)
        return MV_ERR_INVAL;
    if (mv_crypto_init() != MV_OK)
        return MV_ERR_CRYPTO;
    size_t adl = wrap_ad(ad, capsule, ref);
    if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, secret, 32, ad, adl, NULL, nonce, key) != 0 ||
        clen != MV_PRE_WRAPPED_BYTES)
        return MV_ERR_CRYPTO;
    return MV_OK;
}

mv_err mv_pre_unwrap(const uint8_t key[static MV_PRE_KEY_BYTES], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                     const uint8_t ref[static 16], const uint8_t wrapped[static MV_PRE_WRAPPED_BYTES],
                     uint8_t secret[static 32])
{
    static const uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES] = {0};
    uint8_t ad[sizeof WRAP_AD - 1 + MV_PRE_CAPSULE_BYTES + 16];
    unsigned long long mlen = 0;
    if (!key || !capsule || !ref || !wrapped || !secret)
        return MV_ERR_INVAL;
    if (mv_crypto_init() != MV_OK)
        return MV_ERR_CRYPTO;
    size_t adl = wrap_ad(ad, capsule, ref);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(secret, &mlen, NULL, wrapped, MV_PRE_WRAPPED_BYTES, ad, adl, nonce,
                                                  key) != 0 ||
        mlen != 32) {
        mv_wipe(secret, 32);
        return MV_ERR_VERIFY;
    }
    return MV_OK;
}

/* ---- re-encryption keys ---- */

/* H(name; p | q | r) of three 32-byte values: d = H("dh"; X_A | B | x_A*B) and
 * D = H("share-secret"; A | B | a*B). */
static mv_err h3(const char *name, const uint8_t p[32], const uint8_t q[32], const uint8_t r[32], uint8_t out[32])
{
    uint8_t in[96];
    memcpy(in, p, 32);
    memcpy(in + 32, q, 32);
    memcpy(in + 64, r, 32);
    mv_err rc = pre_h(name, in, sizeof in, out);
    mv_wipe(in, sizeof in);
    return rc;
}

/* x = H("share-x"; id | D). */
static mv_err share_x(const uint8_t id[32], const uint8_t D[32], uint8_t x[32])
{
    uint8_t in[64];
    memcpy(in, id, 32);
    memcpy(in + 32, D, 32);
    mv_err rc = pre_h("share-x", in, sizeof in, x);
    mv_wipe(in, sizeof in);
    return rc;
}

mv_err mv_pre_kfrags(const uint8_t sk_A[static 32], const uint8_t pk_A[static 32], const uint8_t pk_B[static 32],
                     unsigned t, unsigned n, const uint8_t *rnd, uint8_t X_A[static 32], mv_pre_kfrag *out)
{
    uint8_t seed[33], x_A[32], dh[32], d[32], dinv[32], D[32], aB[32], check[32];
    uint8_t coef[MV_PRE_MAX_FRAGS][32], xs[MV_PRE_MAX_FRAGS][32];
    mv_err rc;
    if (!sk_A || !pk_A || !pk_B || !X_A || !out || t < 1 || t > n || n > MV_PRE_MAX_FRAGS)
        return MV_ERR_INVAL;
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (mv_r255_scalar_check(sk_A) != MV_OK || mv_r255_elem_check(pk_B) != MV_OK || mv_r255_elem_check(pk_A) != MV_OK ||
        sodium_memcmp(pk_A, pk_B, 32) == 0 || mv_r255_smul_base(check, sk_A) != MV_OK ||
        sodium_memcmp(check, pk_A, 32) != 0)
        return MV_ERR_INVAL;
    if (rnd)
        memcpy(seed, rnd, 32);
    else
        randombytes_buf(seed, 32);
    if ((rc = pre_h("kfrag-x", seed, 32, x_A)) != MV_OK || (rc = mv_r255_smul_base(X_A, x_A)) != MV_OK ||
        (rc = mv_r255_smul(dh, x_A, pk_B)) != MV_OK || (rc = h3("dh", X_A, pk_B, dh, d)) != MV_OK ||
        (rc = mv_r255_scalar_invert(dinv, d)) != MV_OK)
        goto out;
    mv_r255_scalar_mul(coef[0], sk_A, dinv);
    for (unsigned j = 1; j < t; j++) {
        seed[32] = (uint8_t)j;
        if ((rc = pre_h("kfrag-coef", seed, 33, coef[j])) != MV_OK)
            goto out;
    }
    if ((rc = mv_r255_smul(aB, sk_A, pk_B)) != MV_OK || (rc = h3("share-secret", pk_A, pk_B, aB, D)) != MV_OK)
        goto out;
    for (unsigned i = 0; i < n; i++) {
        seed[32] = (uint8_t)(i + 1);
        if ((rc = pre_h("kfrag-id", seed, 33, out[i].id)) != MV_OK || (rc = share_x(out[i].id, D, xs[i])) != MV_OK)
            goto out;
        for (unsigned j = 0; j < i; j++)
            if (sodium_memcmp(xs[i], xs[j], 32) == 0) {
                rc = MV_ERR_CRYPTO; /* probability 2^-252 */
                goto out;
            }
        /* rk = f(x) by Horner's rule, constant time in the coefficients. */
        memcpy(out[i].rk, coef[t - 1], 32);
        for (unsigned j = t - 1; j-- > 0;) {
            mv_r255_scalar_mul(out[i].rk, out[i].rk, xs[i]);
            mv_r255_scalar_add(out[i].rk, out[i].rk, coef[j]);
        }
        const uint8_t *U = generator_U();
        if (!U) {
            rc = MV_ERR_CRYPTO;
            goto out;
        }
        if ((rc = mv_r255_smul(out[i].U1, out[i].rk, U)) != MV_OK)
            goto out; /* rk = 0: probability 2^-252 */
    }
out:
    if (rc != MV_OK) {
        mv_wipe(out, sizeof *out * n);
        memset(X_A, 0, 32);
    }
    mv_wipe(seed, sizeof seed);
    mv_wipe(x_A, sizeof x_A);
    mv_wipe(dh, sizeof dh);
    mv_wipe(d, sizeof d);
    mv_wipe(dinv, sizeof dinv);
    mv_wipe(D, sizeof D);
    mv_wipe(aB, sizeof aB);
    mv_wipe(coef, sizeof coef);
    mv_wipe(xs, sizeof xs);
    return rc;
}

mv_err mv_pre_kfrag_check(const mv_pre_kfrag *k)
{
    uint8_t U1[32];
    if (!k)
        return MV_ERR_INVAL;
    const uint8_t *U = generator_U();
    if (!U)
        return MV_ERR_CRYPTO;
    if (mv_r255_scalar_check(k->rk) != MV_OK || mv_r255_elem_check(k->U1) != MV_OK || mv_r255_smul(U1, k->rk, U) != MV_OK)
        return MV_ERR_VERIFY;
    return sodium_memcmp(U1, k->U1, 32) == 0 ? MV_OK : MV_ERR_VERIFY;
}

/* ---- proxies and recipients ---- */

/* c = H("cfrag-proof"; E | E1 | E2 | V | V1 | V2 | U | U1 | U2 | aux | id). */
static mv_err proof_challenge(const uint8_t capsule[MV_PRE_CAPSULE_BYTES], const uint8_t cfrag[MV_PRE_CFRAG_BYTES],
                              const uint8_t U[32], const uint8_t U1[32], const uint8_t aux[32], uint8_t c[32])
{
    uint8_t in[MAX_HASH_IN];
    const uint8_t *parts[11] = {capsule,    cfrag,      cfrag + 96, capsule + 32, cfrag + 32, cfrag + 128,
                                U,          U1,         cfrag + 160, aux,         cfrag + 64};
    for (size_t i = 0; i < 11; i++)
        memcpy(in + 32 * i, parts[i], 32);
    return pre_h("cfrag-proof", in, sizeof in, c);
}

mv_err mv_pre_reencrypt(const mv_pre_kfrag *k, const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                        const uint8_t aux[static 32], const uint8_t *rnd, uint8_t cfrag[static MV_PRE_CFRAG_BYTES])
{
    uint8_t in[32 + 32 + MV_PRE_CAPSULE_BYTES + 32 + 32 + 32], tau[32], c[32];
    mv_err rc;
    if (!k || !capsule || !aux || !cfrag)
        return MV_ERR_INVAL;
    memset(cfrag, 0, MV_PRE_CFRAG_BYTES);
    /* Not the capsule's full check (two scalar multiplications, a third of the work): a proxy
     * re-encrypts only the entries of an owner-signed delegation that mv_pre_delegation_parse
     * accepted, which checked every capsule (docs/pre.md 7.3 makes this a MUST). The elements
     * must decode and not be the identity: the scalar multiplications below refuse the rest. */
    const uint8_t *U = generator_U();
    if (!U)
        return MV_ERR_CRYPTO;
    if (mv_r255_scalar_check(k->rk) != MV_OK)
        return MV_ERR_INVAL;
    if (rnd)
        memcpy(in, rnd, 32);
    else
        randombytes_buf(in, 32);
    /* The nonce covers everything the challenge does, so that even a repeated rnd never
     * gives two proofs with one nonce and different challenges (which would reveal rk). */
    memcpy(in + 32, k->rk, 32);
    memcpy(in + 64, capsule, MV_PRE_CAPSULE_BYTES);
    memcpy(in + 64 + MV_PRE_CAPSULE_BYTES, aux, 32);
    memcpy(in + 96 + MV_PRE_CAPSULE_BYTES, k->id, 32);
    memcpy(in + 128 + MV_PRE_CAPSULE_BYTES, k->U1, 32);
    if ((rc = pre_h("proof-nonce", in, sizeof in, tau)) != MV_OK)
        goto out;
    memcpy(cfrag + 64, k->id, 32);
    if ((rc = mv_r255_smul(cfrag, k->rk, capsule)) != MV_OK || (rc = mv_r255_smul(cfrag + 32, k->rk, capsule + 32)) != MV_OK) {
        rc = MV_ERR_VERIFY;
        goto out;
    }
    if ((rc = mv_r255_smul(cfrag + 96, tau, capsule)) != MV_OK || (rc = mv_r255_smul(cfrag + 128, tau, capsule + 32)) != MV_OK ||
        (rc = mv_r255_smul(cfrag + 160, tau, U)) != MV_OK || (rc = proof_challenge(capsule, cfrag, U, k->U1, aux, c)) != MV_OK)
        goto out;
    mv_r255_scalar_mul(cfrag + 192, c, k->rk);
    mv_r255_scalar_add(cfrag + 192, cfrag + 192, tau);
out:
    if (rc != MV_OK)
        memset(cfrag, 0, MV_PRE_CFRAG_BYTES);
    mv_wipe(in, sizeof in);
    mv_wipe(tau, sizeof tau);
    return rc;
}

/* z*P == R + c*Q ? */
static int dleq_holds(const uint8_t z[32], const uint8_t P[32], const uint8_t R[32], const uint8_t c[32], const uint8_t Q[32])
{
    uint8_t lhs[32], cQ[32], rhs[32];
    if (mv_r255_smul_any(lhs, z, P) != MV_OK || mv_r255_smul_any(cQ, c, Q) != MV_OK || mv_r255_add(rhs, R, cQ) != MV_OK)
        return 0;
    return sodium_memcmp(lhs, rhs, 32) == 0;
}

mv_err mv_pre_cfrag_verify(const uint8_t capsule[static MV_PRE_CAPSULE_BYTES], const uint8_t cfrag[static MV_PRE_CFRAG_BYTES],
                           const uint8_t kfrag_id[static 32], const uint8_t U1[static 32], const uint8_t aux[static 32])
{
    uint8_t c[32];
    if (!capsule || !cfrag || !kfrag_id || !U1 || !aux)
        return MV_ERR_INVAL;
    /* The capsule comes from the owner's signed delegation, whose parse checked it. Every
     * element here is decoded (canonical, valid, or refused) by the scalar multiplications and
     * additions of dleq_holds, so only the identity needs refusing beforehand: seven memcmps
     * instead of seven more decodings (a sixth of the time). */
    const uint8_t *U = generator_U();
    if (!U)
        return MV_ERR_CRYPTO;
    const uint8_t *elems[] = {capsule, capsule + 32, cfrag, cfrag + 32, cfrag + 96, cfrag + 128, cfrag + 160, U1};
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++)
        if (mv_r255_is_identity(elems[i]))
            return MV_ERR_VERIFY;
    if (!mv_r255_scalar_is_canonical(cfrag + 192) ||
        sodium_memcmp(cfrag + 64, kfrag_id, 32) != 0 || proof_challenge(capsule, cfrag, U, U1, aux, c) != MV_OK)
        return MV_ERR_VERIFY;
    const uint8_t *z3 = cfrag + 192;
    if (!dleq_holds(z3, capsule, cfrag + 96, c, cfrag) || !dleq_holds(z3, capsule + 32, cfrag + 128, c, cfrag + 32) ||
        !dleq_holds(z3, U, cfrag + 160, c, U1))
        return MV_ERR_VERIFY;
    return MV_OK;
}

mv_err mv_pre_opener_init(mv_pre_opener *o, const uint8_t sk_B[static 32], const uint8_t pk_B[static 32],
                          const uint8_t pk_A[static 32], const uint8_t X_A[static 32])
{
    uint8_t bA[32], bX[32];
    mv_err rc;
    if (!o || !sk_B || !pk_B || !pk_A || !X_A)
        return MV_ERR_INVAL;
    memset(o, 0, sizeof *o);
    if ((rc = mv_crypto_init()) != MV_OK)
        return rc;
    if (mv_r255_scalar_check(sk_B) != MV_OK || mv_r255_elem_check(pk_A) != MV_OK || mv_r255_elem_check(X_A) != MV_OK ||
        mv_r255_elem_check(pk_B) != MV_OK)
        return MV_ERR_INVAL;
    memcpy(o->pk_A, pk_A, 32);
    if ((rc = mv_r255_smul(bA, sk_B, pk_A)) != MV_OK || (rc = h3("share-secret", pk_A, pk_B, bA, o->D)) != MV_OK ||
        (rc = mv_r255_smul(bX, sk_B, X_A)) != MV_OK || (rc = h3("dh", X_A, pk_B, bX, o->d)) != MV_OK)
        mv_pre_opener_wipe(o);
    mv_wipe(bA, sizeof bA);
    mv_wipe(bX, sizeof bX);
    return rc == MV_ERR_IDENTITY ? MV_ERR_INVAL : rc;
}

void mv_pre_opener_wipe(mv_pre_opener *o)
{
    if (o)
        mv_wipe(o, sizeof *o);
}

mv_err mv_pre_opener_open(const mv_pre_opener *o, const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                          const uint8_t *cfrags, size_t k, uint8_t key[static MV_PRE_KEY_BYTES])
{
    static const uint8_t one[32] = {1};
    uint8_t xs[MV_PRE_MAX_FRAGS][32], num[32], den[32], diff[32], lam[32], h[32];
    uint8_t dE[32] = {0}, dV[32] = {0}, term[32], lhs[32], rhs[32], P[32];
    mv_err rc = MV_OK;
    if (!o || !capsule || !cfrags || !key)
        return MV_ERR_INVAL;
    mv_wipe(key, MV_PRE_KEY_BYTES);
    if (k < 1 || k > MV_PRE_MAX_FRAGS)
        return MV_ERR_VERIFY;
    for (size_t i = 0; i < k; i++) {
        if ((rc = share_x(cfrags + i * MV_PRE_CFRAG_BYTES + 64, o->D, xs[i])) != MV_OK)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (sodium_memcmp(xs[i], xs[j], 32) == 0) {
                rc = MV_ERR_VERIFY; /* the same kfrag twice */
                goto out;
            }
    }
    /* d*E' = sum (d*lambda_i) E1_i and d*V' likewise, lambda_i = prod_{j != i} x_j / (x_j - x_i):
     * folding d into the coefficients saves the two multiplications by d. */
    for (size_t i = 0; i < k; i++) {
        const uint8_t *cf = cfrags + i * MV_PRE_CFRAG_BYTES;
        memcpy(num, o->d, 32);
        memcpy(den, one, 32);
        for (size_t j = 0; j < k; j++) {
            if (j == i)
                continue;
            mv_r255_scalar_mul(num, num, xs[j]);
            mv_r255_scalar_sub(diff, xs[j], xs[i]);
            mv_r255_scalar_mul(den, den, diff);
        }
        if ((rc = mv_r255_scalar_invert(lam, den)) != MV_OK)
            goto out;
        mv_r255_scalar_mul(lam, num, lam);
        if ((rc = mv_r255_smul_any(term, lam, cf)) != MV_OK || (rc = mv_r255_add(dE, dE, term)) != MV_OK ||
            (rc = mv_r255_smul_any(term, lam, cf + 32)) != MV_OK || (rc = mv_r255_add(dV, dV, term)) != MV_OK)
            goto out;
    }
    /* s*A == d*(V' + h*E'): the combination opens this capsule under A (docs/pre.md 5 step 5);
     * it also fails for a capsule that is not well formed. */
    if ((rc = capsule_h(capsule, h)) != MV_OK || (rc = mv_r255_smul_any(lhs, capsule + 64, o->pk_A)) != MV_OK ||
        (rc = mv_r255_smul_any(term, h, dE)) != MV_OK || (rc = mv_r255_add(rhs, dV, term)) != MV_OK)
        goto out;
    if (!mv_r255_scalar_is_canonical(capsule + 64) || sodium_memcmp(lhs, rhs, 32) != 0 || mv_r255_is_identity(dE)) {
        rc = MV_ERR_VERIFY;
        goto out;
    }
    if ((rc = mv_r255_add(P, dE, dV)) != MV_OK)
        goto out;
    if (mv_r255_is_identity(P)) {
        rc = MV_ERR_VERIFY;
        goto out;
    }
    rc = kdf(P, capsule, key);
out:
    if (rc != MV_OK) {
        mv_wipe(key, MV_PRE_KEY_BYTES);
        rc = rc == MV_ERR_NOMEM ? rc : MV_ERR_VERIFY;
    }
    /* Every temporary: term (h*dE), lhs and rhs with the public capsule would give the key. */
    mv_wipe(xs, sizeof xs);
    mv_wipe(P, sizeof P);
    mv_wipe(dE, sizeof dE);
    mv_wipe(dV, sizeof dV);
    mv_wipe(lam, sizeof lam);
    mv_wipe(num, sizeof num);
    mv_wipe(den, sizeof den);
    mv_wipe(diff, sizeof diff);
    mv_wipe(h, sizeof h);
    mv_wipe(term, sizeof term);
    mv_wipe(lhs, sizeof lhs);
    mv_wipe(rhs, sizeof rhs);
    return rc;
}

mv_err mv_pre_decapsulate_frags(const uint8_t sk_B[static 32], const uint8_t pk_B[static 32], const uint8_t pk_A[static 32],
                                const uint8_t X_A[static 32], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                                const uint8_t *cfrags, size_t k, uint8_t key[static MV_PRE_KEY_BYTES])
{
    mv_pre_opener o;
    if (!key)
        return MV_ERR_INVAL;
    mv_wipe(key, MV_PRE_KEY_BYTES);
    mv_err rc = mv_pre_opener_init(&o, sk_B, pk_B, pk_A, X_A);
    if (rc == MV_OK)
        rc = mv_pre_opener_open(&o, capsule, cfrags, k, key);
    mv_pre_opener_wipe(&o);
    return rc;
}
