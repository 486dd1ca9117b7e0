/* decoy_gen.c - deterministic decoy records: same sizes and readers as the real record, content
 * derived only from the decoy cloud's secret seed and the public shape, never from real data. */
#include "medvault/mv_decoy.h"

#include <string.h>

#include "medvault/mv_mem.h"

void mv_decoy_record_init(mv_decoy_record *r)
{
    if (r)
        memset(r, 0, sizeof *r);
}

void mv_decoy_record_clear(mv_decoy_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_blocks; i++)
        mv_free(r->blocks[i].c);
    mv_free(r->blocks);
    mv_free(r->env);
    memset(r, 0, sizeof *r);
}

/* Placeholder until the generator lands (next commit on h-decoy): refuses. */
mv_err mv_decoy_generate(const uint8_t seed[static MV_DECOY_SEED_BYTES], const mv_decoy_shape *s,
                         mv_decoy_record *out)
{
    (void)seed;
    (void)s;
    mv_decoy_record_clear(out);
    return MV_ERR_BAD_STATE;
}
