/* canon.c - canonical JSON: equal content always gives equal bytes, and every member of the
 * input is written exactly once (or the write fails), so nothing is silently lost or merged. */
#include "record/canon_ex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "medvault/mv_canon.h"
#include "medvault/mv_mem.h"

/* One object member to write; members sharing a key (only from merged objects) are adjacent
 * after sorting and become one member. */
typedef struct citem {
    const char *k;
    size_t kl;
    const mv_json *v;
} citem;

typedef struct cframe {
    const mv_json *arr; /* non-NULL for an array frame */
    citem *items;       /* object frame: sorted members (owned) */
    size_t n, next;
} cframe;

typedef struct writer {
    mv_buf *out;
    const mv_canon_overlay *ov;
    size_t n_ov;
    const mv_json *const *ex;
    size_t n_ex;
    cframe *st;
    size_t n_st, cap_st;
} writer;

/* UTF-16 code units of a UTF-8 string, one at a time (RFC 8785 section 3.2.3 compares keys
 * as UTF-16). A byte that does not start a well-formed sequence (impossible for parsed keys)
 * maps to a unit above 0xFFFF so the order stays total and deterministic. */
typedef struct u16it {
    const unsigned char *s;
    size_t n, i;
    uint32_t pend; /* low surrogate still to return, or 0 */
} u16it;

static int u16_next(u16it *it, uint32_t *u)
{
    if (it->pend) {
        *u = it->pend;
        it->pend = 0;
        return 1;
    }
    if (it->i >= it->n)
        return 0;
    const unsigned char *p = it->s + it->i;
    size_t k = mv_utf8_seq(p, it->n - it->i);
    uint32_t cp;
    switch (k) {
    case 1: cp = p[0]; break;
    case 2: cp = (uint32_t)(p[0] & 0x1f) << 6 | (uint32_t)(p[1] & 0x3f); break;
    case 3: cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (uint32_t)(p[2] & 0x3f); break;
    case 4:
        cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 | (uint32_t)(p[2] & 0x3f) << 6 |
             (uint32_t)(p[3] & 0x3f);
        break;
    default:
        *u = 0x10000u + p[0];
        it->i++;
        return 1;
    }
    it->i += k;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *u = 0xD800 + (cp >> 10);
        it->pend = 0xDC00 + (cp & 0x3ff);
    } else {
        *u = cp;
    }
    return 1;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    u16it x = {(const unsigned char *)a, al, 0, 0}, y = {(const unsigned char *)b, bl, 0, 0};
    while (1) {
        uint32_t ua = 0, ub = 0;
        int ha = u16_next(&x, &ua), hb = u16_next(&y, &ub);
        if (!ha || !hb)
            return ha - hb; /* a proper prefix sorts first */
        if (ua != ub)
            return ua < ub ? -1 : 1;
    }
}

static int citem_cmp(const void *a, const void *b)
{
    const citem *x = a, *y = b;
    return key_cmp(x->k, x->kl, y->k, y->kl);
}

static int ptr_cmp(uintptr_t a, uintptr_t b) { return (a > b) - (a < b); }

static int node_cmp(const void *a, const void *b)
{
    return ptr_cmp((uintptr_t) * (const mv_json *const *)a, (uintptr_t) * (const mv_json *const *)b);
}

static int overlay_cmp(const void *a, const void *b)
{
    const mv_canon_overlay *x = a, *y = b;
    int c = ptr_cmp((uintptr_t)x->target, (uintptr_t)y->target);
    return c ? c : ptr_cmp((uintptr_t)x->obj, (uintptr_t)y->obj);
}

void mv_canon_overlay_sort(mv_canon_overlay *ov, size_t n)
{
    if (n > 1)
        qsort(ov, n, sizeof *ov, overlay_cmp);
}

void mv_canon_nodes_sort(const mv_json **nodes, size_t n)
{
    if (n > 1)
        qsort(nodes, n, sizeof *nodes, node_cmp);
}

static int excluded(const writer *w, const mv_json *v)
{
    size_t lo = 0, hi = w->n_ex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = ptr_cmp((uintptr_t)w->ex[mid], (uintptr_t)v);
        if (!c)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Index of the first overlay whose target is v (n_ov if none). */
static size_t overlay_first(const writer *w, const mv_json *v)
{
    size_t lo = 0, hi = w->n_ov;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ptr_cmp((uintptr_t)w->ov[mid].target, (uintptr_t)v) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mv_err push(writer *w, const mv_json *arr, citem *items, size_t n)
{
    mv_err rc = mv_array_grow(&w->st, &w->cap_st, w->n_st, sizeof *w->st, 16);
    if (rc != MV_OK)
        return rc;
    w->st[w->n_st++] = (cframe){arr, items, n, 0};
    return MV_OK;
}

/* Appends the object obj's members that are not excluded to items[*n..). */
static void add_members(const writer *w, const mv_json *obj, citem *items, size_t *n)
{
    for (size_t i = 0; i < mv_json_len(obj); i++) {
        const mv_json *v = mv_json_value_at(obj, i);
        if (excluded(w, v))
            continue;
        citem *it = &items[(*n)++];
        it->k = mv_json_key_at(obj, i, &it->kl);
        it->v = v;
    }
}

/* Writes the value formed by the nodes grp[0..n) (n > 1 only for equal keys of merged
 * objects) plus their overlays: a scalar is written at once, a container is opened and pushed. */
static mv_err emit(writer *w, const citem *grp, size_t n)
{
    const mv_json *v = grp[0].v;
    mv_err rc;
    size_t total = 0, m = 0;
    citem *items = NULL;
    for (size_t g = 0; g < n; g++) {
        if (mv_json_type_of(grp[g].v) != MV_JSON_OBJECT) {
            if (n > 1)
                return MV_ERR_PARSE; /* the same key in two merged objects, not both objects */
            break;
        }
        total += mv_json_len(grp[g].v);
        for (size_t o = overlay_first(w, grp[g].v); o < w->n_ov && w->ov[o].target == grp[g].v; o++) {
            if (mv_json_type_of(w->ov[o].obj) != MV_JSON_OBJECT)
                return MV_ERR_PARSE;
            total += mv_json_len(w->ov[o].obj);
        }
    }
    switch (mv_json_type_of(v)) {
    case MV_JSON_NULL: return mv_buf_append(w->out, "null", 4);
    case MV_JSON_FALSE: return mv_buf_append(w->out, "false", 5);
    case MV_JSON_TRUE: return mv_buf_append(w->out, "true", 4);
    case MV_JSON_NUMBER: {
        size_t len = 0;
        const char *s = mv_json_num(v, &len);
        return mv_buf_append(w->out, s, len);
    }
    case MV_JSON_STRING: {
        size_t len = 0;
        const char *s = mv_json_str(v, &len);
        return mv_json_write_str(w->out, s, len);
    }
    case MV_JSON_ARRAY:
        if ((rc = mv_buf_append(w->out, "[", 1)) != MV_OK)
            return rc;
        return push(w, v, NULL, 0);
    case MV_JSON_OBJECT:
        break;
    }
    if (total && !(items = mv_mallocarray(total, sizeof *items)))
        return MV_ERR_NOMEM;
    for (size_t g = 0; g < n; g++) {
        add_members(w, grp[g].v, items, &m);
        for (size_t o = overlay_first(w, grp[g].v); o < w->n_ov && w->ov[o].target == grp[g].v; o++)
            add_members(w, w->ov[o].obj, items, &m);
    }
    if (m > 1)
        qsort(items, m, sizeof *items, citem_cmp);
    if ((rc = mv_buf_append(w->out, "{", 1)) != MV_OK || (rc = push(w, NULL, items, m)) != MV_OK) {
        mv_free(items);
        return rc;
    }
    return MV_OK;
}

static int same_key(const citem *a, const citem *b)
{
    return a->kl == b->kl && memcmp(a->k, b->k, a->kl) == 0;
}

static mv_err write_all(writer *w, const mv_json *root)
{
    citem top = {NULL, 0, root};
    mv_err rc = emit(w, &top, 1);
    while (rc == MV_OK && w->n_st) {
        cframe *f = &w->st[w->n_st - 1];
        if (f->arr) {
            if (f->next < mv_json_len(f->arr)) {
                citem el = {NULL, 0, mv_json_at(f->arr, f->next)};
                if (f->next++ && (rc = mv_buf_append(w->out, ",", 1)) != MV_OK)
                    break;
                rc = emit(w, &el, 1);
                continue;
            }
            rc = mv_buf_append(w->out, "]", 1);
        } else {
            if (f->next < f->n) {
                size_t g = f->next, j = g + 1;
                while (j < f->n && same_key(&f->items[j], &f->items[g]))
                    j++;
                f->next = j;
                /* f->items stays put when emit grows the stack; f itself may not. */
                const citem *items = f->items;
                if ((g && (rc = mv_buf_append(w->out, ",", 1)) != MV_OK) ||
                    (rc = mv_json_write_str(w->out, items[g].k, items[g].kl)) != MV_OK ||
                    (rc = mv_buf_append(w->out, ":", 1)) != MV_OK)
                    break;
                rc = emit(w, &items[g], j - g);
                continue;
            }
            rc = mv_buf_append(w->out, "}", 1);
            mv_free(f->items);
        }
        w->n_st--;
    }
    return rc;
}

mv_err mv_canon_write_ex(mv_buf *out, const mv_json *root, const mv_canon_overlay *ov, size_t n_ov,
                         const mv_json *const *exclude, size_t n_ex)
{
    if (!out || !root || (n_ov && !ov) || (n_ex && !exclude))
        return MV_ERR_INVAL;
    writer w = {out, ov, n_ov, exclude, n_ex, NULL, 0, 0};
    size_t saved = out->len;
    mv_err rc = write_all(&w, root);
    for (size_t i = 0; i < w.n_st; i++)
        mv_free(w.st[i].items);
    mv_free(w.st);
    if (rc != MV_OK && out->ptr && out->len > saved) {
        out->len = saved;
        out->ptr[saved] = 0;
    }
    return rc;
}

mv_err mv_canon_write(mv_buf *out, const mv_json *v)
{
    return mv_canon_write_ex(out, v, NULL, 0, NULL, 0);
}

mv_err mv_canon(const char *text, size_t len, const mv_json_limits *lim, mv_buf *out, size_t *err_offset)
{
    mv_json *root = NULL;
    mv_err rc;
    if (err_offset)
        *err_offset = 0;
    if (!out || (len && !text))
        return MV_ERR_INVAL;
    if ((rc = mv_json_parse(text ? text : "", len, lim, &root, err_offset)) != MV_OK)
        goto out;
    rc = mv_canon_write(out, root);
out:
    mv_json_free(root);
    return rc;
}
