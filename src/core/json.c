/* json.c - strict RFC 8259 parser: only well-formed UTF-8 JSON without duplicate keys and within
 * hard caps on size, depth and node count ever becomes a tree; nothing recurses on input depth. */
#include "core/utf8.h"
#include "medvault/mv_json.h"
#include "medvault/mv_codec.h"
#include "medvault/mv_mem.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BYTES ((size_t)16 << 20)
#define DEFAULT_MAX_DEPTH ((size_t)64)
#define DEFAULT_MAX_NODES ((size_t)1000000)
#define NO_KEY SIZE_MAX
/* Objects with at most this many members are checked for duplicates pairwise; larger ones
 * by sorting, so a hostile object with many members costs O(n log n), not O(n^2). */
#define DUP_PAIRWISE_MAX 8
/* Keys are never quoted in the reason: they may be data (errors carry no record content). */
#define DUP_WHY "duplicate key in the object that ends here"

/* A node. While parsing, offsets index the parser's temporary arrays; mv_json_parse then
 * copies nodes, child pointers and string bytes into one block whose first node is the root,
 * so the whole tree is freed with a single mv_free. */
struct mv_json {
    mv_json_type type;
    size_t len;     /* string/lexeme bytes (excluding NUL) or child count */
    size_t key_len; /* member key bytes when the parent is an object */
    union {
        size_t off;
        const char *s;
        const mv_json *const *kids;
    } u;
    union {
        size_t off; /* NO_KEY if not an object member */
        const char *p;
    } key;
};

typedef struct frame {
    size_t node;     /* index of the open container */
    size_t kids_pos; /* where its children start on the child stack */
} frame;

typedef struct keyref {
    const char *p;
    size_t len;
} keyref;

typedef struct parser {
    const unsigned char *in;
    size_t len, pos;
    size_t max_depth, max_nodes;
    mv_json *nodes;
    size_t n_nodes, cap_nodes;
    size_t *stack; /* children of the open containers, innermost last */
    size_t n_stack, cap_stack;
    size_t *kids; /* children of closed containers, contiguous per container */
    size_t n_kids, cap_kids;
    frame *frames;
    size_t n_frames, cap_frames;
    keyref *scratch; /* duplicate-key check */
    size_t cap_scratch;
    char *str; /* decoded strings and number lexemes, each NUL-terminated */
    size_t n_str, cap_str;
    size_t pending_key_off, pending_key_len;
    const char *why; /* a static reason for MV_ERR_PARSE where one is more use than "parse error" */
} parser;

/* Grows the array whose pointer is stored at arrp (element size sz) to hold at least need
 * elements. The pointer is read and written with memcpy so that any element type may be
 * passed without type-punning through void **. */
static mv_err grow(void *arrp, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return MV_OK;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return MV_ERR_NOMEM;
        ncap *= 2;
    }
    void *old, *np;
    memcpy(&old, arrp, sizeof old);
    np = mv_realloc(old, ncap * sz);
    if (!np)
        return MV_ERR_NOMEM;
    memcpy(arrp, &np, sizeof np);
    *cap = ncap;
    return MV_OK;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->in[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629 section 4), or 0. Rejects
 * overlong forms, UTF-16 surrogates and code points above U+10FFFF. */

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the string starting at the opening quote at p->pos into p->str. The string area was
 * sized in advance (see mv_json_parse), and a decoded string plus its NUL is never longer than
 * its quoted form, so no bounds check on the output is needed beyond the assertion of that
 * invariant. */
static mv_err parse_string(parser *p, size_t *off, size_t *slen)
{
    const unsigned char *in = p->in;
    size_t i = p->pos + 1, n = p->len;
    size_t start = p->n_str;
    char *o = p->str + start;
    size_t w = 0;
    while (1) {
        if (i >= n) {
            p->pos = i;
            return MV_ERR_PARSE;
        }
        unsigned char c = in[i];
        if (c == '"')
            break;
        if (c < 0x20) {
            p->pos = i;
            return MV_ERR_PARSE;
        }
        if (c == '\\') {
            if (i + 1 >= n) {
                p->pos = i;
                return MV_ERR_PARSE;
            }
            unsigned char e = in[i + 1];
            char d = 0;
            switch (e) {
            case '"': d = '"'; break;
            case '\\': d = '\\'; break;
            case '/': d = '/'; break;
            case 'b': d = '\b'; break;
            case 'f': d = '\f'; break;
            case 'n': d = '\n'; break;
            case 'r': d = '\r'; break;
            case 't': d = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (n - i < 6 || !hex4(in + i + 2, &cp)) {
                    p->pos = i;
                    return MV_ERR_PARSE;
                }
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    p->pos = i; /* lone low surrogate */
                    return MV_ERR_PARSE;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (n - i < 12 || in[i + 6] != '\\' || in[i + 7] != 'u' || !hex4(in + i + 8, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF) {
                        p->pos = i; /* high surrogate not followed by a low one */
                        return MV_ERR_PARSE;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                w += put_utf8(o + w, cp);
                i += 6;
                continue;
            }
            default:
                p->pos = i;
                return MV_ERR_PARSE;
            }
            o[w++] = d;
            i += 2;
            continue;
        }
        if (c < 0x80) {
            o[w++] = (char)c;
            i++;
            continue;
        }
        size_t k = mv_utf8_seq(in + i, n - i);
        if (!k) {
            p->pos = i;
            return MV_ERR_PARSE;
        }
        memcpy(o + w, in + i, k);
        w += k;
        i += k;
    }
    o[w] = 0;
    p->n_str = start + w + 1;
    p->pos = i + 1;
    *off = start;
    *slen = w;
    return MV_OK;
}

/* Validates the RFC 8259 section 6 number grammar and stores the lexeme verbatim. */
static mv_err parse_number(parser *p, size_t *off, size_t *nlen)
{
    const unsigned char *in = p->in;
    size_t i = p->pos, n = p->len, start = p->pos;
    if (in[i] == '-')
        i++;
    if (i >= n)
        goto bad;
    if (in[i] == '0')
        i++;
    else if (in[i] >= '1' && in[i] <= '9') {
        while (i < n && in[i] >= '0' && in[i] <= '9')
            i++;
    } else
        goto bad;
    if (i < n && in[i] == '.') {
        i++;
        if (i >= n || in[i] < '0' || in[i] > '9')
            goto bad;
        while (i < n && in[i] >= '0' && in[i] <= '9')
            i++;
    }
    if (i < n && (in[i] == 'e' || in[i] == 'E')) {
        i++;
        if (i < n && (in[i] == '+' || in[i] == '-'))
            i++;
        if (i >= n || in[i] < '0' || in[i] > '9')
            goto bad;
        while (i < n && in[i] >= '0' && in[i] <= '9')
            i++;
    }
    *off = p->n_str;
    *nlen = i - start;
    memcpy(p->str + p->n_str, in + start, i - start);
    p->str[p->n_str + (i - start)] = 0;
    p->n_str += i - start + 1;
    p->pos = i;
    return MV_OK;
bad:
    p->pos = i;
    return MV_ERR_PARSE;
}

/* Appends a node, registers it as a child of the innermost open container, and attaches
 * the pending member key. */
static mv_err new_node(parser *p, mv_json_type t, size_t *idx)
{
    mv_err rc;
    if (p->n_nodes >= p->max_nodes)
        return MV_ERR_TOO_LARGE;
    if ((rc = grow(&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes)) != MV_OK)
        return rc;
    if (p->n_frames) {
        if ((rc = grow(&p->stack, &p->cap_stack, p->n_stack + 1, sizeof *p->stack)) != MV_OK)
            return rc;
        p->stack[p->n_stack++] = p->n_nodes;
    }
    mv_json *v = &p->nodes[p->n_nodes];
    v->type = t;
    v->len = 0;
    v->u.off = 0;
    v->key.off = p->pending_key_off;
    v->key_len = p->pending_key_len;
    p->pending_key_off = NO_KEY;
    p->pending_key_len = 0;
    *idx = p->n_nodes++;
    return MV_OK;
}

static int keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->p, y->p, x->len);
}

/* Decoded keys are compared, so "a" and "\u0061" collide. */
static mv_err check_dups(parser *p, const size_t *kids, size_t m)
{
    if (m < 2)
        return MV_OK;
    if (m <= DUP_PAIRWISE_MAX) {
        for (size_t i = 0; i < m; i++) {
            const mv_json *a = &p->nodes[kids[i]];
            for (size_t j = i + 1; j < m; j++) {
                const mv_json *b = &p->nodes[kids[j]];
                if (a->key_len == b->key_len &&
                    memcmp(p->str + a->key.off, p->str + b->key.off, a->key_len) == 0) {
                    p->why = DUP_WHY;
                    return MV_ERR_PARSE;
                }
            }
        }
        return MV_OK;
    }
    mv_err rc = grow(&p->scratch, &p->cap_scratch, m, sizeof *p->scratch);
    if (rc != MV_OK)
        return rc;
    for (size_t i = 0; i < m; i++) {
        const mv_json *a = &p->nodes[kids[i]];
        p->scratch[i].p = p->str + a->key.off;
        p->scratch[i].len = a->key_len;
    }
    qsort(p->scratch, m, sizeof *p->scratch, keyref_cmp);
    for (size_t i = 1; i < m; i++)
        if (keyref_cmp(&p->scratch[i - 1], &p->scratch[i]) == 0) {
            p->why = DUP_WHY;
            return MV_ERR_PARSE;
        }
    return MV_OK;
}

/* Moves the innermost container's children from the stack to the kids array. */
static mv_err close_container(parser *p)
{
    frame *f = &p->frames[p->n_frames - 1];
    size_t m = p->n_stack - f->kids_pos;
    mv_json *c = &p->nodes[f->node];
    mv_err rc;
    /* The stack is still unallocated (NULL) if no container has had a child yet. */
    const size_t *kids = m ? p->stack + f->kids_pos : NULL;
    if (c->type == MV_JSON_OBJECT && (rc = check_dups(p, kids, m)) != MV_OK)
        return rc;
    if ((rc = grow(&p->kids, &p->cap_kids, p->n_kids + m, sizeof *p->kids)) != MV_OK)
        return rc;
    if (m)
        memcpy(p->kids + p->n_kids, kids, m * sizeof *p->kids);
    c->u.off = p->n_kids;
    c->len = m;
    p->n_kids += m;
    p->n_stack = f->kids_pos;
    p->n_frames--;
    return MV_OK;
}

static mv_err open_container(parser *p, mv_json_type t)
{
    size_t idx;
    mv_err rc;
    /* Too deep is malformed for us, not too large: "[[[[[[[[[1]]]]]]]]]" is 19 bytes, and
     * answering it "too large" (HTTP 413) misleads the caller. */
    if (p->n_frames >= p->max_depth) {
        p->why = "nested too deeply";
        return MV_ERR_PARSE;
    }
    if ((rc = new_node(p, t, &idx)) != MV_OK)
        return rc;
    if ((rc = grow(&p->frames, &p->cap_frames, p->n_frames + 1, sizeof *p->frames)) != MV_OK)
        return rc;
    p->frames[p->n_frames].node = idx;
    p->frames[p->n_frames].kids_pos = p->n_stack;
    p->n_frames++;
    p->pos++;
    return MV_OK;
}

/* Parses `"key" ws : ws` and leaves the key pending for the next node. */
static mv_err parse_member_key(parser *p)
{
    mv_err rc;
    if (p->pos >= p->len || p->in[p->pos] != '"')
        return MV_ERR_PARSE;
    if ((rc = parse_string(p, &p->pending_key_off, &p->pending_key_len)) != MV_OK)
        return rc;
    skip_ws(p);
    if (p->pos >= p->len || p->in[p->pos] != ':')
        return MV_ERR_PARSE;
    p->pos++;
    return MV_OK;
}

static int match_lit(const parser *p, const char *lit, size_t n)
{
    return p->len - p->pos >= n && memcmp(p->in + p->pos, lit, n) == 0;
}

/* The value grammar driven by an explicit stack of open containers (p->frames). */
static mv_err parse_doc(parser *p)
{
    mv_err rc;
    size_t idx;
value:
    skip_ws(p);
    if (p->pos >= p->len)
        return MV_ERR_PARSE;
    switch (p->in[p->pos]) {
    case '{':
        if ((rc = open_container(p, MV_JSON_OBJECT)) != MV_OK)
            return rc;
        skip_ws(p);
        if (p->pos < p->len && p->in[p->pos] == '}') {
            p->pos++;
            if ((rc = close_container(p)) != MV_OK)
                return rc;
            goto after;
        }
        if ((rc = parse_member_key(p)) != MV_OK)
            return rc;
        goto value;
    case '[':
        if ((rc = open_container(p, MV_JSON_ARRAY)) != MV_OK)
            return rc;
        skip_ws(p);
        if (p->pos < p->len && p->in[p->pos] == ']') {
            p->pos++;
            if ((rc = close_container(p)) != MV_OK)
                return rc;
            goto after;
        }
        goto value;
    case '"': {
        size_t off, slen;
        if ((rc = new_node(p, MV_JSON_STRING, &idx)) != MV_OK)
            return rc;
        if ((rc = parse_string(p, &off, &slen)) != MV_OK)
            return rc;
        p->nodes[idx].u.off = off;
        p->nodes[idx].len = slen;
        goto after;
    }
    case 't':
    case 'f':
    case 'n': {
        static const struct {
            const char *lit;
            size_t n;
            mv_json_type t;
        } lits[] = {{"true", 4, MV_JSON_TRUE}, {"false", 5, MV_JSON_FALSE}, {"null", 4, MV_JSON_NULL}};
        for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
            if (match_lit(p, lits[k].lit, lits[k].n)) {
                if ((rc = new_node(p, lits[k].t, &idx)) != MV_OK)
                    return rc;
                p->pos += lits[k].n;
                goto after;
            }
        }
        return MV_ERR_PARSE;
    }
    default: {
        unsigned char c = p->in[p->pos];
        size_t off, nlen;
        if (c != '-' && (c < '0' || c > '9'))
            return MV_ERR_PARSE;
        if ((rc = new_node(p, MV_JSON_NUMBER, &idx)) != MV_OK)
            return rc;
        if ((rc = parse_number(p, &off, &nlen)) != MV_OK)
            return rc;
        p->nodes[idx].u.off = off;
        p->nodes[idx].len = nlen;
        goto after;
    }
    }
after:
    if (!p->n_frames) {
        skip_ws(p);
        return p->pos == p->len ? MV_OK : MV_ERR_PARSE;
    }
    skip_ws(p);
    if (p->pos >= p->len)
        return MV_ERR_PARSE;
    {
        int is_obj = p->nodes[p->frames[p->n_frames - 1].node].type == MV_JSON_OBJECT;
        unsigned char c = p->in[p->pos];
        if (c == ',') {
            p->pos++;
            if (is_obj) {
                skip_ws(p);
                if ((rc = parse_member_key(p)) != MV_OK)
                    return rc;
            }
            goto value;
        }
        if (c == (is_obj ? '}' : ']')) {
            p->pos++;
            if ((rc = close_container(p)) != MV_OK)
                return rc;
            goto after;
        }
        return MV_ERR_PARSE;
    }
}

/* Copies the parse result into one block: nodes, then child pointers, then string bytes. */
static mv_err build_tree(parser *p, mv_json **out)
{
    size_t nb = p->n_nodes * sizeof(mv_json);
    size_t kb = p->n_kids * sizeof(mv_json *);
    if (p->n_kids > SIZE_MAX / sizeof(mv_json *) || kb > SIZE_MAX - nb || p->n_str > SIZE_MAX - nb - kb)
        return MV_ERR_NOMEM;
    unsigned char *blk = mv_malloc(nb + kb + p->n_str);
    if (!blk)
        return MV_ERR_NOMEM;
    mv_json *nodes = (mv_json *)(void *)blk;
    const mv_json **kids = (const mv_json **)(void *)(blk + nb);
    char *str = (char *)(blk + nb + kb);
    memcpy(nodes, p->nodes, nb);
    if (p->n_str)
        memcpy(str, p->str, p->n_str);
    for (size_t i = 0; i < p->n_kids; i++)
        kids[i] = &nodes[p->kids[i]];
    for (size_t i = 0; i < p->n_nodes; i++) {
        mv_json *v = &nodes[i];
        switch (v->type) {
        case MV_JSON_STRING:
        case MV_JSON_NUMBER:
            v->u.s = str + v->u.off;
            break;
        case MV_JSON_ARRAY:
        case MV_JSON_OBJECT:
            v->u.kids = kids + v->u.off;
            break;
        case MV_JSON_NULL:
        case MV_JSON_FALSE:
        case MV_JSON_TRUE:
            v->u.s = NULL;
            break;
        }
        if (v->key.off == NO_KEY)
            v->key.p = NULL;
        else
            v->key.p = str + v->key.off;
    }
    *out = nodes;
    return MV_OK;
}

mv_err mv_json_parse(const char *text, size_t len, const mv_json_limits *lim, mv_json **out,
                     size_t *err_offset)
{
    return mv_json_parse_why(text, len, lim, out, err_offset, NULL);
}

mv_err mv_json_parse_why(const char *text, size_t len, const mv_json_limits *lim, mv_json **out,
                         size_t *err_offset, const char **why)
{
    parser p;
    mv_err rc = MV_OK;
    size_t max_bytes = DEFAULT_MAX_BYTES;
    memset(&p, 0, sizeof p);
    p.max_depth = DEFAULT_MAX_DEPTH;
    p.max_nodes = DEFAULT_MAX_NODES;
    p.pending_key_off = NO_KEY;
    if (out)
        *out = NULL;
    if (err_offset)
        *err_offset = 0;
    if (!out || !text) {
        rc = MV_ERR_INVAL;
        goto out;
    }
    /* A zero field in lim means "the default", so callers may set only the caps they care about. */
    if (lim) {
        if (lim->max_bytes)
            max_bytes = lim->max_bytes;
        if (lim->max_depth)
            p.max_depth = lim->max_depth;
        if (lim->max_nodes)
            p.max_nodes = lim->max_nodes;
    }
    if (len > max_bytes) {
        p.pos = max_bytes;
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    p.in = (const unsigned char *)text;
    p.len = len;
    /* Every decoded string with its NUL is no longer than its quoted form, and every number
     * lexeme with its NUL is no longer than itself plus the delimiter or end that follows it,
     * so len + 1 bytes hold all strings of the document. */
    p.cap_str = len + 1;
    p.str = mv_malloc(p.cap_str);
    if (!p.str) {
        rc = MV_ERR_NOMEM;
        goto out;
    }
    if ((rc = parse_doc(&p)) != MV_OK)
        goto out;
    rc = build_tree(&p, out);
out:
    if (rc != MV_OK && err_offset)
        *err_offset = p.pos;
    if (why)
        *why = rc == MV_OK ? NULL : rc == MV_ERR_PARSE && p.why ? p.why : mv_strerror(rc);
    mv_free(p.nodes);
    mv_free(p.stack);
    mv_free(p.kids);
    mv_free(p.frames);
    mv_free(p.scratch);
    mv_free(p.str);
    return rc;
}

void mv_json_free(mv_json *root) { mv_free(root); }

mv_json_type mv_json_type_of(const mv_json *v) { return v ? v->type : MV_JSON_NULL; }

size_t mv_json_len(const mv_json *v)
{
    if (!v || (v->type != MV_JSON_ARRAY && v->type != MV_JSON_OBJECT))
        return 0;
    return v->len;
}

const mv_json *mv_json_at(const mv_json *arr, size_t i)
{
    if (!arr || arr->type != MV_JSON_ARRAY || i >= arr->len)
        return NULL;
    return arr->u.kids[i];
}

const char *mv_json_key_at(const mv_json *obj, size_t i, size_t *key_len)
{
    if (!obj || obj->type != MV_JSON_OBJECT || i >= obj->len)
        return NULL;
    if (key_len)
        *key_len = obj->u.kids[i]->key_len;
    return obj->u.kids[i]->key.p;
}

const mv_json *mv_json_value_at(const mv_json *obj, size_t i)
{
    if (!obj || obj->type != MV_JSON_OBJECT || i >= obj->len)
        return NULL;
    return obj->u.kids[i];
}

const mv_json *mv_json_get(const mv_json *obj, const char *key)
{
    if (!obj || !key || obj->type != MV_JSON_OBJECT)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->len; i++) {
        const mv_json *m = obj->u.kids[i];
        if (m->key_len == kl && memcmp(m->key.p, key, kl) == 0)
            return m;
    }
    return NULL;
}

const char *mv_json_str(const mv_json *v, size_t *len)
{
    if (!v || v->type != MV_JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->u.s;
}

const char *mv_json_num(const mv_json *v, size_t *len)
{
    if (!v || v->type != MV_JSON_NUMBER)
        return NULL;
    if (len)
        *len = v->len;
    return v->u.s;
}

mv_err mv_json_u64(const mv_json *v, uint64_t *out)
{
    if (!v || v->type != MV_JSON_NUMBER || !out)
        return MV_ERR_PARSE;
    uint64_t x = 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->u.s[i];
        if (c < '0' || c > '9')
            return MV_ERR_PARSE; /* sign, fraction or exponent */
        unsigned d = (unsigned)(c - '0');
        if (x > (UINT64_MAX - d) / 10)
            return MV_ERR_PARSE;
        x = x * 10 + d;
    }
    *out = x;
    return MV_OK;
}

mv_err mv_json_bool(const mv_json *v, int *out)
{
    if (!v || !out || (v->type != MV_JSON_TRUE && v->type != MV_JSON_FALSE))
        return MV_ERR_PARSE;
    *out = v->type == MV_JSON_TRUE;
    return MV_OK;
}

mv_err mv_json_get_hex(const mv_json *obj, const char *key, uint8_t *out, size_t n)
{
    const mv_json *v = mv_json_get(obj, key);
    if (!v)
        return MV_ERR_NOT_FOUND;
    if (v->type != MV_JSON_STRING || (n && !out))
        return MV_ERR_PARSE;
    if (n == 0)
        return v->len == 0 ? MV_OK : MV_ERR_PARSE;
    return mv_hex_decode_exact(out, n, v->u.s, v->len) == MV_OK ? MV_OK : MV_ERR_PARSE;
}

const char *mv_json_get_str(const mv_json *obj, const char *key, size_t *len)
{
    return mv_json_str(mv_json_get(obj, key), len);
}

mv_err mv_json_get_u64(const mv_json *obj, const char *key, uint64_t *out)
{
    const mv_json *v = mv_json_get(obj, key);
    if (!v)
        return MV_ERR_NOT_FOUND;
    return mv_json_u64(v, out);
}

/* Restores b to its length before a failed write, so writers append all or nothing. */
static void buf_truncate(mv_buf *b, size_t len)
{
    if (b->ptr && b->len > len) {
        b->len = len;
        b->ptr[len] = 0;
    }
}

/* RFC 8785 section 3.2.2.2: the seven short escapes, \u00xx (lowercase) for the other
 * C0 controls, every other character (including '/', DEL and non-ASCII) verbatim. */
static mv_err write_str_body(mv_buf *b, const unsigned char *s, size_t len)
{
    static const char hexd[] = "0123456789abcdef";
    mv_err rc;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        char esc[6];
        size_t el = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((rc = mv_buf_append(b, s + run, i - run)) != MV_OK)
            return rc;
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            el = 6;
            break;
        }
        if ((rc = mv_buf_append(b, esc, el)) != MV_OK)
            return rc;
    }
    return mv_buf_append(b, s + run, len - run);
}

static mv_err write_quoted(mv_buf *b, const char *s, size_t len)
{
    mv_err rc;
    if ((rc = mv_buf_append(b, "\"", 1)) != MV_OK)
        return rc;
    if ((rc = write_str_body(b, (const unsigned char *)s, len)) != MV_OK)
        return rc;
    return mv_buf_append(b, "\"", 1);
}

mv_err mv_json_write_str(mv_buf *b, const char *s, size_t len)
{
    if (!b || (len && !s))
        return MV_ERR_INVAL;
    if (!mv_utf8_valid((const unsigned char *)s, len))
        return MV_ERR_PARSE;
    size_t saved = b->len;
    mv_err rc = write_quoted(b, s, len);
    if (rc != MV_OK)
        buf_truncate(b, saved);
    return rc;
}

mv_err mv_json_write_hex(mv_buf *b, const uint8_t *bin, size_t n)
{
    mv_err rc;
    if (!b || (n && !bin))
        return MV_ERR_INVAL;
    if (n > (SIZE_MAX - 2) / 2)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_buf_reserve(b, 2 * n + 2)) != MV_OK)
        return rc;
    /* reserve guarantees cap >= len + 2n + 2, and ptr holds cap + 1 bytes, so the encoder's
     * 2n hex digits plus NUL fit after the opening quote. */
    char *o = (char *)b->ptr + b->len;
    o[0] = '"';
    if ((rc = mv_hex_encode(o + 1, 2 * n + 1, bin, n)) != MV_OK)
        return rc;
    o[2 * n + 1] = '"';
    b->len += 2 * n + 2;
    b->ptr[b->len] = 0;
    return MV_OK;
}

typedef struct wframe {
    const mv_json *node;
    size_t next;
} wframe;

/* Depth-first with an explicit stack: a tree may be as deep as its parse limits allowed. */
static mv_err write_tree(mv_buf *b, const mv_json *root)
{
    wframe *st = NULL;
    size_t n_st = 0, cap_st = 0;
    const mv_json *v = root;
    mv_err rc = MV_OK;
    while (1) {
        /* Emit v (its opening bracket, if a container). */
        if (v->key.p && n_st && st[n_st - 1].node->type == MV_JSON_OBJECT) {
            if ((rc = write_quoted(b, v->key.p, v->key_len)) != MV_OK ||
                (rc = mv_buf_append(b, ":", 1)) != MV_OK)
                goto out;
        }
        switch (v->type) {
        case MV_JSON_NULL: rc = mv_buf_append(b, "null", 4); break;
        case MV_JSON_FALSE: rc = mv_buf_append(b, "false", 5); break;
        case MV_JSON_TRUE: rc = mv_buf_append(b, "true", 4); break;
        case MV_JSON_NUMBER: rc = mv_buf_append(b, v->u.s, v->len); break;
        case MV_JSON_STRING: rc = write_quoted(b, v->u.s, v->len); break;
        case MV_JSON_ARRAY:
        case MV_JSON_OBJECT:
            if ((rc = mv_buf_append(b, v->type == MV_JSON_ARRAY ? "[" : "{", 1)) != MV_OK)
                goto out;
            if ((rc = grow(&st, &cap_st, n_st + 1, sizeof *st)) != MV_OK)
                goto out;
            st[n_st].node = v;
            st[n_st].next = 0;
            n_st++;
            break;
        }
        if (rc != MV_OK)
            goto out;
        /* Find the next node to emit, closing finished containers. */
        while (1) {
            if (!n_st)
                goto out;
            wframe *f = &st[n_st - 1];
            if (f->next < f->node->len) {
                if (f->next && (rc = mv_buf_append(b, ",", 1)) != MV_OK)
                    goto out;
                v = f->node->u.kids[f->next++];
                break;
            }
            if ((rc = mv_buf_append(b, f->node->type == MV_JSON_ARRAY ? "]" : "}", 1)) != MV_OK)
                goto out;
            n_st--;
        }
    }
out:
    mv_free(st);
    return rc;
}

mv_err mv_json_write(mv_buf *b, const mv_json *v)
{
    if (!b || !v)
        return MV_ERR_INVAL;
    size_t saved = b->len;
    mv_err rc = write_tree(b, v);
    if (rc != MV_OK)
        buf_truncate(b, saved);
    return rc;
}
