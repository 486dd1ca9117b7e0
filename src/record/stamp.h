/* stamp.h - how a resource's meta.versionId / meta.lastUpdated are replaced in one canonical
 * pass (mv_canon_write_ex's exclusions and overlay), shared by mv_fhir_restamp and
 * mv_fhir_split_stamped. (internal) */
#ifndef MV_RECORD_STAMP_H
#define MV_RECORD_STAMP_H

#include <stddef.h>
#include "record/canon_ex.h"

typedef struct fhir_stamp {
    const mv_json *ex[2]; /* the root meta's versionId/lastUpdated value nodes, or meta itself */
    size_t n_ex;
    mv_canon_overlay ov;  /* ov.obj NULL: none */
    mv_json *ov_doc;
    mv_buf ov_text;
} fhir_stamp;

/* Plans doc's root (an object) written with versionId vid and lastUpdated lu (NULL: left
 * out; meta itself is left out when nothing else remains in it). Errors: MV_ERR_PARSE (meta
 * not an object), MV_ERR_NOMEM. Free with fhir_stamp_free, whatever it returned. */
mv_err fhir_stamp_plan(const mv_json *doc, const char *vid, const char *lu, fhir_stamp *st);
void fhir_stamp_free(fhir_stamp *st);

#endif
