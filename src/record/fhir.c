/* fhir.c - FHIR split/join: identity and per-visit fields never leave the envelope (unknown
 * types and unlisted base fields default to it), and join(split(x)) is exactly canon(x). */
#include "medvault/mv_fhir.h"

#include <string.h>

#include "medvault/mv_canon.h"
#include "medvault/mv_file.h"
#include "medvault/mv_mem.h"
#include "record/canon_ex.h"
#include "record/stamp.h"
#include "record/fhir_data.h"

/* One path segment of a profile: a leaf moves the whole member to the envelope, an inner
 * node only the listed members of the nested object. */
typedef struct pnode {
    char *name;
    size_t len;
    int leaf;
    struct pnode *kids;
    size_t n_kids, cap_kids;
} pnode;

typedef struct profile {
    char *type; /* NULL for the default */
    size_t type_len;
    int star; /* the whole resource is envelope */
    pnode root;
} profile;

struct mv_fhir_profiles {
    profile dflt;
    profile *types;
    size_t n_types;
};

/* Base fields of every resource (FHIR R4 Resource and DomainResource) that stay in the
 * envelope whatever a profile says: identity, provenance, narrative and extensions. */
static const char *const base_fields[] = {
    "resourceType", "id",        "meta",      "implicitRules", "language",
    "text",         "contained", "identifier", "extension",    "modifierExtension",
};

typedef struct nodeset {
    const mv_json **v;
    size_t n, cap;
} nodeset;

/* ---- profiles ---- */

static void pnode_clear(pnode *n)
{
    for (size_t i = 0; i < n->n_kids; i++)
        pnode_clear(&n->kids[i]); /* depth <= MV_FHIR_PROFILE_MAX_SEGMENTS */
    mv_free(n->kids);
    mv_free(n->name);
    memset(n, 0, sizeof *n);
}

void mv_fhir_profiles_free(mv_fhir_profiles *p)
{
    if (!p)
        return;
    pnode_clear(&p->dflt.root);
    for (size_t i = 0; i < p->n_types; i++) {
        pnode_clear(&p->types[i].root);
        mv_free(p->types[i].type);
    }
    mv_free(p->types);
    mv_free(p);
}

static const pnode *pnode_find(const pnode *n, const char *k, size_t kl)
{
    for (size_t i = 0; i < n->n_kids; i++)
        if (n->kids[i].len == kl && memcmp(n->kids[i].name, k, kl) == 0)
            return &n->kids[i];
    return NULL;
}

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Inserts the dotted path s[0..len) under root. A path listed twice, or under (or above)
 * another listed path, is MV_ERR_PARSE: a profile says each thing once. */
static mv_err pnode_insert(pnode *root, const char *s, size_t len)
{
    pnode *n = root;
    size_t pos = 0, segs = 0;
    while (1) {
        size_t end = pos;
        while (end < len && s[end] != '.')
            end++;
        size_t sl = end - pos;
        if (sl == 0)
            return MV_ERR_PARSE;
        if (sl > MV_FHIR_PROFILE_MAX_NAME || ++segs > MV_FHIR_PROFILE_MAX_SEGMENTS)
            return MV_ERR_TOO_LARGE;
        if (!(is_alpha((unsigned char)s[pos]) || s[pos] == '_'))
            return MV_ERR_PARSE;
        for (size_t i = pos; i < end; i++)
            if (!(is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '_'))
                return MV_ERR_PARSE;
        int last = end == len;
        pnode *k = (pnode *)pnode_find(n, s + pos, sl);
        if (k) {
            if (k->leaf || last)
                return MV_ERR_PARSE; /* repeated, or under/above another path */
        } else {
            mv_err rc = mv_array_grow(&n->kids, &n->cap_kids, n->n_kids, sizeof *n->kids, 8);
            if (rc != MV_OK)
                return rc;
            k = &n->kids[n->n_kids];
            memset(k, 0, sizeof *k);
            if (!(k->name = mv_malloc(sl + 1)))
                return MV_ERR_NOMEM;
            memcpy(k->name, s + pos, sl);
            k->name[sl] = 0;
            k->len = sl;
            k->leaf = last;
            n->n_kids++;
        }
        if (last)
            return MV_OK;
        n = k;
        pos = end + 1;
        if (pos == len)
            return MV_ERR_PARSE; /* trailing '.' */
    }
}

/* Checks that obj has no members other than the n names given. */
static mv_err only_keys(const mv_json *obj, const char *const *names, size_t n)
{
    for (size_t i = 0; i < mv_json_len(obj); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(obj, i, &kl);
        size_t j = 0;
        while (j < n && !(strlen(names[j]) == kl && memcmp(names[j], k, kl) == 0))
            j++;
        if (j == n)
            return MV_ERR_PARSE;
    }
    return MV_OK;
}

static mv_err parse_profile(const mv_json *v, profile *pr)
{
    static const char *const keys[] = {"envelope"};
    mv_err rc;
    if (mv_json_type_of(v) != MV_JSON_OBJECT || (rc = only_keys(v, keys, 1)) != MV_OK)
        return MV_ERR_PARSE;
    const mv_json *env = mv_json_get(v, "envelope");
    size_t sl = 0;
    const char *s = mv_json_str(env, &sl);
    if (s) {
        if (sl != 1 || s[0] != '*')
            return MV_ERR_PARSE;
        pr->star = 1;
        return MV_OK;
    }
    if (mv_json_type_of(env) != MV_JSON_ARRAY)
        return MV_ERR_PARSE;
    if (mv_json_len(env) > MV_FHIR_PROFILE_MAX_FIELDS)
        return MV_ERR_TOO_LARGE;
    for (size_t i = 0; i < mv_json_len(env); i++) {
        const char *f = mv_json_str(mv_json_at(env, i), &sl);
        if (!f)
            return MV_ERR_PARSE;
        if ((rc = pnode_insert(&pr->root, f, sl)) != MV_OK)
            return rc;
    }
    return MV_OK;
}

static int valid_type_name(const char *s, size_t len)
{
    if (len == 0 || len > MV_FHIR_PROFILE_MAX_NAME || !is_alpha((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!is_alpha((unsigned char)s[i]) && !is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

mv_err mv_fhir_profiles_parse(const char *text, size_t len, mv_fhir_profiles **out)
{
    static const char *const top_keys[] = {"version", "default", "types"};
    const mv_json_limits lim = {MV_FHIR_PROFILES_MAX_BYTES, 8, 0};
    mv_json *root = NULL;
    mv_fhir_profiles *p = NULL;
    uint64_t version = 0;
    mv_err rc;
    if (out)
        *out = NULL;
    if (!out || (len && !text))
        return MV_ERR_INVAL;
    if (len > MV_FHIR_PROFILES_MAX_BYTES)
        return MV_ERR_TOO_LARGE;
    if ((rc = mv_json_parse(text ? text : "", len, &lim, &root, NULL)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (mv_json_type_of(root) != MV_JSON_OBJECT || only_keys(root, top_keys, 3) != MV_OK ||
        mv_json_get_u64(root, "version", &version) != MV_OK || version != 1)
        goto out;
    const mv_json *dflt = mv_json_get(root, "default"), *types = mv_json_get(root, "types");
    if (!dflt || mv_json_type_of(types) != MV_JSON_OBJECT)
        goto out;
    if (mv_json_len(types) > MV_FHIR_PROFILE_MAX_TYPES) {
        rc = MV_ERR_TOO_LARGE;
        goto out;
    }
    rc = MV_ERR_NOMEM;
    if (!(p = mv_calloc(1, sizeof *p)) ||
        (mv_json_len(types) && !(p->types = mv_calloc(mv_json_len(types), sizeof *p->types))))
        goto out;
    if ((rc = parse_profile(dflt, &p->dflt)) != MV_OK)
        goto out;
    for (size_t i = 0; i < mv_json_len(types); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(types, i, &kl);
        profile *pr = &p->types[p->n_types++];
        if (!valid_type_name(k, kl)) {
            rc = MV_ERR_PARSE;
            goto out;
        }
        if (!(pr->type = mv_malloc(kl + 1))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        memcpy(pr->type, k, kl + 1);
        pr->type_len = kl;
        if ((rc = parse_profile(mv_json_value_at(types, i), pr)) != MV_OK)
            goto out;
    }
    *out = p;
    p = NULL;
    rc = MV_OK;
out:
    mv_fhir_profiles_free(p);
    mv_json_free(root);
    return rc;
}

mv_err mv_fhir_profiles_default(mv_fhir_profiles **out)
{
    return mv_fhir_profiles_parse((const char *)mv_fhir_profiles_json, mv_fhir_profiles_json_len, out);
}

mv_err mv_fhir_profiles_load(const char *path, mv_fhir_profiles **out)
{
    mv_buf b;
    mv_err rc;
    if (out)
        *out = NULL;
    if (!path || !out)
        return MV_ERR_INVAL;
    mv_buf_init(&b, MV_FHIR_PROFILES_MAX_BYTES);
    if ((rc = mv_file_read(path, MV_FHIR_PROFILES_MAX_BYTES, &b)) == MV_OK)
        rc = mv_fhir_profiles_parse((const char *)b.ptr, b.len, out);
    mv_buf_clear(&b);
    return rc;
}

static const profile *profile_for(const mv_fhir_profiles *p, const char *type, size_t len)
{
    for (size_t i = 0; i < p->n_types; i++)
        if (p->types[i].type_len == len && memcmp(p->types[i].type, type, len) == 0)
            return &p->types[i];
    return &p->dflt;
}

/* ---- split ---- */

void mv_fhir_split_init(mv_fhir_split *s)
{
    memset(s, 0, sizeof *s);
    mv_buf_init(&s->envelope, MV_FHIR_MAX_BYTES);
}

void mv_fhir_split_clear(mv_fhir_split *s)
{
    if (!s)
        return;
    mv_buf_clear(&s->envelope);
    for (size_t i = 0; i < s->n_blocks; i++)
        mv_buf_clear(&s->blocks[i]);
    mv_free(s->blocks);
    mv_free(s->slots);
    mv_fhir_split_init(s);
}

static mv_err nodeset_add(nodeset *s, const mv_json *v)
{
    mv_err rc = mv_array_grow(&s->v, &s->cap, s->n, sizeof *s->v, 32);
    if (rc != MV_OK)
        return rc;
    s->v[s->n++] = v;
    return MV_OK;
}

static int is_base_field(const char *k, size_t kl)
{
    if (kl && k[0] == '_')
        return 1;
    for (size_t i = 0; i < sizeof base_fields / sizeof *base_fields; i++)
        if (strlen(base_fields[i]) == kl && memcmp(base_fields[i], k, kl) == 0)
            return 1;
    return 0;
}

/* Decides, member by member, where obj's members go: a member kept out of the envelope has
 * its value in env_ex, one kept out of the content in con_ex. *env_ne / *con_ne are set when
 * the envelope / content side of obj is non-empty. Recursion follows the profile's paths only
 * (depth <= MV_FHIR_PROFILE_MAX_SEGMENTS), never the input's depth. */
static mv_err classify(const pnode *t, const mv_json *obj, int top, nodeset *env_ex, nodeset *con_ex, int *env_ne,
                       int *con_ne)
{
    static const pnode whole = {NULL, 0, 1, NULL, 0, 0};
    mv_err rc;
    for (size_t i = 0; i < mv_json_len(obj); i++) {
        size_t kl = 0;
        const char *k = mv_json_key_at(obj, i, &kl);
        const mv_json *v = mv_json_value_at(obj, i);
        const pnode *c = top && is_base_field(k, kl) ? &whole : pnode_find(t, k, kl);
        if (!c) {
            if ((rc = nodeset_add(env_ex, v)) != MV_OK)
                return rc;
            *con_ne = 1;
        } else if (c->leaf || mv_json_type_of(v) != MV_JSON_OBJECT) {
            if ((rc = nodeset_add(con_ex, v)) != MV_OK)
                return rc;
            *env_ne = 1;
        } else {
            int e = 0, cn = 0;
            if ((rc = classify(c, v, 0, env_ex, con_ex, &e, &cn)) != MV_OK)
                return rc;
            /* A nested object empty on both sides (only "{}") stays in the envelope. */
            if (e || !cn)
                *env_ne = 1;
            else if ((rc = nodeset_add(env_ex, v)) != MV_OK)
                return rc;
            if (cn)
                *con_ne = 1;
            else if ((rc = nodeset_add(con_ex, v)) != MV_OK)
                return rc;
        }
    }
    return MV_OK;
}

/* The type name of a resource, or NULL if r is not an object with a string resourceType. */
static const char *resource_type(const mv_json *r, size_t *len)
{
    if (mv_json_type_of(r) != MV_JSON_OBJECT)
        return NULL;
    return mv_json_str(mv_json_get(r, "resourceType"), len);
}

static int is_type(const char *t, size_t len, const char *want)
{
    return t && len == strlen(want) && memcmp(t, want, len) == 0;
}

/* Classifies resource r by its type's profile; *has_content is set if it gives a block. */
static mv_err classify_resource(const mv_fhir_profiles *p, const mv_json *r, nodeset *env_ex, nodeset *con_ex,
                                int *has_content)
{
    size_t tl = 0;
    const char *t = resource_type(r, &tl);
    const profile *pr = profile_for(p, t, tl);
    int env_ne = 0;
    *has_content = 0;
    if (pr->star)
        return MV_OK;
    return classify(&pr->root, r, 1, env_ex, con_ex, &env_ne, has_content);
}

static mv_err add_block(mv_fhir_split *out, uint32_t slot, const mv_json *r, const nodeset *con_ex)
{
    /* blocks and slots share one capacity, recorded only once both have grown: a failure
     * between the two leaves blocks roomier than recorded, which the next call grows again. */
    size_t cap_b = out->cap_blocks, cap_s = out->cap_blocks;
    mv_err rc = mv_array_grow(&out->blocks, &cap_b, out->n_blocks, sizeof *out->blocks, 8);
    if (rc == MV_OK)
        rc = mv_array_grow(&out->slots, &cap_s, out->n_blocks, sizeof *out->slots, 8);
    if (rc != MV_OK)
        return rc;
    out->cap_blocks = cap_s;
    mv_buf_init(&out->blocks[out->n_blocks], MV_FHIR_MAX_BYTES);
    out->slots[out->n_blocks] = slot;
    out->n_blocks++;
    return mv_canon_write_ex(&out->blocks[out->n_blocks - 1], r, NULL, 0, con_ex->v, con_ex->n);
}

/* Writes doc's envelope (content nodes env_ex left out) stamped with vid/lu into out. */
static mv_err write_envelope(mv_buf *out, const mv_json *doc, const nodeset *env_ex, const char *vid, const char *lu)
{
    fhir_stamp st;
    const mv_json **ex = NULL;
    mv_err rc = fhir_stamp_plan(doc, vid, lu, &st);
    if (rc == MV_OK && !(ex = mv_mallocarray(env_ex->n + 2, sizeof *ex)))
        rc = MV_ERR_NOMEM;
    if (rc == MV_OK) {
        if (env_ex->n)
            memcpy(ex, env_ex->v, env_ex->n * sizeof *ex);
        memcpy(ex + env_ex->n, st.ex, st.n_ex * sizeof *ex);
        mv_canon_nodes_sort(ex, env_ex->n + st.n_ex);
        rc = mv_canon_write_ex(out, doc, st.ov.obj ? &st.ov : NULL, st.ov.obj ? 1 : 0, ex, env_ex->n + st.n_ex);
    }
    mv_free(ex);
    fhir_stamp_free(&st);
    return rc;
}

mv_err mv_fhir_split_doc(const mv_fhir_profiles *p, const mv_json *doc, mv_fhir_split *out)
{
    return mv_fhir_split_stamped(p, doc, NULL, NULL, 0, out, NULL);
}

mv_err mv_fhir_split_stamped(const mv_fhir_profiles *p, const mv_json *doc, const char *vid, const char *lu, int stamp,
                             mv_fhir_split *out, mv_buf *versionless)
{
    nodeset env_ex = {NULL, 0, 0}, con_ex = {NULL, 0, 0};
    const mv_json **with_content = NULL; /* per entry: its resource if it gives a block */
    size_t n_entries = 0, tl = 0;
    mv_err rc;
    if (!p || !doc || !out)
        return MV_ERR_INVAL;
    mv_fhir_split_clear(out);
    const char *t = resource_type(doc, &tl);
    if (!t)
        return MV_ERR_PARSE;
    if (is_type(t, tl, "Bundle")) {
        const mv_json *entries = mv_json_get(doc, "entry");
        if (mv_json_type_of(entries) == MV_JSON_ARRAY)
            n_entries = mv_json_len(entries);
        if (n_entries >= MV_FHIR_SLOT_ROOT) {
            rc = MV_ERR_TOO_LARGE;
            goto out;
        }
        if (n_entries && !(with_content = mv_calloc(n_entries, sizeof *with_content))) {
            rc = MV_ERR_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < n_entries; i++) {
            const mv_json *r = mv_json_get(mv_json_at(entries, i), "resource");
            int has = 0;
            if (!resource_type(r, &tl))
                continue; /* not a resource: left in the envelope as it is */
            if ((rc = classify_resource(p, r, &env_ex, &con_ex, &has)) != MV_OK)
                goto out;
            if (has)
                with_content[i] = r;
        }
    } else {
        int has = 0;
        if ((rc = classify_resource(p, doc, &env_ex, &con_ex, &has)) != MV_OK)
            goto out;
        if (has) {
            n_entries = 1;
            if (!(with_content = mv_calloc(1, sizeof *with_content))) {
                rc = MV_ERR_NOMEM;
                goto out;
            }
            with_content[0] = doc;
        }
    }
    mv_canon_nodes_sort(env_ex.v, env_ex.n);
    mv_canon_nodes_sort(con_ex.v, con_ex.n);
    rc = stamp ? write_envelope(&out->envelope, doc, &env_ex, vid, lu)
               : mv_canon_write_ex(&out->envelope, doc, NULL, 0, env_ex.v, env_ex.n);
    if (rc == MV_OK && versionless)
        rc = write_envelope(versionless, doc, &env_ex, NULL, NULL);
    if (rc != MV_OK)
        goto out;
    for (size_t i = 0; i < n_entries; i++) {
        if (!with_content[i])
            continue;
        uint32_t slot = with_content[i] == doc ? MV_FHIR_SLOT_ROOT : (uint32_t)i;
        if ((rc = add_block(out, slot, with_content[i], &con_ex)) != MV_OK)
            goto out;
    }
    rc = MV_OK;
out:
    if (rc != MV_OK)
        mv_fhir_split_clear(out);
    mv_free(env_ex.v);
    mv_free(con_ex.v);
    mv_free(with_content);
    return rc;
}

/* ---- join ---- */

/* The object node a slot names in envelope env, or NULL if there is none. */
static const mv_json *slot_target(const mv_json *env, uint32_t slot)
{
    size_t tl = 0;
    if (slot == MV_FHIR_SLOT_ROOT)
        return env;
    const char *t = resource_type(env, &tl);
    if (!is_type(t, tl, "Bundle"))
        return NULL;
    const mv_json *r = mv_json_get(mv_json_at(mv_json_get(env, "entry"), slot), "resource");
    return mv_json_type_of(r) == MV_JSON_OBJECT ? r : NULL;
}

mv_err mv_fhir_join(const uint8_t *envelope, size_t env_len, const uint8_t *const *blocks,
                    const size_t *block_lens, const uint32_t *slots, size_t n_blocks, mv_buf *out)
{
    const mv_json_limits lim = {MV_FHIR_MAX_BYTES, 0, 0};
    mv_json *env = NULL, **trees = NULL;
    mv_canon_overlay *ov = NULL;
    size_t tl = 0;
    mv_err rc;
    if (!out || (env_len && !envelope) || (n_blocks && (!blocks || !block_lens || !slots)))
        return MV_ERR_INVAL;
    for (size_t k = 0; k < n_blocks; k++)
        if (block_lens[k] && !blocks[k])
            return MV_ERR_INVAL;
    if ((rc = mv_json_parse(envelope ? (const char *)envelope : "", env_len, &lim, &env, NULL)) != MV_OK)
        goto out;
    rc = MV_ERR_PARSE;
    if (!resource_type(env, &tl))
        goto out;
    if (n_blocks) {
        rc = MV_ERR_NOMEM;
        if (!(trees = mv_calloc(n_blocks, sizeof *trees)) || !(ov = mv_calloc(n_blocks, sizeof *ov)))
            goto out;
    }
    for (size_t k = 0; k < n_blocks; k++) {
        const char *b = blocks[k] ? (const char *)blocks[k] : "";
        if ((rc = mv_json_parse(b, block_lens[k], &lim, &trees[k], NULL)) != MV_OK)
            goto out;
        rc = MV_ERR_PARSE;
        if (mv_json_type_of(trees[k]) != MV_JSON_OBJECT || !(ov[k].target = slot_target(env, slots[k])))
            goto out;
        ov[k].obj = trees[k];
    }
    mv_canon_overlay_sort(ov, n_blocks);
    for (size_t k = 1; k < n_blocks; k++)
        if (ov[k].target == ov[k - 1].target) {
            rc = MV_ERR_PARSE; /* one slot given twice */
            goto out;
        }
    rc = mv_canon_write_ex(out, env, ov, n_blocks, NULL, 0);
out:
    for (size_t k = 0; trees && k < n_blocks; k++)
        mv_json_free(trees[k]);
    mv_free(trees);
    mv_free(ov);
    mv_json_free(env);
    return rc;
}
