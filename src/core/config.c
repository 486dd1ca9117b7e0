/* config.c - daemon configuration files: only well-formed, capped, duplicate-free `key = value`
 * text is accepted, unknown keys can be refused, and values (possibly secrets) are wiped on free. */
#include "core/utf8.h"
#include "medvault/mv_config.h"
#include "medvault/mv_buf.h"
#include "medvault/mv_mem.h"
#include "medvault/mv_file.h"
#include "medvault/mv_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct entry {
    const char *key;
    const char *value;
    size_t line;
} entry;

struct mv_config {
    entry *e;               /* file order */
    size_t n, cap;
    const entry **sorted;   /* by key, for lookup */
    char *arena;            /* every key and value, NUL-terminated */
    size_t arena_len;
};

static int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

static int is_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629 section 4), or 0. */
/* Well-formed UTF-8 without NUL or control characters other than TAB. */
static int line_chars_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
        size_t k = mv_utf8_seq(s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static int entry_ptr_cmp(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int key_entry_cmp(const void *k, const void *b)
{
    const entry *y = *(const entry *const *)b;
    return strcmp((const char *)k, y->key);
}

/* Parses one line s[0..n) (line end removed) into cfg, copying key and value to the arena. */
static mv_err parse_line(mv_config *cfg, const unsigned char *s, size_t n, size_t line)
{
    size_t i = 0;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] == '#')
        return MV_OK;
    while (n > i && is_blank(s[n - 1]))
        n--;
    size_t ks = i;
    while (i < n && is_key_char(s[i]))
        i++;
    size_t ke = i;
    if (ke == ks)
        return MV_ERR_PARSE;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] != '=')
        return MV_ERR_PARSE;
    i++;
    while (i < n && is_blank(s[i]))
        i++;

    mv_err rc = mv_array_grow(&cfg->e, &cfg->cap, cfg->n, sizeof *cfg->e, 16);
    if (rc != MV_OK)
        return rc;
    /* Key and value with their NULs take at most the line's bytes (its '=' pays for one NUL)
     * plus its line end (or, for the last line, the arena's extra byte). */
    char *a = cfg->arena + cfg->arena_len;
    size_t w = 0;
    memcpy(a, s + ks, ke - ks);
    w = ke - ks;
    a[w++] = 0;
    char *v = a + w;
    size_t vl = 0;
    if (i < n && s[i] == '"') {
        i++;
        while (1) {
            if (i >= n)
                return MV_ERR_PARSE; /* unterminated */
            unsigned char c = s[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (i + 1 >= n || (s[i + 1] != '"' && s[i + 1] != '\\'))
                    return MV_ERR_PARSE;
                c = s[i + 1];
                i++;
            }
            v[vl++] = (char)c;
            i++;
        }
        i++;
        while (i < n && is_blank(s[i]))
            i++;
        if (i != n)
            return MV_ERR_PARSE;
    } else {
        vl = n - i;
        memcpy(v, s + i, vl);
    }
    v[vl] = 0;
    cfg->e[cfg->n].key = a;
    cfg->e[cfg->n].value = v;
    cfg->e[cfg->n].line = line;
    cfg->n++;
    cfg->arena_len += w + vl + 1;
    return MV_OK;
}

void mv_config_free(mv_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->arena) {
        mv_wipe(cfg->arena, cfg->arena_len);
        mv_free(cfg->arena);
    }
    mv_free(cfg->e);
    mv_free(cfg->sorted);
    mv_free(cfg);
}

mv_err mv_config_parse(const char *text, size_t len, mv_config **out, size_t *err_line)
{
    mv_err rc = MV_OK;
    mv_config *cfg = NULL;
    size_t line = 0;
    const unsigned char *in = (const unsigned char *)text;
    if (out)
        *out = NULL;
    if (err_line)
        *err_line = 0;
    if (!out || !text)
        return MV_ERR_INVAL;
    if (len > MV_CONFIG_MAX_BYTES)
        return MV_ERR_TOO_LARGE;
    if (!(cfg = mv_calloc(1, sizeof *cfg))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if (!(cfg->arena = mv_malloc(len + 1))) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    size_t pos = 0;
    while (pos < len) {
        const unsigned char *nl = memchr(in + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - in) : len;
        size_t n = end - pos;
        line++;
        if (n && in[pos + n - 1] == '\r' && nl)
            n--;
        if (n > MV_CONFIG_MAX_LINE) {
            rc = MV_ERR_TOO_LARGE;
            goto out;
        }
        if (!line_chars_ok(in + pos, n)) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        if ((rc = parse_line(cfg, in + pos, n, line)) != MV_OK)
            goto out;
        pos = nl ? end + 1 : len;
    }
    line = 0;
    if (cfg->n) {
        if (!(cfg->sorted = mv_mallocarray(cfg->n, sizeof *cfg->sorted))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < cfg->n; i++)
            cfg->sorted[i] = &cfg->e[i];
        qsort(cfg->sorted, cfg->n, sizeof *cfg->sorted, entry_ptr_cmp);
        /* Report the earliest line that repeats a key. */
        for (size_t i = 1; i < cfg->n; i++)
            if (strcmp(cfg->sorted[i - 1]->key, cfg->sorted[i]->key) == 0 &&
                (!line || cfg->sorted[i]->line < line))
                line = cfg->sorted[i]->line;
        if (line) {
            rc = MV_ERR_PARSE;
            goto out;
        }
    }
    *out = cfg;
    cfg = NULL;
out:
    if (rc != MV_OK && err_line && rc != MV_ERR_NOMEM)
        *err_line = line;
    mv_config_free(cfg);
    return rc;
}

mv_err mv_config_load(const char *path, mv_config **out, size_t *err_line)
{
    mv_err rc = MV_OK;
    mv_buf b;
    unsigned char chunk[4096];
    struct stat st;
    int fd = -1;
    mv_buf_init(&b, MV_CONFIG_MAX_BYTES);
    if (out)
        *out = NULL;
    if (err_line)
        *err_line = 0;
    if (!path || !out)
        return MV_ERR_INVAL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = errno == ENOENT ? MV_ERR_NOT_FOUND : MV_ERR_IO;
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = MV_ERR_IO;
        goto out;
    }
    if ((uintmax_t)st.st_size > MV_CONFIG_MAX_BYTES) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    while (1) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = MV_ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        /* The file may have grown since fstat: the buffer's cap still holds. */
        if ((rc = mv_buf_append(&b, chunk, (size_t)r)) != MV_OK)
            goto out;
    }
    rc = mv_config_parse((const char *)b.ptr, b.len, out, err_line);
out:
    if (fd >= 0)
        close(fd);
    mv_wipe(chunk, sizeof chunk);
    mv_buf_clear(&b);
    return rc;
}

static const entry *find(const mv_config *cfg, const char *key)
{
    if (!cfg || !key || !cfg->n)
        return NULL;
    const entry *const *hit = bsearch(key, cfg->sorted, cfg->n, sizeof *cfg->sorted, key_entry_cmp);
    return hit ? *hit : NULL;
}

const char *mv_config_get(const mv_config *cfg, const char *key)
{
    const entry *e = find(cfg, key);
    return e ? e->value : NULL;
}

size_t mv_config_line(const mv_config *cfg, const char *key)
{
    const entry *e = find(cfg, key);
    return e ? e->line : 0;
}

size_t mv_config_count(const mv_config *cfg) { return cfg ? cfg->n : 0; }

mv_err mv_config_get_u64(const mv_config *cfg, const char *key, uint64_t dflt, uint64_t min,
                         uint64_t max, uint64_t *out)
{
    if (!cfg || !key || !out)
        return MV_ERR_INVAL;
    const char *v = mv_config_get(cfg, key);
    if (!v) {
        *out = dflt;
        return MV_OK;
    }
    if (!*v)
        return MV_ERR_PARSE;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return MV_ERR_PARSE;
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return MV_ERR_PARSE;
        x = x * 10 + d;
    }
    if (x < min || x > max)
        return MV_ERR_INVAL;
    *out = x;
    return MV_OK;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a, cb = *b;
        if (ca >= 'A' && ca <= 'Z')
            ca = (char)(ca - 'A' + 'a');
        if (ca != cb)
            return 0;
    }
    return *a == *b;
}

mv_err mv_config_get_bool(const mv_config *cfg, const char *key, int dflt, int *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};
    if (!cfg || !key || !out)
        return MV_ERR_INVAL;
    const char *v = mv_config_get(cfg, key);
    if (!v) {
        *out = dflt != 0;
        return MV_OK;
    }
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (ascii_ieq(v, yes[i])) {
            *out = 1;
            return MV_OK;
        }
        if (ascii_ieq(v, no[i])) {
            *out = 0;
            return MV_OK;
        }
    }
    return MV_ERR_PARSE;
}

mv_err mv_config_check_keys(const mv_config *cfg, const char *const *allowed, const char **bad_key)
{
    if (bad_key)
        *bad_key = NULL;
    if (!cfg || !allowed)
        return MV_ERR_INVAL;
    for (size_t i = 0; i < cfg->n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) {
            if (strcmp(*a, cfg->e[i].key) == 0) {
                ok = 1;
                break;
            }
        }
        if (!ok) {
            if (bad_key)
                *bad_key = cfg->e[i].key;
            return MV_ERR_PARSE;
        }
    }
    return MV_OK;
}

mv_err mv_config_load_settings(const char *dir, const char *file, const char *component,
                               const char *const *allowed, mv_config_num *nums, size_t n, mv_config **out,
                               size_t *err_line)
{
    char path[4096];
    mv_config *c = NULL;
    mv_err rc;
    if (out)
        *out = NULL;
    if (err_line)
        *err_line = 0;
    for (size_t i = 0; i < n; i++)
        nums[i].v = nums[i].dflt;
    if (!dir || !file)
        return MV_OK;
    if ((rc = mv_path_join(path, sizeof path, dir, file)) != MV_OK)
        return rc;
    if (!mv_file_exists(path))
        return MV_OK;
    if ((rc = mv_config_load(path, &c, err_line)) != MV_OK)
        return rc;
    const char *bad = NULL;
    if ((rc = mv_config_check_keys(c, allowed, &bad)) != MV_OK) {
        if (bad && err_line)
            *err_line = mv_config_line(c, bad);
        mv_log(MV_LOG_ERROR, component, "%s: unknown setting '%s'", path, bad ? bad : "?");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (mv_config_get_u64(c, nums[i].key, nums[i].dflt, nums[i].min, nums[i].max, &nums[i].v) != MV_OK) {
            if (err_line)
                *err_line = mv_config_line(c, nums[i].key);
            mv_log(MV_LOG_ERROR, component, "%s: %s must be a whole number from %llu to %llu", path, nums[i].key,
                   (unsigned long long)nums[i].min, (unsigned long long)nums[i].max);
            rc = MV_ERR_PARSE;
            goto out;
        }
    }
    if (out) {
        *out = c;
        c = NULL;
    }
out:
    mv_config_free(c);
    return rc;
}
