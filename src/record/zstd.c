/* zstd.c - one-frame zstd: decompression never allocates past a declared, capped size, and
 * libzstd's workspaces (which hold plaintext fragments) are wiped before they are freed. */
#include "medvault/mv_zstd.h"

#include <pthread.h>
#include <string.h>

/* The custom allocator (ZSTD_customMem, ZSTD_create?Ctx_advanced) is in zstd's "static" API
 * section. Its shape has been unchanged since zstd 1.3 and libzstd.so exports it; we use it
 * so every workspace goes through mv_malloc (fault injection) and is wiped on free. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

#include "medvault/mv_mem.h"
#include "record/zdict_data.h"

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

/* ---------- the embedded dictionaries ---------- */

/* Every dictionary medvault ever shipped, by id. A body names its dictionary in its frame
 * header, so an id once used must stay here forever (docs/records.md). */
typedef struct zdict {
    unsigned id;
    const unsigned char *bytes;
    const size_t *len;
} zdict;

static const zdict dicts[] = {
    {MV_ZSTD_DICT_FHIR_R4_1, mv_zdict_fhir_r4_1, &mv_zdict_fhir_r4_1_len},
};
#define N_DICTS (sizeof dicts / sizeof dicts[0])

static const zdict *dict_find(unsigned id)
{
    for (size_t i = 0; i < N_DICTS; i++)
        if (dicts[i].id == id)
            return &dicts[i];
    return NULL;
}

/* ---------- per-thread contexts ---------- */

/* Creating a ZSTD_CCtx and warming its workspace costs more than compressing a 600-byte
 * skeleton, and a digested dictionary (CDict) far more, so each thread keeps one of each and
 * resets it before every use (parameters and dictionary included, so every call still
 * depends only on its arguments). Between uses a context's workspace still holds fragments
 * of the last plaintext: it is wiped when freed, at thread exit (the key's destructor) or by
 * mv_zstd_thread_release. The only process-wide state is the key itself, created once. */
typedef struct zcache {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
    const ZSTD_CDict *cdict[N_DICTS];
    void *cdict_mem[N_DICTS];
    size_t cdict_size[N_DICTS];
    int cdict_level[N_DICTS];
    const ZSTD_DDict *ddict[N_DICTS];
    void *ddict_mem[N_DICTS];
    size_t ddict_size[N_DICTS];
} zcache;

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;
static _Thread_local zcache *tls;

/* A digested dictionary lives in a workspace we allocate (see cdict_get). It holds only the
 * public dictionary, but is wiped like everything else for uniformity. */
static void ws_free(void **mem, size_t *size)
{
    if (*mem) {
        mv_wipe(*mem, *size);
        mv_free(*mem);
    }
    *mem = NULL;
    *size = 0;
}

static void cache_free(zcache *z)
{
    if (!z)
        return;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    for (size_t i = 0; i < N_DICTS; i++) {
        ws_free(&z->cdict_mem[i], &z->cdict_size[i]);
        ws_free(&z->ddict_mem[i], &z->ddict_size[i]);
    }
    mv_wipe(z, sizeof *z);
    mv_free(z);
}

static void cache_destructor(void *p)
{
    cache_free(p);
    tls = NULL;
}

static void key_create(void)
{
    key_ok = pthread_key_create(&key, cache_destructor) == 0;
}

/* This thread's cache, created on first use; NULL when out of memory. */
static zcache *cache_get(void)
{
    if (tls)
        return tls;
    zcache *z = mv_calloc(1, sizeof *z);
    if (!z)
        return NULL;
    /* Without the key (pthread_key_create failed: out of keys), the cache still works but is
     * freed only by mv_zstd_thread_release. */
    if (pthread_once(&key_once, key_create) == 0 && key_ok && pthread_setspecific(key, z) != 0) {
        mv_free(z);
        return NULL;
    }
    tls = z;
    return z;
}

void mv_zstd_thread_release(void)
{
    zcache *z = tls;
    if (!z)
        return;
    tls = NULL;
    if (key_ok)
        (void)pthread_setspecific(key, NULL);
    cache_free(z);
}

/* The thread's compression context, reset to defaults (no dictionary). */
static mv_err cctx_get(ZSTD_CCtx **out)
{
    zcache *z = cache_get();
    if (!z)
        return MV_ERR_NOMEM;
    if (!z->c && !(z->c = ZSTD_createCCtx_advanced(wiping_mem)))
        return MV_ERR_NOMEM;
    if (ZSTD_isError(ZSTD_CCtx_reset(z->c, ZSTD_reset_session_and_parameters)))
        return MV_ERR_INVAL;
    *out = z->c;
    return MV_OK;
}

static mv_err dctx_get(ZSTD_DCtx **out)
{
    zcache *z = cache_get();
    if (!z)
        return MV_ERR_NOMEM;
    if (!z->d && !(z->d = ZSTD_createDCtx_advanced(wiping_mem)))
        return MV_ERR_NOMEM;
    if (ZSTD_isError(ZSTD_DCtx_reset(z->d, ZSTD_reset_session_and_parameters)))
        return MV_ERR_INVAL;
    *out = z->d;
    return MV_OK;
}

/* The digested dictionary d for compression at level, created once per thread and level. The
 * dictionary bytes are referenced, not copied: they are the library's constant data. It is
 * built in a workspace of our own (the "static" CDict API) rather than by
 * ZSTD_createCDict_advanced, which in libzstd 1.5.4 dereferences NULL when one of its
 * allocations fails (found by test_zstd's allocation failures). */
static mv_err cdict_get(const zdict *d, int level, const ZSTD_CDict **out)
{
    zcache *z = cache_get();
    size_t i = (size_t)(d - dicts);
    if (!z)
        return MV_ERR_NOMEM;
    if (z->cdict[i] && z->cdict_level[i] != level) {
        z->cdict[i] = NULL;
        ws_free(&z->cdict_mem[i], &z->cdict_size[i]);
    }
    if (!z->cdict[i]) {
        ZSTD_compressionParameters cp = ZSTD_getCParams(level, 0, *d->len);
        size_t size = ZSTD_estimateCDictSize_advanced(*d->len, cp, ZSTD_dlm_byRef);
        if (ZSTD_isError(size))
            return MV_ERR_INVAL;
        if (!(z->cdict_mem[i] = mv_malloc(size)))
            return MV_ERR_NOMEM;
        z->cdict_size[i] = size;
        z->cdict[i] = ZSTD_initStaticCDict(z->cdict_mem[i], size, d->bytes, *d->len, ZSTD_dlm_byRef,
                                           ZSTD_dct_fullDict, cp);
        if (!z->cdict[i]) { /* a dictionary we built in is malformed: a build defect */
            ws_free(&z->cdict_mem[i], &z->cdict_size[i]);
            return MV_ERR_INVAL;
        }
        z->cdict_level[i] = level;
    }
    *out = z->cdict[i];
    return MV_OK;
}

static mv_err ddict_get(const zdict *d, const ZSTD_DDict **out)
{
    zcache *z = cache_get();
    size_t i = (size_t)(d - dicts);
    if (!z)
        return MV_ERR_NOMEM;
    if (!z->ddict[i]) {
        size_t size = ZSTD_estimateDDictSize(*d->len, ZSTD_dlm_byRef);
        if (!(z->ddict_mem[i] = mv_malloc(size)))
            return MV_ERR_NOMEM;
        z->ddict_size[i] = size;
        z->ddict[i] = ZSTD_initStaticDDict(z->ddict_mem[i], size, d->bytes, *d->len, ZSTD_dlm_byRef, ZSTD_dct_fullDict);
        if (!z->ddict[i]) {
            ws_free(&z->ddict_mem[i], &z->ddict_size[i]);
            return MV_ERR_INVAL;
        }
    }
    *out = z->ddict[i];
    return MV_OK;
}

/* ---------- compression ---------- */

static mv_err compress(const uint8_t *in, size_t len, int level, unsigned dict_id, mv_buf *out)
{
    static const uint8_t empty[1] = {0};
    mv_err rc = MV_ERR_INVAL;
    ZSTD_CCtx *cctx = NULL;
    const ZSTD_CDict *cdict = NULL;
    const zdict *d = NULL;
    size_t bound, room, got = 0;

    if (!out || (!in && len))
        return MV_ERR_INVAL;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return MV_ERR_INVAL;
    if (dict_id && !(d = dict_find(dict_id)))
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
    if ((rc = cctx_get(&cctx)) != MV_OK || (d && (rc = cdict_get(d, level, &cdict)) != MV_OK))
        goto out;
    rc = MV_ERR_INVAL;
    /* Everything that shapes the frame is set explicitly, so the output depends only on
     * (input, level, dictionary, libzstd version). nbWorkers 0 is single-threaded, blocking
     * mode. A dictionary's id is always written: it is how the reader finds the dictionary. */
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, d ? 1 : 0)) ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 0)) ||
        (cdict && ZSTD_isError(ZSTD_CCtx_refCDict(cctx, cdict))))
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
    if (cctx)
        (void)ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters); /* drops the CDict reference */
    return rc;
}

mv_err mv_zstd_compress(const uint8_t *in, size_t len, int level, mv_buf *out)
{
    return compress(in, len, level, 0, out);
}

mv_err mv_zstd_compress_dict(const uint8_t *in, size_t len, int level, unsigned dict_id, mv_buf *out)
{
    if (!dict_id)
        return MV_ERR_INVAL;
    return compress(in, len, level, dict_id, out);
}

/* ---------- decompression ---------- */

static mv_err decompress(const uint8_t *in, size_t len, size_t max_out, int dict_ok, mv_buf *out)
{
    /* Frame magic (RFC 8878 section 3.1.1), little-endian. Skippable frames and legacy
     * formats have other magics and are refused: the input must be one zstd frame. */
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    mv_err rc = MV_ERR_PARSE;
    ZSTD_DCtx *dctx = NULL;
    const ZSTD_DDict *ddict = NULL;
    const zdict *d = NULL;
    unsigned long long declared;
    unsigned id;
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
    /* A frame naming a dictionary we do not have (or naming one where none is allowed) is
     * refused before anything is allocated. Id 0 means the frame names none. */
    id = ZSTD_getDictID_fromFrame(in, len);
    if (id && (!dict_ok || !(d = dict_find(id))))
        return MV_ERR_PARSE;
    if (declared > max_out || out->len > out->max || declared > out->max - out->len)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_buf_reserve(out, (size_t)declared)) != MV_OK)
        goto out;
    if ((rc = dctx_get(&dctx)) != MV_OK || (d && (rc = ddict_get(d, &ddict)) != MV_OK))
        goto out;
    if (ddict && ZSTD_isError(ZSTD_DCtx_refDDict(dctx, ddict))) {
        rc = MV_ERR_INVAL;
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
    if (dctx)
        (void)ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
    return rc;
}

mv_err mv_zstd_decompress(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
{
    return decompress(in, len, max_out, 0, out);
}

mv_err mv_zstd_decompress_dict(const uint8_t *in, size_t len, size_t max_out, mv_buf *out)
{
    return decompress(in, len, max_out, 1, out);
}

unsigned mv_zstd_frame_dict_id(const uint8_t *in, size_t len)
{
    return in ? ZSTD_getDictID_fromFrame(in, len) : 0;
}
