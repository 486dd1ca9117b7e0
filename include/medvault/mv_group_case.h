/* mv_group_case.h - tracing a disputed group operation (docs/groups.md "Tracing"): the case file
 * (which operation, its signed message and ring signature, and the hospital-signed roster of
 * its epoch), an opener's partial decryption, and the opening that names the signer, all as
 * small JSON documents that can be carried between the openers and handed to anyone who
 * wants to check (`medvault group open`, `medvault group judge`). Checking needs nothing but
 * these files and the hospital's public key. */
#ifndef MV_GROUP_CASE_H
#define MV_GROUP_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_group.h"
#include "medvault/mv_ringsig.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on what a case file may carry. */
#define MV_GROUP_CASE_MAX_BYTES (512u * 1024u)
#define MV_GROUP_CASE_MAX_MSG 4096u

typedef struct mv_group_case {
    uint8_t group_id[MV_RING_GROUP_ID_BYTES];
    uint8_t record_id[16];
    uint64_t version;
    mv_roster roster; /* verified against the hospital key */
    mv_ring ring;     /* over roster */
    uint8_t *msg;
    size_t msg_len;
    uint8_t *sig;
    size_t sig_len;
    uint8_t sig_sha256[32];
    uint8_t *roster_bytes; /* the MVG1 encoding, kept to write the case back */
    size_t roster_len;
    mv_group_op_fields op; /* what was signed: its group, epoch, record and version are the case's */
} mv_group_case;

/* Writes a case file (JSON) from its parts; roster is the MVG1 encoding of the signature's
 * epoch. Checks nothing cryptographic (mv_group_case_parse does). */
MV_API mv_err mv_group_case_write(const uint8_t group_id[static MV_RING_GROUP_ID_BYTES],
                                  const uint8_t record_id[static 16], uint64_t version, const uint8_t *roster,
                                  size_t roster_len, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                                  size_t sig_len, mv_buf *out) __attribute__((warn_unused_result));
/* Parses a case file (untrusted) and checks it whole: the roster verifies under hospital_pk;
 * msg is a group operation message whose group, epoch, record and version are the case's and
 * the roster's; the ring signature verifies over msg under the roster. So an opener never
 * decrypts a signature other than the one the case names, and the labels a judge prints are
 * the signed ones. Errors: MV_ERR_PARSE (a field missing, malformed or not matching), MV_ERR_AUTH
 * (the roster's signature or issuer, or the ring signature), MV_ERR_TOO_LARGE, MV_ERR_NOMEM.
 * why, when not NULL, receives a static English reason. */
MV_API mv_err mv_group_case_parse(const char *text, size_t len, const uint8_t hospital_pk[static 32],
                                  mv_group_case *out, const char **why) __attribute__((warn_unused_result));
MV_API void mv_group_case_clear(mv_group_case *c);

/* Opener share_index's partial decryption for the case, as JSON {"v":1,"sig_sha256","partial"}. */
MV_API mv_err mv_group_case_partial(const mv_group_case *c, uint8_t share_index, const uint8_t dk_i[static 32],
                                    mv_buf *out) __attribute__((warn_unused_result));
/* Combines partial files (JSON texts) of this case into an opening file (JSON
 * {"v":1,"sig_sha256","member_index","member_key","opening"}); *member_index receives the
 * signer's roster position and *bad_share the index of a partial whose proof fails.
 * Errors as mv_ring_open_combine, plus MV_ERR_PARSE for a partial of another case. */
MV_API mv_err mv_group_case_open(const mv_group_case *c, const char *const *partials, const size_t *lens,
                                 size_t count, uint32_t *member_index, uint8_t *bad_share, mv_buf *out)
    __attribute__((warn_unused_result));
/* The judge: checks the case's signature and the opening file; on MV_OK *member_index and
 * member_key name the signer. Errors: MV_ERR_AUTH (the signature or the opening fails),
 * MV_ERR_PARSE. */
MV_API mv_err mv_group_case_judge(const mv_group_case *c, const char *opening, size_t len, uint32_t *member_index,
                                  uint8_t member_key[static 32]) __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
