/* mv_pre.h - threshold proxy re-encryption for sharing through two clouds (issue 16).
 *
 * An Umbral-style key encapsulation (Nunez, "Umbral: a threshold proxy re-encryption scheme",
 * NuCypher) over ristretto255 with libsodium's operations only:
 *   - a *capsule* (E, V, s) encapsulates a 32-byte key under a delegating public key A;
 *   - the owner of A splits a re-encryption key for a recipient B into n *kfrags*, any t of
 *     which suffice (Shamir over the scalars, evaluated at points only A and B can compute);
 *   - a proxy holding a kfrag turns a capsule into a *cfrag* (E^rk, V^rk) with a Chaum-Pedersen
 *     proof that it used the rk committed to in the owner's signed delegation;
 *   - the recipient verifies t cfrags, combines them and decapsulates with her own secret key.
 * Fewer than t cfrags reveal nothing of the key; the proxies never see a usable key.
 *
 * A is never an owner's long-term key: it is derived per *label* (an episode or one record)
 * from a seed only the owner holds (mv_pre_label_key), so a recipient colluding with t proxies
 * learns at most that label's key, which opens only what was delegated to her anyway.
 *
 * The delegation (mv_pre_delegation, "MVPD") is what the owner signs and gives to every proxy:
 * the label, A, the recipient and her key B, the policy (role and department her hospital
 * credential must name), the validity window, the kfrags' public commitments, and the capsules
 * of the label's keys. Each proxy also gets its own kfrag, sealed to its X25519 key ("MVKF").
 *
 * docs/pre.md is the byte-level specification (generators, hash-to-scalar with domain tags,
 * encodings, the proof transcript) and tests/vectors/pre.json its known-answer vectors.
 * Scalars are 32-byte little-endian canonical; elements are 32-byte canonical ristretto255
 * encodings, never the identity. All functions are thread-safe and wipe their secrets. */
#ifndef MV_PRE_H
#define MV_PRE_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_PRE_SEED_BYTES 32
#define MV_PRE_KEY_BYTES 32 /* the encapsulated key */
#define MV_PRE_CAPSULE_BYTES 96u /* E | V | s */
/* E1 | V1 | kfrag id | E2 | V2 | U2 | z3 */
#define MV_PRE_CFRAG_BYTES 224u
#define MV_PRE_MAX_FRAGS 16u /* n, the number of kfrags (proxies) */
/* A 32-byte key wrapped under the capsule's key: ChaCha20-Poly1305, 32 + 16. */
#define MV_PRE_WRAPPED_BYTES 48u
/* The randomness mv_pre_encapsulate draws (r, u) when the caller gives it (tests, vectors). */
#define MV_PRE_ENCAP_RND_BYTES 64u

/* ---- keys ---- */

/* The owner's (and recipient's) re-encryption seed, derived from the identity's X25519 secret
 * key: HKDF-SHA-256(salt "medvault-pre-v1 seed", ikm box_sk). */
MV_API void mv_pre_seed(const uint8_t box_sk[static 32], uint8_t seed[static MV_PRE_SEED_BYTES]);
/* The recipient key b, B = b*G of a user (published in the hospital directory). */
MV_API mv_err mv_pre_recipient_key(const uint8_t seed[static MV_PRE_SEED_BYTES], uint8_t sk[static 32],
                                   uint8_t pk[static 32]) __attribute__((warn_unused_result));

/* What a delegation is for: every record of one episode, or one record. */
typedef enum mv_pre_label_kind {
    MV_PRE_LABEL_EPISODE = 1,
    MV_PRE_LABEL_RECORD = 2,
} mv_pre_label_kind;

/* The delegating key a, A = a*G of (owner, kind, label), derived from the owner's seed. The
 * same inputs always give the same key, so capsules made once serve every later delegation of
 * the label. MV_ERR_INVAL for an unknown kind. */
MV_API mv_err mv_pre_label_key(const uint8_t seed[static MV_PRE_SEED_BYTES], const uint8_t owner_sign_pk[static 32],
                               mv_pre_label_kind kind, const uint8_t label[static 16], uint8_t sk[static 32],
                               uint8_t pk[static 32]) __attribute__((warn_unused_result));

/* ---- the key encapsulation ---- */

/* Encapsulates a fresh key under pk_A: capsule (E, V, s) and key. rnd is NULL (libsodium's
 * generator) or MV_PRE_ENCAP_RND_BYTES bytes that fix r and u (known-answer vectors).
 * MV_ERR_INVAL for a pk_A that is not a valid non-identity element. */
MV_API mv_err mv_pre_encapsulate(const uint8_t pk_A[static 32], const uint8_t *rnd,
                                 uint8_t capsule[static MV_PRE_CAPSULE_BYTES], uint8_t key[static MV_PRE_KEY_BYTES])
    __attribute__((warn_unused_result));
/* MV_OK if the capsule is well formed: canonical non-identity E and V, canonical s, and
 * s*G == V + H(E, V)*E. MV_ERR_VERIFY otherwise. */
MV_API mv_err mv_pre_capsule_check(const uint8_t capsule[static MV_PRE_CAPSULE_BYTES]) __attribute__((warn_unused_result));
/* The owner opens her own capsule: key = KDF(a*(E + V)). Checks the capsule first. */
MV_API mv_err mv_pre_decapsulate(const uint8_t sk_A[static 32], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                                 uint8_t key[static MV_PRE_KEY_BYTES]) __attribute__((warn_unused_result));

/* Wraps (or unwraps) a 32-byte secret (a keyset key or a record key) under an encapsulated
 * key: ChaCha20-Poly1305, nonce zero (each capsule's key wraps exactly one value), associated
 * data "medvault-pre-v1 wrap" | capsule | ref (16 bytes: the keyset or record the secret
 * belongs to). Unwrap answers MV_ERR_VERIFY on a wrong key or altered bytes. */
MV_API mv_err mv_pre_wrap(const uint8_t key[static MV_PRE_KEY_BYTES], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                          const uint8_t ref[static 16], const uint8_t secret[static 32],
                          uint8_t out[static MV_PRE_WRAPPED_BYTES]) __attribute__((warn_unused_result));
MV_API mv_err mv_pre_unwrap(const uint8_t key[static MV_PRE_KEY_BYTES], const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                            const uint8_t ref[static 16], const uint8_t wrapped[static MV_PRE_WRAPPED_BYTES],
                            uint8_t secret[static 32]) __attribute__((warn_unused_result));

/* ---- re-encryption keys ---- */

/* One proxy's share of the re-encryption key: its id, the scalar rk, and U1 = rk*U (public:
 * it goes in the signed delegation so that the proxy's work can be checked). */
typedef struct mv_pre_kfrag {
    uint8_t id[32];
    uint8_t rk[32];
    uint8_t U1[32];
} mv_pre_kfrag;

/* Splits the re-encryption key from (sk_A, pk_A) to pk_B into n kfrags, any t of which
 * re-encrypt (1 <= t <= n <= MV_PRE_MAX_FRAGS). X_A is the public precursor the recipient
 * needs. rnd is NULL or 32 bytes seeding every random choice (vectors). MV_ERR_INVAL for bad
 * counts or keys (pk_A not sk_A's, pk_B invalid or equal to pk_A). */
MV_API mv_err mv_pre_kfrags(const uint8_t sk_A[static 32], const uint8_t pk_A[static 32], const uint8_t pk_B[static 32],
                            unsigned t, unsigned n, const uint8_t *rnd, uint8_t X_A[static 32], mv_pre_kfrag *out)
    __attribute__((warn_unused_result));
/* MV_OK if U1 == rk*U, rk is canonical and non-zero (what a proxy checks of the kfrag it
 * received against the commitment in the signed delegation). MV_ERR_VERIFY otherwise. */
MV_API mv_err mv_pre_kfrag_check(const mv_pre_kfrag *k) __attribute__((warn_unused_result));

/* ---- proxies and recipients ---- */

/* A proxy re-encrypts one capsule: cfrag = E1 | V1 | kfrag id | proof (E2, V2, U2, z3). aux
 * (32 bytes, the delegation's hash) is bound into the proof's challenge. rnd is NULL or 32
 * bytes fixing the proof's nonce (vectors). The capsule's elements must decode (MV_ERR_VERIFY);
 * its full check (mv_pre_capsule_check) is the delegation parser's, not repeated here. */
MV_API mv_err mv_pre_reencrypt(const mv_pre_kfrag *k, const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                               const uint8_t aux[static 32], const uint8_t *rnd, uint8_t cfrag[static MV_PRE_CFRAG_BYTES])
    __attribute__((warn_unused_result));
/* MV_OK if cfrag is a correct re-encryption of capsule by the kfrag whose id and commitment
 * U1 are given (from the signed delegation), with the same aux. MV_ERR_VERIFY otherwise
 * (also for a capsule whose elements do not decode; its full check is the parser's). */
MV_API mv_err mv_pre_cfrag_verify(const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                                  const uint8_t cfrag[static MV_PRE_CFRAG_BYTES], const uint8_t kfrag_id[static 32],
                                  const uint8_t U1[static 32], const uint8_t aux[static 32])
    __attribute__((warn_unused_result));
/* The recipient combines k >= t cfrags (k * MV_PRE_CFRAG_BYTES bytes, distinct kfrag ids)
 * and decapsulates with her secret key. Each cfrag MUST have passed mv_pre_cfrag_verify
 * first: the final check (s*A == d*(V' + h*E')) catches too few cfrags, cfrags of another
 * delegation or recipient, and a malformed capsule, but not a cfrag crafted to keep that
 * equation (E1 + D, V1 - h*D): only the proofs catch that one, and name the proxy. Errors:
 * MV_ERR_VERIFY (the key is then zero), MV_ERR_INVAL for keys that are not valid. */
MV_API mv_err mv_pre_decapsulate_frags(const uint8_t sk_B[static 32], const uint8_t pk_B[static 32],
                                       const uint8_t pk_A[static 32], const uint8_t X_A[static 32],
                                       const uint8_t capsule[static MV_PRE_CAPSULE_BYTES], const uint8_t *cfrags,
                                       size_t k, uint8_t key[static MV_PRE_KEY_BYTES]) __attribute__((warn_unused_result));

/* The recipient's per-delegation work, done once for all its capsules: D and d (docs/pre.md
 * section 5 steps 1 and 4: two scalar multiplications). Secret: wipe with mv_pre_opener_wipe. */
typedef struct mv_pre_opener {
    uint8_t pk_A[32];
    uint8_t D[32];
    uint8_t d[32];
} mv_pre_opener;

MV_API mv_err mv_pre_opener_init(mv_pre_opener *o, const uint8_t sk_B[static 32], const uint8_t pk_B[static 32],
                                 const uint8_t pk_A[static 32], const uint8_t X_A[static 32]) __attribute__((warn_unused_result));
/* mv_pre_decapsulate_frags for one capsule of the opener's delegation. */
MV_API mv_err mv_pre_opener_open(const mv_pre_opener *o, const uint8_t capsule[static MV_PRE_CAPSULE_BYTES],
                                 const uint8_t *cfrags, size_t k, uint8_t key[static MV_PRE_KEY_BYTES])
    __attribute__((warn_unused_result));
MV_API void mv_pre_opener_wipe(mv_pre_opener *o);

/* ---- the signed delegation "MVPD" and the sealed kfrag "MVKF" (docs/pre.md section 6) ---- */

#define MV_PRE_MAX_DEPT 63
#define MV_PRE_MAX_CAPSULES 1024u
/* A capsule entry: kind (1) | ref (16) | capsule (96) | wrapped secret (48). */
#define MV_PRE_ENTRY_BYTES 161u
/* The largest delegation: fixed part, 63-byte department, 16 commitments, 1024 capsules. */
#define MV_PRE_DELEGATION_MAX_BYTES (4u + 1u + 32u + 1u + 16u + 32u + 32u + 32u + 1u + 1u + MV_PRE_MAX_DEPT + 8u + 8u + \
                                     1u + 1u + 32u + MV_PRE_MAX_FRAGS * 65u + 2u +                                     \
                                     MV_PRE_MAX_CAPSULES * MV_PRE_ENTRY_BYTES + 64u)
/* A sealed kfrag: crypto_box_seal of "MVKF" | version | proxy index | kfrag id | rk (70 bytes). */
#define MV_PRE_SEALED_KFRAG_BYTES (70u + 48u)

/* What one capsule entry wraps: a keyset key K (each record of the keyset has the key
 * HKDF(K, its id), docs/records.md) or a single record's key R. */
typedef enum mv_pre_entry_kind {
    MV_PRE_ENTRY_KEYSET = 1,
    MV_PRE_ENTRY_RECORD = 2,
} mv_pre_entry_kind;

typedef struct mv_pre_entry {
    uint8_t kind; /* mv_pre_entry_kind */
    uint8_t ref[16]; /* the keyset id or the record id */
    uint8_t capsule[MV_PRE_CAPSULE_BYTES];
    uint8_t wrapped[MV_PRE_WRAPPED_BYTES];
} mv_pre_entry;

typedef struct mv_pre_commitment {
    uint8_t proxy; /* 1..n: the proxy's index in the deployment file */
    uint8_t kfrag_id[32];
    uint8_t U1[32];
} mv_pre_commitment;

typedef struct mv_pre_delegation {
    uint8_t owner[32];     /* the owner's Ed25519 key (the signer) */
    uint8_t label_kind;    /* mv_pre_label_kind */
    uint8_t label[16];     /* an appointment (episode) id or a record id */
    uint8_t pk_A[32];      /* the label's delegating key */
    uint8_t recipient[32]; /* the recipient's Ed25519 key */
    uint8_t pk_B[32];      /* the recipient's re-encryption key */
    uint8_t role;          /* mv_role bit the recipient's credential must hold (one bit) */
    char department[MV_PRE_MAX_DEPT + 1]; /* ... and this department (NUL-terminated, non-empty) */
    uint64_t issued_at, expires_at;       /* unix seconds, issued_at < expires_at */
    uint8_t t, n;
    uint8_t X_A[32];
    mv_pre_commitment commit[MV_PRE_MAX_FRAGS]; /* n of them, proxies 1..n in order */
    size_t n_entries;                           /* 1..MV_PRE_MAX_CAPSULES */
    mv_pre_entry *entries;                      /* caller's memory (encode) or owned (parse) */
    uint8_t sig[64];
} mv_pre_delegation;

/* Encodes d and signs it with the owner's Ed25519 secret key (d->owner must be its public
 * key), filling d->sig. MV_ERR_INVAL for a field out of range (counts, kinds, a department
 * outside [A-Za-z0-9 _.-], a window with expires_at <= issued_at, a role that is not one bit,
 * duplicate entry refs, a capsule that fails mv_pre_capsule_check). */
MV_API mv_err mv_pre_delegation_sign(mv_pre_delegation *d, const uint8_t owner_sk[static 64], mv_buf *out)
    __attribute__((warn_unused_result));
/* Parses and verifies (the owner's signature, every capsule, kfrag ids canonical, non-zero
 * and distinct, commitments distinct, capsules distinct, the canonical encoding: exactly one
 * byte string per delegation) bytes into out, whose entries are then allocated; free them
 * with mv_pre_delegation_clear. MV_ERR_PARSE for a malformed encoding, MV_ERR_VERIFY for a bad
 * signature or capsule. out is cleared on failure. */
MV_API mv_err mv_pre_delegation_parse(const uint8_t *bytes, size_t len, mv_pre_delegation *out)
    __attribute__((warn_unused_result));
MV_API void mv_pre_delegation_clear(mv_pre_delegation *d);
/* The delegation's hash: SHA-256("medvault-pre-delegation-id-v1" | its encoding). Its name
 * on the wire and the aux of every cfrag proof. */
MV_API void mv_pre_delegation_hash(const uint8_t *bytes, size_t len, uint8_t out[static 32]);

/* Seals proxy's kfrag k to that proxy's X25519 key. */
MV_API mv_err mv_pre_kfrag_seal(const mv_pre_kfrag *k, uint8_t proxy, const uint8_t proxy_box_pk[static 32],
                                uint8_t out[static MV_PRE_SEALED_KFRAG_BYTES]) __attribute__((warn_unused_result));
/* A proxy opens its sealed kfrag and checks it against the delegation: its index (proxy), the
 * kfrag id and the commitment U1 there (mv_pre_kfrag_check). MV_ERR_VERIFY if any differs or
 * the seal does not open. k->U1 is copied from the delegation. */
MV_API mv_err mv_pre_kfrag_open(const uint8_t sealed[static MV_PRE_SEALED_KFRAG_BYTES], const uint8_t box_pk[static 32],
                                const uint8_t box_sk[static 32], const mv_pre_delegation *d, uint8_t proxy,
                                mv_pre_kfrag *k) __attribute__((warn_unused_result));

/* The proxy's answer "MVCF": magic | version 1 | proxy index | delegation hash (32) | count
 * u16 BE | count cfrags, one per capsule entry in the delegation's order. */
#define MV_PRE_CFRAGS_BYTES(count) (4u + 1u + 1u + 32u + 2u + MV_PRE_CFRAG_BYTES * (size_t)(count))

#ifdef __cplusplus
}
#endif
#endif
