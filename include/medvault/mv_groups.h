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
 * asked of the hospital. Errors: MV_ERR_NOT_FOUND, MV_ERR_FORBIDDEN (not one of the caller's
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
/* Invites users[0..n) (sign keys, 1 <= n <= 256) to group (admins only); history 0: they may
 * read only epochs from the next one on. *added (may be NULL) = how many were not yet invited
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
 * of it she may read. Opaque; free with mv_group_keys_free (wipes). */
typedef struct mv_group_keys mv_group_keys;
/* Fetches and unseals the caller's key ranges of group (she must be an active member).
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

#ifdef __cplusplus
}
#endif
#endif
