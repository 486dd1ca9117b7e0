/* canon_ex.h - the canonical writer with member exclusion and object overlays, shared by
 * canon.c and fhir.c. (internal) */
#ifndef MV_RECORD_CANON_EX_H
#define MV_RECORD_CANON_EX_H

#include <stddef.h>
#include "medvault/mv_buf.h"
#include "medvault/mv_err.h"
#include "medvault/mv_json.h"

/* obj's members are merged into the object node target wherever target is written. */
typedef struct mv_canon_overlay {
    const mv_json *target;
    const mv_json *obj;
} mv_canon_overlay;

/* Sorts overlays by target, as mv_canon_write_ex needs them (equal targets end up adjacent). */
void mv_canon_overlay_sort(mv_canon_overlay *ov, size_t n);
/* Sorts a node set for mv_canon_write_ex's exclude argument. */
void mv_canon_nodes_sort(const mv_json **nodes, size_t n);

/* Appends the canonical form of root (all or nothing), where
 *   - an object member whose value node is in exclude[0..n_ex) (sorted with
 *     mv_canon_nodes_sort) is left out, key and value;
 *   - the members of every overlay's obj (sorted with mv_canon_overlay_sort) are merged into
 *     its target object: the same key in two merged objects is MV_ERR_PARSE unless both
 *     values are objects, which are then merged in turn (deep merge). Overlays apply where
 *     their target is written as an object; the caller makes sure every target is an object
 *     node of root's tree that is not excluded (an overlay on any other node is ignored).
 * With no exclusions and no overlays this is mv_canon_write. Iterative: the stack lives on
 * the heap, so the input's depth does not bound the C stack.
 * Errors: MV_ERR_PARSE (a merge conflict, an overlay that is not an object or targets a
 * non-object, invalid UTF-8), MV_ERR_TOO_LARGE (out's cap), MV_ERR_NOMEM. */
mv_err mv_canon_write_ex(mv_buf *out, const mv_json *root, const mv_canon_overlay *ov, size_t n_ov,
                         const mv_json *const *exclude, size_t n_ex) __attribute__((warn_unused_result));

#endif
