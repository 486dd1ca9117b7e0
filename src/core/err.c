/* err.c - messages for mv_err; a switch without default so -Wswitch-enum catches gaps. */
#include "medvault/mv_err.h"

const char *mv_strerror(mv_err rc)
{
    switch (rc) {
    case MV_OK: return "success";
    case MV_ERR_NOMEM: return "out of memory";
    case MV_ERR_INVAL: return "invalid argument";
    case MV_ERR_AUTH: return "authentication failed";
    case MV_ERR_TOO_LARGE: return "input too large";
    case MV_ERR_PARSE: return "malformed input";
    case MV_ERR_IO: return "input/output error";
    case MV_ERR_NOT_FOUND: return "not found";
    case MV_ERR_CRYPTO: return "cryptographic operation failed";
    case MV_ERR_BUSY: return "resource busy";
    case MV_ERR_BAD_STATE: return "operation not valid in this state";
    case MV_ERR_RATE_LIMITED: return "rate limit exceeded";
    case MV_ERR_NET: return "network error";
    case MV_ERR_TIMEOUT: return "timed out";
    case MV_ERR_IDENTITY: return "identity element not allowed";
    case MV_ERR_VERIFY: return "verification failed";
    case MV_ERR_EXPIRED: return "expired or outside the validity window";
    case MV_ERR_REPLAY: return "replayed request";
    case MV_ERR_FORBIDDEN: return "forbidden";
    case MV_ERR_EXISTS: return "already exists";
    case MV_ERR_PROTOCOL: return "protocol violation by peer";
    case MV_ERR_UNAVAILABLE: return "not enough servers available";
    case MV_ERR_HTTP: return "server returned an error";
    case MV_ERR_MISDIRECTED: return "request signed for another service";
    }
    return "unknown error";
}
