/* mv_groups.h - the client's side of group sharing with the hospital, the group manager
 * (docs/groups.md): creating groups and splitting the opener key, membership, joining with the
 * ring key derived from the user's identity, the signed roster of an epoch, the group key
 * chain, the group's dedup tokens, and what openers need. The group's files at the storage
 * server are another module's.
 *
 * A group is named everywhere by its name or by its id (32 lowercase hex digits). Every call
 * is one or a few signed requests to the hospital; on failure mv_client_last_error says what
 * the hospital answered (never a key). */
#ifndef MV_GROUPS_H
#define MV_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_client.h"
#include "medvault/mv_err.h"
#include "medvault/mv_group.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MV_GROUP_ID_BYTES 16
/* Openers a group may name at creation: none (the admin alone, t = n = 1) or exactly three
 * (threshold 2). */
#define MV_GROUP_OPENERS 3

/* The user named by `user`: 64 hex digits are taken as her Ed25519 sign key; anything else is
 * looked up by exact name in the hospital's directory (admins and doctors may search it).
 * Errors: MV_ERR_NOT_FOUND (no such name), MV_ERR_EXISTS (the name is ambiguous: give the key),
 * MV_ERR_INVAL, network/HTTP errors. */
MV_API mv_err mv_client_user_resolve(mv_client *c, const char *user, uint8_t sign_pk[static 32])
    __attribute__((warn_unused_result));

/* The id of the group named by `group` (a name or an id): an id is taken as it is, a name is
 * asked of the hospital once and then read from USER_DIR/group-names (docs/groups.md). Errors: MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN (not one of the caller's
 * groups), network/HTTP errors. */
MV_API mv_err mv_client_group_id(mv_client *c, const char *group, uint8_t id[static MV_GROUP_ID_BYTES])
    __attribute__((warn_unused_result));

/* Creates group `name` (admins only). openers: NULL with n_openers 0 (the admin is the only
 * opener: t = n = 1), or MV_GROUP_OPENERS sign keys side by side (threshold 2). Draws the
 * opener key dk here, splits it, seals share i to opener i's X25519 key (fetched from the
 * hospital), sends EK, the public shares and the sealed shares, and wipes dk and the shares.
 * id (may be NULL) receives the new group's id. Errors: MV_ERR_INVAL (n_openers), MV_ERR_EXISTS
 * (the name is taken), MV_ERR_FORBIDDEN (not an admin, or an opener who may not be one),
 * MV_ERR_NOT_FOUND (an opener is unknown), network/HTTP errors. */
MV_API mv_err mv_client_group_create(mv_client *c, const char *name, const uint8_t *openers, size_t n_openers,
                                     uint8_t *id) __attribute__((warn_unused_result));
/* Invites users[0..n) (sign keys, 1 <= n <= 256) to group (admins only). history 1: they may
 * read every epoch; 0: only from the epoch of their join on; -1: the hospital's default, 1 for
 * a user never in the group and 0 for a removed member added again. *added (may be NULL) = how many were not yet invited
 * or members. Errors: MV_ERR_NOT_FOUND (group or user), MV_ERR_FORBIDDEN, network/HTTP errors. */
MV_API mv_err mv_client_group_add(mv_client *c, const char *group, const uint8_t *users, size_t n, int history,
                                  size_t *added) __attribute__((warn_unused_result));
/* Removes the member with sign key user (admins only): a new epoch without her, her ring key
 * on the group's revocation list, a key she cannot derive. *epoch (may be NULL) = the epoch
 * after the removal. Errors: MV_ERR_NOT_FOUND (not a member), MV_ERR_BAD_STATE (already
 * removed), MV_ERR_FORBIDDEN, network/HTTP errors. */
MV_API mv_err mv_client_group_remove(mv_client *c, const char *group, const uint8_t user[static 32], uint64_t *epoch)
    __attribute__((warn_unused_result));
/* Joins group as the calling user (she must be invited): derives her ring key for the group
 * from her X25519 secret key (mv_ring_derive_key) and sends its public half with a proof of
 * possession bound to the group id and her sign key. Joining twice is not an error: *joined
 * (may be NULL) is 1 when this call joined, 0 when she already had; *epoch (may be NULL) the
 * epoch the join issued (0 if none). Errors: MV_ERR_FORBIDDEN (not invited, or removed),
 * MV_ERR_NOT_FOUND, network/HTTP errors. */
MV_API mv_err mv_client_group_join(mv_client *c, const char *group, int *joined, uint64_t *epoch)
    __attribute__((warn_unused_result));
/* Appends the hospital's list of the caller's groups to out (JSON {"groups":[...]}, docs/api.md);
 * an admin sees every group. */
MV_API mv_err mv_client_group_ls(mv_client *c, mv_buf *out) __attribute__((warn_unused_result));
/* Appends the hospital's JSON description of group to out (members, openers and epochs for
 * the admin and the openers; a summary for members). */
MV_API mv_err mv_client_group_info(mv_client *c, const char *group, mv_buf *out) __attribute__((warn_unused_result));
/* The signed roster of group at epoch (0: the current one), verified against the deployment's
 * hospital key and checked to be of that group (when named by id) and epoch (when one was asked): *out is filled
 * (the caller clears it with mv_roster_clear). raw (may be NULL) receives the MVG1 bytes.
 * Errors: MV_ERR_BAD_STATE (fewer than MV_RING_MIN_MEMBERS joined: no roster yet),
 * MV_ERR_NOT_FOUND (no such group or epoch), MV_ERR_AUTH / MV_ERR_PARSE / MV_ERR_VERIFY (a
 * roster that does not verify, or of another group or epoch), network/HTTP errors. */
MV_API mv_err mv_client_group_roster(mv_client *c, const char *group, uint64_t epoch, mv_roster *out, mv_buf *raw)
    __attribute__((warn_unused_result));

/* The group keys a member holds: for each key chain she may read, the key of the last epoch
 * of it she may read; and the group's dedup secret of the current generation. Opaque; free
 * with mv_group_keys_free (wipes). */
typedef struct mv_group_keys mv_group_keys;
/* Fetches and unseals the caller's key ranges of group (she must be an active member), and
 * keeps the answer, sealed as it came, in USER_DIR/group-<id>.keys for the group's files.
 * Errors: MV_ERR_FORBIDDEN (removed or never joined), MV_ERR_BAD_STATE (no epoch yet),
 * MV_ERR_PROTOCOL (a malformed answer or a key that does not unseal), network/HTTP errors. */
MV_API mv_err mv_client_group_keys(mv_client *c, const char *group, mv_group_keys **out)
    __attribute__((warn_unused_result));
/* The newest epoch whose key k holds. */
MV_API uint64_t mv_group_keys_epoch(const mv_group_keys *k);
/* The oldest epoch whose key k may give. */
MV_API uint64_t mv_group_keys_first(const mv_group_keys *k);
/* K_epoch, by key regression from the range holding epoch. Errors: MV_ERR_FORBIDDEN (epoch is
 * outside every range: before she may read, or newer than she holds), MV_ERR_INVAL. */
MV_API mv_err mv_group_keys_at(const mv_group_keys *k, uint64_t epoch, uint8_t out[static MV_GROUP_KEY_BYTES])
    __attribute__((warn_unused_result));
/* The group's dedup secret (32 bytes into out; the caller wipes it) and *generation (may be
 * NULL) its generation: 1 at the group's creation, the next at every removal, suspension or
 * revocation of a member who had joined, never at a join. From it a member derives the
 * group's dedup token key and block MLE key base on her own machine, with no hospital call per
 * operation (docs/groups.md "Dedup secret"). Errors: MV_ERR_INVAL. */
MV_API mv_err mv_group_keys_dedup_secret(const mv_group_keys *k, uint8_t out[32], uint64_t *generation)
    __attribute__((warn_unused_result));
MV_API void mv_group_keys_free(mv_group_keys *k);

/* The group's dedup tokens for tags[0..n) (32 bytes each, n <= 100000): tokens[32 i ..]
 * receives tag i's token (active members only). Errors: MV_ERR_FORBIDDEN, MV_ERR_PROTOCOL,
 * network/HTTP errors. */
MV_API mv_err mv_client_group_tokens(mv_client *c, const char *group, const uint8_t *tags, size_t n, uint8_t *tokens)
    __attribute__((warn_unused_result));
/* An opener's share of the group's opener key dk, unsealed: *index (1..n), *t and *n of the
 * sharing, share (32 bytes; the caller wipes it). Errors: MV_ERR_FORBIDDEN (not an opener),
 * MV_ERR_PROTOCOL (it does not unseal), network/HTTP errors. */
MV_API mv_err mv_client_group_opener_share(mv_client *c, const char *group, unsigned *index, unsigned *t, unsigned *n,
                                           uint8_t share[static 32]) __attribute__((warn_unused_result));
/* Logs in the group's event log that the caller opened (or asked to open) the signature of
 * version of record; signer (may be NULL) the ring key it revealed; note (may be NULL, <= 200
 * bytes) why. Admins and openers only. Errors: MV_ERR_FORBIDDEN, MV_ERR_PARSE, network/HTTP. */
MV_API mv_err mv_client_group_log_opening(mv_client *c, const char *group, const uint8_t record[static 16],
                                          uint64_t version, const uint8_t *signer, const char *note)
    __attribute__((warn_unused_result));
/* Appends the JSON {"name","sign_public_key","status","ring_public_key","joined_epoch",
 * "removed_epoch"} of the member whose ring key is ring_pk (admins and openers only; the
 * look-up is logged). Errors: MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN, network/HTTP errors. */
MV_API mv_err mv_client_group_whois(mv_client *c, const char *group, const uint8_t ring_pk[static 32], mv_buf *out)
    __attribute__((warn_unused_result));

/* ---------- the group's files at the storage server (group_files.c) ----------
 * Every operation is anonymous at the storage server: no signed request, a ring signature by
 * the caller's ring key for the group (mv_ring_derive_key from her X25519 secret key) over
 * mv_group_op_msg under the group's current roster, which this call fetches and verifies
 * (mv_client_group_roster). The storage server learns "a current member" and nothing more;
 * the group's manager can have the signature opened. A file's content is chunked (FastCDC),
 * compressed and MLE-encrypted with block keys derived from the group's dedup secret, and
 * deduplicated within the group by tokens derived from it too (blocks the group holds are
 * sent by reference, not uploaded again); the group's id and the caller's sealed key answer
 * are kept in her directory, so an operation makes no signed call to the hospital or the key
 * servers unless the group has a newer epoch than her keys cover; its envelope (the
 * block list with their keys, the file name and size) is sealed with AES-256-GCM under the
 * group's file key of the epoch (mv_group_file_key) with the group, record id, version and
 * epoch as associated data. `group` is a name or an id (mv_client_group_id). Errors common to
 * all: MV_ERR_FORBIDDEN (the caller is not in the current roster, or the storage server
 * refused), MV_ERR_BAD_STATE (the group has no roster yet), MV_ERR_AUTH (the storage server
 * did not accept the signature), MV_ERR_RATE_LIMITED, network/HTTP errors; the reason is in
 * mv_client_last_error. */

#define MV_GROUP_FILE_MAX ((size_t)24 << 20) /* bytes of one group file (one operation's body) */
#define MV_GROUP_FILE_NAME_MAX 255           /* bytes of the name kept in the envelope */

/* Stores the file at path as a new record of group (version 1); id receives its id, *version
 * (may be NULL) 1. Errors: MV_ERR_IO / MV_ERR_NOT_FOUND (path), MV_ERR_TOO_LARGE (over
 * MV_GROUP_FILE_MAX). */
MV_API mv_err mv_client_group_put(mv_client *c, const char *group, const char *path, uint8_t id[static 16],
                                  uint64_t *version) __attribute__((warn_unused_result));
/* Stores the file at path as record id's next version: version = latest + 1 (the earlier
 * versions, their content and signatures, stay at the storage server). *version (may be NULL) receives it.
 * Errors: MV_ERR_NOT_FOUND (no such record, or deleted), MV_ERR_EXISTS (another member wrote a
 * version at the same time: retry). */
MV_API mv_err mv_client_group_modify(mv_client *c, const char *group, const uint8_t id[static 16], const char *path,
                                     uint64_t *version) __attribute__((warn_unused_result));
/* Appends record id's latest content to out (its cap applies); *version and name (may be
 * NULL; name_cap bytes, NUL-terminated, the stored file name) receive what was read.
 * Errors: MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN (the caller holds no key for the version's
 * epoch: she joined later without history, or was removed before it), MV_ERR_VERIFY (the
 * envelope or a block does not decrypt: tampered), MV_ERR_TOO_LARGE (out's cap). */
MV_API mv_err mv_client_group_get(mv_client *c, const char *group, const uint8_t id[static 16], mv_buf *out,
                                  uint64_t *version, char *name, size_t name_cap) __attribute__((warn_unused_result));
/* As mv_client_group_get, of version `which` of the record (0: the latest). Every version's
 * content is kept until the record is deleted, so a modify destroys nothing; reading an older
 * version needs the key of its epoch. Errors: those of mv_client_group_get; MV_ERR_NOT_FOUND
 * also for a version the record does not have; MV_ERR_INVAL (which >= 2^63). */
MV_API mv_err mv_client_group_get_version(mv_client *c, const char *group, const uint8_t id[static 16],
                                          uint64_t which, mv_buf *out, uint64_t *version, char *name,
                                          size_t name_cap) __attribute__((warn_unused_result));
/* Deletes record id. as_manager 0: as its owner, the member who signed version 1, proving it
 * with a link proof to that signature (MV_ERR_FORBIDDEN for anybody else); as_manager 1: as
 * the group's manager, with a signed request (admins only). */
MV_API mv_err mv_client_group_rm(mv_client *c, const char *group, const uint8_t id[static 16], int as_manager)
    __attribute__((warn_unused_result));
/* Appends the storage server's listing of group's records to out: JSON {"records":[{"id",
 * "version","size","created","modified","epoch"}],"truncated"}. */
MV_API mv_err mv_client_group_list(mv_client *c, const char *group, mv_buf *out) __attribute__((warn_unused_result));
/* Appends record id's history to out (admins only, a signed request): JSON {"group","id",
 * "deleted","versions":[{"version","op","epoch","time","size","msg","sig"[,"link"]} or
 * {...,"admin"}]} with msg and sig in base64, for `group open`. */
MV_API mv_err mv_client_group_history(mv_client *c, const char *group, const uint8_t id[static 16], mv_buf *out)
    __attribute__((warn_unused_result));

#ifdef __cplusplus
}
#endif
#endif
