/* storage_groups.h - the storage server's group records (docs/groups.md, "Group operations on
 * the storage server"): admission of anonymous ring-signed operations (storage_groups.c: the
 * body cap, the per-address limit, the concurrency cap, the roster cache, the replay cache,
 * the signature) and the records themselves (storage_group_records.c: versions kept with
 * their signatures in a crash-safe history file, content through the store). Internal. */
#ifndef MV_STORAGE_GROUPS_H
#define MV_STORAGE_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "medvault/mv_group.h"
#include "medvault/mv_http.h"
#include "net/group_frames.h"
#include "storage_internal.h"

/* History entry kinds: the signed operations keep their op number; the manager's delete
 * (a signed request, not a ring signature) is its own kind. */
#define GROUP_ENTRY_ADMIN_DELETE 6u
#define GROUP_MAX_VERSIONS 1024u            /* entries in one record's history */
#define GROUP_HISTORY_MAX ((size_t)4 << 20) /* bytes of one history file (1024 entries fit) */
#define GROUP_LIST_MAX 10000u               /* records one listing answers with */

/* One history entry; msg, sig and link borrow the decoded file (or the request). */
typedef struct group_entry {
    uint8_t kind;      /* enum mv_group_op (1 put, 2 modify, 3 delete) or GROUP_ENTRY_ADMIN_DELETE */
    uint64_t version;
    uint64_t epoch;    /* the signature's epoch; 0 for the manager's delete */
    uint64_t time;     /* unix seconds when the server accepted it */
    uint64_t size;     /* content bytes (envelope and blocks) of a put or modify */
    const uint8_t *msg;   /* mv_group_op_msg (MV_GROUP_OP_MSG_BYTES), or NULL (manager) */
    size_t msg_len;
    const uint8_t *sig;   /* the ring signature, or the manager's Ed25519 key (32 bytes) */
    size_t sig_len;
    const uint8_t *link;  /* an owner's delete: the link proof (MV_RING_LINK_BYTES), else NULL */
} group_entry;

/* A record's decoded history: the file's bytes and its entries (borrowing them). */
typedef struct group_history {
    mv_buf raw;
    size_t n;
    group_entry e[GROUP_MAX_VERSIONS];
} group_history;

/* Reads groups/<g>/<id> into *h (heap, free with group_history_free). MV_ERR_NOT_FOUND for a
 * record never stored; MV_ERR_PARSE for a damaged file; MV_ERR_IO, MV_ERR_NOMEM. */
mv_err group_history_load(storage_srv *s, const uint8_t g[16], const uint8_t id[16], group_history **h)
    __attribute__((warn_unused_result));
void group_history_free(group_history *h);
/* 1 if the record's last entry is a delete. */
int group_history_deleted(const group_history *h);

/* Handlers, called by storage_groups.c once the operation is admitted (signature verified):
 * f is the decoded frame, msg the signed message. Each takes the groups' write lock. */
void group_records_write(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, const uint8_t *msg,
                         const mv_group_content *content, mv_http_response *resp);
void group_records_read(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, mv_http_response *resp);
void group_records_list(storage_srv *s, const uint8_t g[16], mv_http_response *resp);
/* The owner's delete: the link proof has been checked against version 1's signature. */
void group_records_delete(storage_srv *s, const uint8_t g[16], const mv_group_op_frame *f, const uint8_t *msg,
                          mv_http_response *resp);
/* The manager's DELETE /v1/groups/{g}/records/{id} and GET .../history (signed requests). */
void group_records_admin_delete(storage_srv *s, const mv_credential *cred, const uint8_t g[16], const uint8_t id[16],
                                mv_http_response *resp);
void group_records_history(storage_srv *s, const mv_credential *cred, const uint8_t g[16], const uint8_t id[16],
                           mv_http_response *resp);

/* Verifies a link proof for version 1 of a record: fetches the roster of v1's epoch from the
 * hospital. MV_OK, MV_ERR_AUTH (the proof fails), or a fetch error. */
mv_err storage_groups_link_check(storage_srv *s, const uint8_t g[16], const group_entry *v1, const uint8_t *ctx,
                                 size_t ctx_len, const uint8_t link[static MV_RING_LINK_BYTES])
    __attribute__((warn_unused_result));

/* The name of an operation or history entry kind ("put" .. "list", "admin_delete", or
 * "unknown"): mv_group_op_name for the signed operations. */
const char *storage_groups_op_name(uint8_t op);
/* Counts one group operation in medvault_storage_group_ops_total{op, outcome}. */
void storage_groups_count(storage_srv *s, uint8_t op, const char *outcome);

/* The write lock of group records (one writer at a time: versions are assigned in order). */
void storage_groups_lock(storage_srv *s);
void storage_groups_unlock(storage_srv *s);

#endif
