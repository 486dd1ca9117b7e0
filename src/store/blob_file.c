/* blob_file.c - local pack files: data reaches the disk (fdatasync, and an fsync of the packs
 * directory for a new file) before the engine lets the index name it. */
#include "blob.h"
#include "fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "medvault/mv_mem.h"

#define PATH_CAP 4096
#define READ_CHUNK ((size_t)1 << 20)
#define IOV_BATCH 512 /* entries per pwritev: 2 iovecs each, under IOV_MAX (1024) */

typedef struct blob_file {
    mv_blob base;
    char dir[PATH_CAP];
    /* The pack being appended to stays open (only the serialised writer touches these). */
    uint32_t wpack;
    int wfd;
    int dir_dirty; /* a pack file was created since the last directory fsync */
} blob_file;

static mv_err pack_path(const blob_file *f, uint32_t pack, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%08" PRIu32 ".pack", f->dir, pack);
    return n < 0 || (size_t)n >= cap ? MV_ERR_TOO_LARGE : MV_OK;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void close_wfd(blob_file *f)
{
    if (f->wfd >= 0)
        close(f->wfd);
    f->wfd = -1;
    f->wpack = 0;
}

/* Opens pack for writing, creating it if needed (creation is a mutating step). */
static mv_err open_w(blob_file *f, uint32_t pack)
{
    char path[PATH_CAP];
    mv_err rc;
    if (f->wfd >= 0 && f->wpack == pack)
        return MV_OK;
    close_wfd(f);
    if ((rc = pack_path(f, pack, path, sizeof path)) != MV_OK)
        return rc;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mv_store_fault_hit())
            return MV_ERR_IO;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            f->dir_dirty = 1;
    }
    if (fd < 0)
        return MV_ERR_IO;
    f->wfd = fd;
    f->wpack = pack;
    return MV_OK;
}

static int full_pwritev(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    while (cnt > 0) {
        ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (uint64_t)w;
        size_t done = (size_t)w;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

static mv_err bf_append(mv_blob *b, uint32_t pack, uint64_t off, const mv_blob_entry *e, size_t n)
{
    blob_file *f = (blob_file *)b;
    uint8_t hdr[IOV_BATCH][MV_BLOB_ENTRY_OVERHEAD];
    struct iovec iov[2 * IOV_BATCH];
    mv_err rc;
    if ((rc = open_w(f, pack)) != MV_OK)
        return rc;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        uint64_t start = off;
        for (; k < IOV_BATCH && i < n; k++, i++) {
            if (e[i].len > UINT32_MAX)
                return MV_ERR_INVAL;
            put_u32le(hdr[k], (uint32_t)e[i].len);
            memcpy(hdr[k] + 4, e[i].tag, 32);
            iov[2 * k].iov_base = hdr[k];
            iov[2 * k].iov_len = MV_BLOB_ENTRY_OVERHEAD;
            iov[2 * k + 1].iov_base = (void *)(uintptr_t)e[i].data;
            iov[2 * k + 1].iov_len = e[i].len;
            off += MV_BLOB_ENTRY_OVERHEAD + e[i].len;
        }
        if (mv_store_fault_hit())
            return MV_ERR_IO;
        if (full_pwritev(f->wfd, iov, (int)(2 * k), start) != 0)
            return MV_ERR_IO;
    }
    return MV_OK;
}

static mv_err fsync_dir(blob_file *f)
{
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    int dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return MV_ERR_IO;
    int r = fsync(dfd);
    close(dfd);
    return r == 0 ? MV_OK : MV_ERR_IO;
}

static mv_err bf_sync(mv_blob *b, uint32_t pack)
{
    blob_file *f = (blob_file *)b;
    mv_err rc;
    if ((rc = open_w(f, pack)) != MV_OK)
        return rc;
    if (mv_store_fault_hit() || fdatasync(f->wfd) != 0)
        return MV_ERR_IO;
    if (f->dir_dirty) {
        if ((rc = fsync_dir(f)) != MV_OK)
            return rc;
        f->dir_dirty = 0;
    }
    return MV_OK;
}

static int full_pread(int fd, void *p, size_t n, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (uint8_t *)p + done, n - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static mv_err open_r(const blob_file *f, uint32_t pack, int *fd)
{
    char path[PATH_CAP];
    mv_err rc;
    if ((rc = pack_path(f, pack, path, sizeof path)) != MV_OK)
        return rc;
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOENT ? MV_ERR_NOT_FOUND : MV_ERR_IO;
    return MV_OK;
}

static mv_err bf_read(mv_blob *b, uint32_t pack, uint64_t off, size_t len, uint8_t tag[32],
                      mv_buf *out)
{
    blob_file *f = (blob_file *)b;
    uint8_t hdr[MV_BLOB_ENTRY_OVERHEAD];
    size_t got = 0, old_len = out->len;
    int fd = -1;
    mv_err rc;
    if ((rc = open_r(f, pack, &fd)) != MV_OK)
        return rc;
    rc = MV_ERR_IO;
    if (full_pread(fd, hdr, sizeof hdr, off, &got) != 0)
        goto out;
    rc = MV_ERR_VERIFY;
    if (got != sizeof hdr || get_u32le(hdr) != len)
        goto out;
    memcpy(tag, hdr + 4, 32);
    if ((rc = mv_buf_reserve(out, len)) != MV_OK)
        goto out;
    rc = MV_ERR_IO;
    if (full_pread(fd, out->ptr + out->len, len, off + sizeof hdr, &got) != 0)
        goto out;
    rc = MV_ERR_VERIFY;
    if (got != len)
        goto out;
    out->len += len;
    out->ptr[out->len] = 0;
    rc = MV_OK;
out:
    if (rc != MV_OK) {
        out->len = old_len;
        if (out->ptr)
            out->ptr[old_len] = 0;
    }
    close(fd);
    return rc;
}

static mv_err bf_read_range(mv_blob *b, uint32_t pack, uint64_t off, uint64_t at, size_t len,
                            mv_buf *out)
{
    blob_file *f = (blob_file *)b;
    size_t got = 0, old_len = out->len;
    int fd = -1;
    mv_err rc;
    if ((rc = open_r(f, pack, &fd)) != MV_OK)
        return rc;
    if ((rc = mv_buf_reserve(out, len)) != MV_OK)
        goto out;
    rc = MV_ERR_IO;
    if (full_pread(fd, out->ptr + out->len, len, off + MV_BLOB_ENTRY_OVERHEAD + at, &got) != 0)
        goto out;
    rc = MV_ERR_VERIFY;
    if (got != len)
        goto out;
    out->len += len;
    out->ptr[out->len] = 0;
    rc = MV_OK;
out:
    if (rc != MV_OK && out->ptr) {
        out->len = old_len;
        out->ptr[old_len] = 0;
    }
    close(fd);
    return rc;
}

static mv_err bf_iterate(mv_blob *b, uint32_t pack, uint64_t end, size_t max_len,
                         mv_blob_entry_fn fn, void *ctx, uint64_t *bad_off)
{
    blob_file *f = (blob_file *)b;
    uint8_t *buf = NULL;
    size_t cap = READ_CHUNK, have = 0, pos = 0; /* buf[pos..have) holds file bytes from base */
    uint64_t base = 0, off = 0;
    int fd = -1;
    mv_err rc;
    *bad_off = 0;
    if ((rc = open_r(f, pack, &fd)) != MV_OK)
        return rc;
    rc = MV_ERR_NOMEM;
    if (!(buf = mv_malloc(cap)))
        goto out;
    while (off < end) {
        /* Make sure the whole entry (header, then data) is in buf[pos..have). */
        size_t need = MV_BLOB_ENTRY_OVERHEAD;
        for (int pass = 0; pass < 2; pass++) {
            if (have - pos < need) {
                memmove(buf, buf + pos, have - pos);
                have -= pos;
                base += pos;
                pos = 0;
                if (need > cap) {
                    uint8_t *nb = mv_realloc(buf, need);
                    rc = MV_ERR_NOMEM;
                    if (!nb)
                        goto out;
                    buf = nb;
                    cap = need;
                }
                uint64_t want = end - (base + have);
                if (want > cap - have)
                    want = cap - have;
                size_t got = 0;
                rc = MV_ERR_IO;
                if (full_pread(fd, buf + have, (size_t)want, base + have, &got) != 0)
                    goto out;
                have += got;
                rc = MV_ERR_PARSE;
                if (have - pos < need)
                    goto bad; /* short file or an entry crossing end */
            }
            if (pass == 0) {
                uint32_t len = get_u32le(buf + pos);
                if (len > max_len)
                    goto bad;
                need = MV_BLOB_ENTRY_OVERHEAD + (size_t)len;
            }
        }
        if ((rc = fn(ctx, off, buf + pos + 4, buf + pos + MV_BLOB_ENTRY_OVERHEAD,
                     need - MV_BLOB_ENTRY_OVERHEAD)) != MV_OK)
            goto out;
        pos += need;
        off += need;
    }
    *bad_off = end;
    rc = MV_OK;
    goto out;
bad:
    *bad_off = off;
    rc = MV_ERR_PARSE;
out:
    mv_free(buf);
    close(fd);
    return rc;
}

/* Strict pack names: exactly 8 decimal digits then ".pack". */
static int parse_name(const char *name, uint32_t *pack)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (strcmp(name + 8, ".pack") != 0 || v == 0 || v > UINT32_MAX)
        return 0;
    *pack = (uint32_t)v;
    return 1;
}

static mv_err bf_list(mv_blob *b, mv_blob_pack_fn fn, void *ctx)
{
    blob_file *f = (blob_file *)b;
    DIR *d = opendir(f->dir);
    mv_err rc = MV_OK;
    if (!d)
        return MV_ERR_IO;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno != 0)
                rc = MV_ERR_IO;
            break;
        }
        uint32_t pack;
        if (!parse_name(de->d_name, &pack))
            continue;
        char path[PATH_CAP];
        struct stat st;
        if ((rc = pack_path(f, pack, path, sizeof path)) != MV_OK)
            break;
        if (stat(path, &st) != 0) {
            if (errno == ENOENT)
                continue;
            rc = MV_ERR_IO;
            break;
        }
        if ((rc = fn(ctx, pack, (uint64_t)st.st_size)) != MV_OK)
            break;
    }
    closedir(d);
    return rc;
}

static mv_err bf_truncate(mv_blob *b, uint32_t pack, uint64_t size)
{
    blob_file *f = (blob_file *)b;
    char path[PATH_CAP];
    struct stat st;
    mv_err rc;
    if ((rc = pack_path(f, pack, path, sizeof path)) != MV_OK)
        return rc;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? MV_ERR_NOT_FOUND : MV_ERR_IO;
    if ((uint64_t)st.st_size <= size)
        return MV_OK;
    if (mv_store_fault_hit() || truncate(path, (off_t)size) != 0)
        return MV_ERR_IO;
    return MV_OK;
}

static mv_err bf_remove(mv_blob *b, uint32_t pack)
{
    blob_file *f = (blob_file *)b;
    char path[PATH_CAP];
    mv_err rc;
    if ((rc = pack_path(f, pack, path, sizeof path)) != MV_OK)
        return rc;
    if (f->wpack == pack)
        close_wfd(f);
    if (mv_store_fault_hit())
        return MV_ERR_IO;
    if (unlink(path) != 0 && errno != ENOENT)
        return MV_ERR_IO;
    return MV_OK;
}

static void bf_close(mv_blob *b)
{
    blob_file *f = (blob_file *)b;
    if (!f)
        return;
    close_wfd(f);
    mv_free(f);
}

static const mv_blob_ops file_ops = {
    .append = bf_append,
    .sync = bf_sync,
    .read = bf_read,
    .read_range = bf_read_range,
    .iterate = bf_iterate,
    .list = bf_list,
    .truncate = bf_truncate,
    .remove = bf_remove,
    .close = bf_close,
};

mv_err mv_blob_file_open(const char *dir, mv_blob **out)
{
    *out = NULL;
    if (strlen(dir) >= PATH_CAP - 32)
        return MV_ERR_TOO_LARGE;
    blob_file *f = mv_calloc(1, sizeof *f);
    if (!f)
        return MV_ERR_NOMEM;
    f->base.ops = &file_ops;
    memcpy(f->dir, dir, strlen(dir) + 1);
    f->wfd = -1;
    *out = &f->base;
    return MV_OK;
}
