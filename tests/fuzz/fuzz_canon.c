/* fuzz_canon.c - fuzz target for mv_canon, mv_fhir_split_doc and mv_fhir_join.
 *
 * Properties checked (abort on violation): canonicalisation never crashes, leaks or reads past
 * the input; a failure is MV_ERR_PARSE or MV_ERR_TOO_LARGE with nothing written; a canonical
 * text is its own canonical form (idempotence); if the input is an object with a string
 * resourceType, splitting it (with the built-in profiles and with a profile of nested dotted
 * paths) and joining the parts gives exactly the canonical form; and the input used as an
 * untrusted content block for join either fails cleanly or gives canonical JSON.
 * Build and run: see replay.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "medvault/mv_buf.h"
#include "medvault/mv_canon.h"
#include "medvault/mv_fhir.h"
#include "medvault/mv_json.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP ((size_t)4 << 20)

static const char nested_profile[] =
    "{\"version\":1,\"default\":{\"envelope\":[\"x.y.z\",\"x.w\",\"code.text\",\"dispenseRequest.validityPeriod\"]},"
    "\"types\":{\"Patient\":{\"envelope\":\"*\"},\"Observation\":{\"envelope\":[]},"
    "\"Bundle\":{\"envelope\":[\"entry\"]}}}";

/* Profiles are immutable once built; the target keeps them for the process's lifetime. */
static const mv_fhir_profiles *profiles(int which)
{
    static mv_fhir_profiles *p[2];
    if (!p[which]) {
        mv_err rc = which ? mv_fhir_profiles_parse(nested_profile, sizeof nested_profile - 1, &p[which])
                          : mv_fhir_profiles_default(&p[which]);
        CHECK(rc == MV_OK);
    }
    return p[which];
}

static void check_split_join(const mv_fhir_profiles *p, const mv_json *doc, const mv_buf *canon)
{
    mv_fhir_split s;
    mv_buf j;
    const uint8_t **bp = NULL;
    size_t *bl = NULL;
    mv_fhir_split_init(&s);
    mv_buf_init(&j, OUT_CAP);
    CHECK(mv_fhir_split_doc(p, doc, &s) == MV_OK);
    bp = calloc(s.n_blocks + 1, sizeof *bp);
    bl = calloc(s.n_blocks + 1, sizeof *bl);
    CHECK(bp && bl);
    for (size_t i = 0; i < s.n_blocks; i++) {
        bp[i] = s.blocks[i].ptr;
        bl[i] = s.blocks[i].len;
        CHECK(bl[i] > 2);                                 /* never an empty block */
        CHECK(i == 0 || s.slots[i] > s.slots[i - 1]); /* in entry order */
    }
    CHECK(mv_fhir_join(s.envelope.ptr, s.envelope.len, bp, bl, s.slots, s.n_blocks, &j) == MV_OK);
    CHECK(j.len == canon->len && memcmp(j.ptr, canon->ptr, j.len) == 0);
    free(bp);
    free(bl);
    mv_buf_clear(&j);
    mv_fhir_split_clear(&s);
}

/* The input as a hostile content block, merged at the root or into a Bundle entry. */
static void check_hostile_block(const uint8_t *data, size_t size)
{
    static const char env[] = "{\"entry\":[{\"resource\":{\"code\":{\"text\":\"c\"},\"resourceType\":\"Observation\"}},"
                              "{\"resource\":7}],\"resourceType\":\"Bundle\"}";
    const uint8_t *bp[1] = {data};
    size_t bl[1] = {size};
    uint32_t slot = size && (data[0] & 1) ? 0 : MV_FHIR_SLOT_ROOT;
    mv_buf j, again;
    mv_buf_init(&j, OUT_CAP);
    mv_buf_init(&again, OUT_CAP);
    mv_err rc = mv_fhir_join((const uint8_t *)env, sizeof env - 1, bp, bl, &slot, 1, &j);
    if (rc == MV_OK) {
        CHECK(mv_canon((const char *)j.ptr, j.len, NULL, &again, NULL) == MV_OK);
        CHECK(again.len == j.len && memcmp(again.ptr, j.ptr, j.len) == 0);
    } else {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(j.len == 0);
    }
    mv_buf_clear(&j);
    mv_buf_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const mv_json_limits lim = {1 << 20, 64, 100000};
    mv_json *doc = NULL;
    mv_buf c1, c2;
    size_t off = 0;
    mv_buf_init(&c1, OUT_CAP);
    mv_buf_init(&c2, OUT_CAP);
    mv_err rc = mv_canon((const char *)data, size, &lim, &c1, &off);
    if (rc != MV_OK) {
        CHECK(rc == MV_ERR_PARSE || rc == MV_ERR_TOO_LARGE);
        CHECK(off <= size && c1.len == 0);
        goto out;
    }
    CHECK(c1.len <= size); /* canonical output never exceeds the input */
    CHECK(mv_canon((const char *)c1.ptr, c1.len, &lim, &c2, NULL) == MV_OK);
    CHECK(c1.len == c2.len && memcmp(c1.ptr, c2.ptr, c1.len) == 0);

    CHECK(mv_json_parse((const char *)data, size, &lim, &doc, NULL) == MV_OK);
    if (mv_json_type_of(doc) == MV_JSON_OBJECT && mv_json_str(mv_json_get(doc, "resourceType"), NULL)) {
        check_split_join(profiles(0), doc, &c1);
        check_split_join(profiles(1), doc, &c1);
    }
out:
    check_hostile_block(data, size);
    mv_json_free(doc);
    mv_buf_clear(&c1);
    mv_buf_clear(&c2);
    return 0;
}
