/* mv_err.h - the one error enum of libmedvault.
 *
 * The enum is append-only: a value, once released, keeps its number and meaning.
 * mv_strerror() is a switch without a default, compiled with -Wswitch-enum, so a
 * new value without a message does not build. Messages never carry patient data. */
#ifndef MV_ERR_H
#define MV_ERR_H

#include "medvault/mv_api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mv_err {
    MV_OK = 0,
    MV_ERR_NOMEM = 1,        /* an allocation failed */
    MV_ERR_INVAL = 2,        /* the caller passed an invalid argument (a caller bug) */
    MV_ERR_AUTH = 3,         /* authentication failed: bad signature, unknown key, forged credential */
    MV_ERR_TOO_LARGE = 4,    /* an input or buffer exceeded its hard cap */
    MV_ERR_PARSE = 5,        /* malformed input (JSON, hex, base64, binary framing) */
    MV_ERR_IO = 6,           /* a file-system or OS call failed */
    MV_ERR_NOT_FOUND = 7,    /* no such object */
    MV_ERR_CRYPTO = 8,       /* a cryptographic operation failed (invalid element, tag mismatch) */
    MV_ERR_BUSY = 9,         /* a resource is in use; retry later */
    MV_ERR_BAD_STATE = 10,   /* the operation is not valid in the object's current state */
    MV_ERR_RATE_LIMITED = 11,/* the caller exceeded its rate limit */
    MV_ERR_NET = 12,         /* a network operation failed (connect, send, receive) */
    MV_ERR_TIMEOUT = 13,     /* an operation did not finish in time */
    MV_ERR_IDENTITY = 14,    /* a group element is the identity where that is forbidden */
    MV_ERR_VERIFY = 15,      /* a proof, MAC or signature did not verify */
    MV_ERR_EXPIRED = 16,     /* a credential or request is outside its validity window */
    MV_ERR_REPLAY = 17,      /* a request nonce was seen before */
    MV_ERR_FORBIDDEN = 18,   /* authenticated, but not allowed to do this */
    MV_ERR_EXISTS = 19,      /* the object already exists */
    MV_ERR_PROTOCOL = 20,    /* a peer broke the protocol (bad answer, wrong length, failed proof) */
    MV_ERR_UNAVAILABLE = 21, /* not enough servers answered correctly */
    MV_ERR_HTTP = 22,        /* a server answered with an error status */
    MV_ERR_MISDIRECTED = 23, /* a correctly signed request meant for another service */
} mv_err;

/* Returns a static, human-readable message for rc; never NULL. */
MV_API const char *mv_strerror(mv_err rc);

#ifdef __cplusplus
}
#endif
#endif
