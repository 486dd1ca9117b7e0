/* zstd.c - one-frame zstd: decompression never allocates past a declared, capped size, and
 * libzstd's workspaces (which hold plaintext fragments) are wiped before they are freed. */
#include "medvault/mv_zstd.h"

#include <string.h>

/* The custom allocator (ZSTD_customMem, ZSTD_create?Ctx_advanced) is in zstd's "static" API
 * section. Its shape has been unchanged since zstd 1.3 and libzstd.so exports it; we use it
 * so every workspace goes through mv_malloc (fault injection) and is wiped on free. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include "medvault/mv_mem.h"

/* Each allocation carries its size in a header so the free callback can wipe it. 16 bytes
 * keep the user pointer as aligned as malloc's. */
#define HDR 16

static void *zalloc(void *opaque, size_t size)
{
    (void)opaque;
    if (size > SIZE_MAX - HDR)
        return NULL;
    uint8_t *p = mv_malloc(size + HDR);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    return p + HDR;
}

static void zfree(void *opaque, void *address)
{
    (void)opaque;
    if (!address)
        return;
    uint8_t *p = (uint8_t *)address - HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    mv_wipe(p, size + HDR);
    mv_free(p);
}

static const ZSTD_customMem wiping_mem = {zalloc, zfree, NULL};

mv_err mv_zstd_compress(const uint8_t *in, size_t len, int level, mv_buf *out)
{
    static const uint8_t empty[1] = {0};
    mv_err rc = MV_ERR_INVAL;
    ZSTD_CCtx *cctx = NULL;
    size_t bound, room, got = 0;

    if (!out || (!in && len))
        return MV_ERR_INVAL;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return MV_ERR_INVAL;
    if (!in)
        in = empty;
    bound = ZSTD_compressBound(len);
    if (ZSTD_isError(bound))
        return MV_ERR_TOO_LARGE;
    if (out->len > out->max)
        return MV_ERR_TOO_LARGE;
    /* Ask for the worst case, but no more than out may ever hold: zstd then reports
     * dstSize_tooSmall when the frame really does not fit. */
    room = out->max - out->len;
    if (room > bound)
        room = bound;
    if ((rc = mv_buf_reserve(out, room)) != MV_OK)
        goto out;
    rc = MV_ERR_INVAL;
    if (!(cctx = ZSTD_createCCtx_advanced(wiping_mem))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* Everything that shapes the frame is set explicitly, so the output depends only on
     * (input, level, libzstd version). nbWorkers 0 is single-threaded, blocking mode. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 0)))
        goto out;
    got = ZSTD_compress2(cctx, out->ptr + out->len, room, in, len);
    if (ZSTD_isError(got)) {
        ZSTD_ErrorCode code = ZSTD_getErrorCode(got);
        if (code == ZSTD_error_memory_allocation)
            rc = MV_ERR_NOMEM;
        else if (code == ZSTD_error_dstSize_tooSmall)
            rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    out->len += got;
    out->ptr[out->len] = 0;
    rc = MV_OK;
out:
    if (rc != MV_OK && out->ptr && out->cap > out->len)
        mv_wipe(out->ptr + out->len, out->cap - out->len);
    ZSTD_freeCCtx(cctx);
    return rc;
}

mv_err mv_zstd_decompress(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
{
    /* Frame magic (RFC 8878 section 3.1.1), little-endian. Skippable frames and legacy
     * formats have other magics and are refused: the input must be one zstd frame. */
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    mv_err rc = MV_ERR_PARSE;
    ZSTD_DCtx *dctx = NULL;
    unsigned long long declared;
    size_t frame, got;

    if (!out || (!in && len))
        return MV_ERR_INVAL;
    if (len < sizeof magic || memcmp(in, magic, sizeof magic) != 0)
        return MV_ERR_PARSE;
    frame = ZSTD_findFrameCompressedSize(in, len);
    if (ZSTD_isError(frame) || frame != len)
        return MV_ERR_PARSE; /* truncated, corrupt framing, or trailing bytes */
    declared = ZSTD_getFrameContentSize(in, len);
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR)
        return MV_ERR_PARSE;
    if (declared > max_out || out->len > out->max || declared > out->max - out->len)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_buf_reserve(out, (size_t)declared)) != MV_OK)
        goto out;
    if (!(dctx = ZSTD_createDCtx_advanced(wiping_mem))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    /* One-shot decompression writes straight into out (no window buffer), and its capacity
     * is the declared size: a frame whose blocks decode to more (or less) is corrupt. */
    got = ZSTD_decompressDCtx(dctx, out->ptr + out->len, (size_t)declared, in, len);
    if (ZSTD_isError(got)) {
        rc = ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation ? MV_ERR_NOMEM : MV_ERR_PARSE;
        goto out;
    }
    if (got != declared) {
        rc = MV_ERR_PARSE;
        goto out;
    }
    out->len += got;
    out->ptr[out->len] = 0;
    rc = MV_OK;
out:
    if (rc != MV_OK && out->ptr && out->cap > out->len)
        mv_wipe(out->ptr + out->len, out->cap - out->len);
    ZSTD_freeDCtx(dctx);
    return rc;
}
