/* file.c - atomic replace (write tmp, fsync, rename, fsync dir): a crash leaves old or new, never half. */
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

mv_err mv_path_join(char *out, size_t out_cap, const char *dir, const char *name)
{
    int n = snprintf(out, out_cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= out_cap)
        return MV_ERR_TOO_LARGE;
    return MV_OK;
}

int mv_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static mv_err fsync_dir_of(const char *path)
{
    char tmp[4096];
    if (strlen(path) >= sizeof tmp)
        return MV_ERR_TOO_LARGE;
    memcpy(tmp, path, strlen(path) + 1);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return MV_ERR_IO;
    int rc = fsync(dfd);
    close(dfd);
    return rc == 0 ? MV_OK : MV_ERR_IO;
}

mv_err mv_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4096];
    int fd = -1;
    mv_err rc = MV_ERR_IO;
    if (!path || (len && !data))
        return MV_ERR_INVAL;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return MV_ERR_TOO_LARGE;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return MV_ERR_IO;
    if (fchmod(fd, mode) != 0)
        goto out;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto out;
    rc = fsync_dir_of(path);
    return rc;
out:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

mv_err mv_file_read(const char *path, size_t max, mv_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? MV_ERR_NOT_FOUND : MV_ERR_IO;
    mv_err rc = MV_OK;
    size_t total = 0;
    uint8_t chunk[8192];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = MV_ERR_IO;
            break;
        }
        if (r == 0)
            break;
        if ((size_t)r > max - total) {
            rc = MV_ERR_TOO_LARGE;
            break;
        }
        total += (size_t)r;
        if ((rc = mv_buf_append(out, chunk, (size_t)r)) != MV_OK)
            break;
    }
    mv_wipe(chunk, sizeof chunk);
    close(fd);
    return rc;
}

mv_err mv_file_mkdir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return MV_OK;
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return MV_OK;
    return MV_ERR_IO;
}
