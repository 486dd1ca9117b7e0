/* fuzz_json.c - fuzz target for mv_json_parse and mv_json_write.
 *
 * Properties checked (abort on violation): the parser never crashes, leaks or reads past the
 * input; a failure is MV_ERR_PARSE or MV_ERR_TOO_LARGE with no tree and an offset within the
 * input; a parsed tree's accessors agree with each other; writing a tree always succeeds, the
 * written form parses, and writing that again gives identical bytes (the writer is a fixed
 * point after one pass). Build and run: see replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_json.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Walks the tree (depth is bounded by the parse limit) checking accessor invariants;
 * returns the number of nodes. */
static size_t walk(const mv_json *v)
{
    size_t nodes = 1, len = 0;
    uint64_t u = 0;
    int b = 0;
    switch (mv_json_type_of(v)) {
    case MV_JSON_NULL:
        CHECK(mv_json_bool(v, &b) == MV_ERR_PARSE);
        break;
    case MV_JSON_TRUE:
    case MV_JSON_FALSE:
        CHECK(mv_json_bool(v, &b) == MV_OK);
        CHECK(b == (mv_json_type_of(v) == MV_JSON_TRUE));
        break;
    case MV_JSON_NUMBER: {
        const char *s = mv_json_num(v, &len);
        CHECK(s && len > 0 && s[len] == 0 && strlen(s) == len);
        if (mv_json_u64(v, &u) == MV_OK)
            CHECK(s[0] >= '0' && s[0] <= '9');
        break;
    }
    case MV_JSON_STRING: {
        const char *s = mv_json_str(v, &len);
        CHECK(s && s[len] == 0);
        break;
    }
    case MV_JSON_ARRAY:
        CHECK(mv_json_at(v, mv_json_len(v)) == NULL);
        for (size_t i = 0; i < mv_json_len(v); i++) {
            CHECK(mv_json_at(v, i) != NULL);
            nodes += walk(mv_json_at(v, i));
        }
        break;
    case MV_JSON_OBJECT:
        CHECK(mv_json_value_at(v, mv_json_len(v)) == NULL);
        for (size_t i = 0; i < mv_json_len(v); i++) {
            size_t kl = 0;
            const char *k = mv_json_key_at(v, i, &kl);
            const mv_json *m = mv_json_value_at(v, i);
            CHECK(k && m && k[kl] == 0);
            /* Keys are unique, so lookup by a NUL-free key finds exactly this member. */
            if (strlen(k) == kl)
                CHECK(mv_json_get(v, k) == m);
            nodes += walk(m);
        }
        break;
    }
    return nodes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mv_json_limits lim = {1 << 20, 64, 100000};
    mv_json *root = NULL, *again = NULL;
    size_t off = 0;
    mv_buf w1, w2;
    mv_err rc = mv_json_parse((const char *)data, size, &lim, &root, &off);
    if (rc != MV_OK) {
        CHECK(root == NULL);
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(off <= size);
        return 0;
    }
    CHECK(root != NULL);
    CHECK(walk(root) <= lim.max_nodes);

    mv_buf_init(&w1, 4u << 20);
    mv_buf_init(&w2, 4u << 20);
    CHECK(mv_json_write(&w1, root) == MV_OK);
    CHECK(w1.len <= size); /* compact output never exceeds the input */
    CHECK(mv_json_parse((const char *)w1.ptr, w1.len, &lim, &again, &off) == MV_OK);
    CHECK(mv_json_write(&w2, again) == MV_OK);
    CHECK(w1.len == w2.len && memcmp(w1.ptr, w2.ptr, w1.len) == 0);
    mv_json_free(again);
    mv_json_free(root);
    mv_buf_clear(&w1);
    mv_buf_clear(&w2);
    return 0;
}
