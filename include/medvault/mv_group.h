/* mv_group.h - what the parties of group sharing exchange (docs/groups.md): the hospital's
 * signed epoch roster "MVG1", the group key chain with key regression, and the signed group
 * operation message. In the crypto layer so that the hospital, the storage server and the
 * client parse and derive with one piece of code. */
#ifndef MV_GROUP_H
#define MV_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_ringsig.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Epochs of one key chain: K_e = H^(MAX - e)(seed), so 1 <= e <= MAX. */
#define MV_GROUP_MAX_EPOCHS 65536u
#define MV_GROUP_KEY_BYTES 32

typedef struct mv_roster {
    uint8_t issuer[32];
    uint8_t group_id[MV_RING_GROUP_ID_BYTES];
    uint64_t epoch;
    uint64_t issued_at;
    uint8_t ek[32];
    uint8_t t, n_openers;
    uint8_t ek_shares[MV_RING_MAX_OPENERS][32];
    size_t n_members;
    uint8_t *members; /* n_members * 32, ascending after sign/verify; owned (mv_roster_clear) */
} mv_roster;

/* Signs r (members in any order, no duplicates; sorted in the encoding) with the hospital's
 * key and appends the MVG1 encoding to out. Checks everything mv_ring_init checks.
 * Errors: MV_ERR_INVAL, MV_ERR_PARSE (duplicate members), MV_ERR_CRYPTO, MV_ERR_TOO_LARGE,
 * MV_ERR_NOMEM. On error out is unchanged. */
MV_API mv_err mv_roster_sign(const mv_roster *r, const uint8_t hospital_pk[static 32],
                             const uint8_t hospital_sk[static 64], mv_buf *out) __attribute__((warn_unused_result));
/* Parses in[0..len) (untrusted), checks the issuer and signature against hospital_pk and the
 * ring's rules; fills *out (the caller clears it). On error *out is empty.
 * Errors: MV_ERR_PARSE, MV_ERR_AUTH (issuer or signature), MV_ERR_CRYPTO (an invalid key),
 * MV_ERR_INVAL, MV_ERR_NOMEM. */
MV_API mv_err mv_roster_verify(const uint8_t *in, size_t len, const uint8_t hospital_pk[static 32], mv_roster *out)
    __attribute__((warn_unused_result));
MV_API void mv_roster_clear(mv_roster *r);
/* Fills *ring from r (ring->members points into r) and runs mv_ring_init. */
MV_API mv_err mv_roster_ring(const mv_roster *r, mv_ring *ring) __attribute__((warn_unused_result));
/* Position of pk in r's members, or -1. */
MV_API long mv_roster_find(const mv_roster *r, const uint8_t pk[static 32]);

/* K_e of the chain with this seed (1 <= e <= MV_GROUP_MAX_EPOCHS). */
MV_API mv_err mv_group_key_at(const uint8_t seed[static 32], uint64_t epoch, uint8_t out[static MV_GROUP_KEY_BYTES])
    __attribute__((warn_unused_result));
/* Key regression: from K_e derives K_older for older <= e (never a newer key). */
MV_API mv_err mv_group_key_regress(const uint8_t key[static MV_GROUP_KEY_BYTES], uint64_t epoch, uint64_t older,
                                   uint8_t out[static MV_GROUP_KEY_BYTES]) __attribute__((warn_unused_result));
/* The file key of an epoch: F_e = HKDF-SHA-256(K_e, salt = group id, info = "medvault group
 * file v1" || u64be(e)). */
MV_API mv_err mv_group_file_key(const uint8_t key[static MV_GROUP_KEY_BYTES],
                                const uint8_t group_id[static MV_RING_GROUP_ID_BYTES], uint64_t epoch,
                                uint8_t out[static 32]) __attribute__((warn_unused_result));

enum mv_group_op { MV_GROUP_OP_PUT = 1, MV_GROUP_OP_MODIFY = 2, MV_GROUP_OP_DELETE = 3, MV_GROUP_OP_READ = 4,
                   MV_GROUP_OP_LIST = 5 };
#define MV_GROUP_OP_MSG_BYTES (21u + 16u + 8u + 1u + 16u + 8u + 8u + 16u + 32u)
/* The message a group operation's ring signature signs (docs/groups.md "Group operation"):
 * writes MV_GROUP_OP_MSG_BYTES to out. body_hash = SHA-256 of the request body's payload. */
MV_API void mv_group_op_msg(const uint8_t group_id[static MV_RING_GROUP_ID_BYTES], uint64_t epoch, enum mv_group_op op,
                            const uint8_t record_id[static 16], uint64_t version, uint64_t timestamp,
                            const uint8_t nonce[static 16], const uint8_t body_hash[static 32],
                            uint8_t out[static MV_GROUP_OP_MSG_BYTES]);

/* The fields of a group operation message. */
typedef struct mv_group_op_fields {
    uint8_t group_id[MV_RING_GROUP_ID_BYTES];
    uint64_t epoch;
    enum mv_group_op op;
    uint8_t record_id[16];
    uint64_t version, timestamp;
    uint8_t nonce[16], body_hash[32];
} mv_group_op_fields;
/* Reads msg[0..len) (untrusted) as mv_group_op_msg wrote it. Errors: MV_ERR_PARSE (the wrong
 * length or domain, an unknown op). */
MV_API mv_err mv_group_op_parse(const uint8_t *msg, size_t len, mv_group_op_fields *out)
    __attribute__((warn_unused_result));
/* The operation's name ("put", "modify", "delete", "read", "list"), or "unknown". */
MV_API const char *mv_group_op_name(enum mv_group_op op);

#ifdef __cplusplus
}
#endif
#endif
