/* cdc.c - FastCDC with normalized chunking: cut points depend only on the 64 bytes ending at
 * them (never on where a chunk began or how input was read), so equal content chunks equally. */
#include "medvault/mv_cdc.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "medvault/mv_mem.h"

/* gear[i] = first 8 bytes (big-endian) of SHA-256("medvault-fastcdc-gear-v1" || be32(i)).
 * Generated once; tests/unit/test_cdc.c recomputes every entry with mv_sha256. */
static const uint64_t gear[MV_CDC_GEAR_ENTRIES] = {
    0x58505bb8cf9f0ac6ull, 0x2580cac5b6d49fa2ull, 0xad410c4c762359b7ull, 0x45f105cebdbe483full,
    0x74ae2a69c987c2d1ull, 0x12230afb43f729fcull, 0xbe867a5d747b6668ull, 0xa91d3c907e2baf98ull,
    0x0477011b983cff24ull, 0x739c88cecef5c46dull, 0x9fc3dd1e4497b340ull, 0x311b9610198f590full,
    0xb7daa02ef1dcb5eaull, 0xed2b1b704281e28bull, 0x9f25d717fbf72874ull, 0x97e7ab59a3e7faedull,
    0x8457ce6cf964c926ull, 0x393353965ed1b270ull, 0xd73eff26419593e2ull, 0xca4665dec9a62d18ull,
    0x942e865f665f3c0bull, 0xbb54c2ffdad01ad3ull, 0xada1d747db0f0216ull, 0x23f19ab065cec7c3ull,
    0x7b6a16f8f5f230efull, 0x6c84db9608fb8f1dull, 0x4a30fa62b3e92476ull, 0x097951a3441794ddull,
    0x37cc16b90a21c670ull, 0x52024abbfb6668bfull, 0x952bca5b81574275ull, 0xc156eec57340d86bull,
    0x69cf83c6002e4d0full, 0x2f5265e9e97e8131ull, 0x561b506a5f1b21a0ull, 0x625d0afab07c0be5ull,
    0x3a14032b903523a9ull, 0x1db6d8c9bffcb972ull, 0x338f363454deebc9ull, 0xcf2aaa0ad4a9da09ull,
    0x3709f58e9f683332ull, 0x0817f07dd7d18f14ull, 0xd9d9be4bef522e32ull, 0x1c34c4331f8fb828ull,
    0x7f5c30a2de44c5ceull, 0x9eff593b1a2b92b1ull, 0xa796131818b15db7ull, 0x932ae8ba83147079ull,
    0x78dfd75d92465e01ull, 0xe1fe1125f349a2d2ull, 0x9db8c88af6d7b0eeull, 0x4e30a5fa3d4320f5ull,
    0xa8c0ebcc60f0029dull, 0xe8e6a9be86056cb2ull, 0x8692a05723923387ull, 0xdc9f27acbc86c33full,
    0x9c91f1dddd0ee764ull, 0x43ab211a7cb8c144ull, 0x24414d67e0e3c1efull, 0x3c2162e0513d3f58ull,
    0xd3fa1db475c30b82ull, 0x6ff17df6767267d1ull, 0x8589663f9d6d95e5ull, 0x198a72d72c4b7e6eull,
    0x8e03a2a8cad5c9d5ull, 0x915d15169fd719caull, 0x2c48b737f6f8ac1aull, 0x811eda49c78b7f12ull,
    0x70d15c9e6d608b66ull, 0xed92b07fec4184baull, 0xf5881ff005c81079ull, 0x1bb232aca86e88eaull,
    0xa97bb87cc1583213ull, 0x9fb643556545d84aull, 0xa6fef72519819602ull, 0x8c2aba2d803fda9full,
    0x48351ef4582c1748ull, 0x2b2078ee1d3f321eull, 0xd6bd71b9f20d4685ull, 0x00ad1bea6f86dc55ull,
    0x263646e5b62ef8a7ull, 0x9d465a2b798e99a2ull, 0x36cfff012a33747bull, 0x8b90f1b3a221559cull,
    0xf84e53cb0d199004ull, 0x1514adb807312ce5ull, 0x18d71f452f4e354cull, 0x448ed8ecb672ff76ull,
    0xd16a3109f509bc8aull, 0x9934047b8622db00ull, 0xeac80f02754c94a4ull, 0x3bbe429907915256ull,
    0x08c50e8148cd6919ull, 0xe96b513ab9ceefcfull, 0x7c568b76415d73baull, 0xf3c18d974207dabfull,
    0xd590cdea87bebd53ull, 0x17ad9dbbe579e62cull, 0x2ceb316a4c7b5ba8ull, 0x6ff272f524a7e6cdull,
    0xa069e198d2342d77ull, 0x3b98b75db7018579ull, 0x2e29b390d64650e3ull, 0x2f2b317c3cc62bceull,
    0xdd02e6785dac1abcull, 0x0caac3cd001c5fffull, 0x4422b5290cf06a45ull, 0x63cf4fd3c3bcfe4eull,
    0x4bd98e482247cacaull, 0x5f13b12418e2763bull, 0x541a9d39d1c72000ull, 0xf1006c428cbde803ull,
    0x4719eabbec6dc3efull, 0x8e40584d535fe041ull, 0xd0d4fd38e742db9eull, 0xa8411a308a5026a9ull,
    0x645164b3e4d047eaull, 0xc7fde66f1b7b2428ull, 0xf41bd0e779b4cdc8ull, 0xa4e30777e5c75245ull,
    0xce92423abf824f6cull, 0x9b2cb8d9f0278402ull, 0xf7ebd5d9fa4625e0ull, 0x864eb32c809c2d96ull,
    0x0d04379d41f3c65bull, 0x7016394f30d5ba4full, 0xdda070cad246c07bull, 0xa963195f88656f3cull,
    0x06f438061b5e6c93ull, 0x8c64d65b3fae25fcull, 0xd7d3e3f9a8b70215ull, 0x7dfa2e4023a89f57ull,
    0x44375896a0aff47cull, 0x6e56323a4c80ba0dull, 0xd39e4ac6823a0437ull, 0xa7e8ee97459541cbull,
    0x338fd8b47eefc6b3ull, 0x47e9405f1c3a6d20ull, 0x80ba9dbb981cfe82ull, 0x784d815b39acf405ull,
    0xddc6cddecddc8ef6ull, 0xa961400ac2708715ull, 0x083117ae77cb6e6dull, 0x97ad10ca313a5a37ull,
    0x7fc5c6af52c5545cull, 0x5e26c1c8a467b016ull, 0xcc76d60c74d5b889ull, 0x889ff506120a685bull,
    0x07eaa7cf6f890f5bull, 0x3afea5d5e69852ffull, 0xa361b3af82046570ull, 0xfd1ed2dd7793788aull,
    0xaa9da29b8ef015e4ull, 0x6a462449a4fded69ull, 0xc601d7fb11ddc774ull, 0x28a165225e85ab93ull,
    0x7de37517617eeb4cull, 0xb13e45ef56e73e23ull, 0x27fa478ddb2de652ull, 0x1e4f55989879287aull,
    0x2108dba3dbd971d6ull, 0x847c84bec3aa1bf7ull, 0xd5ea93d6569c5c50ull, 0xab26f533b3d96d55ull,
    0x9cdee3eaa0340809ull, 0xf62fb1d19fc1a651ull, 0xae26ed6223e7f42bull, 0x2fd569ae1fafc95aull,
    0xec0cb37404a87191ull, 0xc1f943ed2d4a3b00ull, 0x8e00ddd991af79ddull, 0x550ecf4c748fcdd6ull,
    0x110ed64b770aa8cfull, 0xdd9947447f8adc28ull, 0x2db88a57d82cd3b0ull, 0xd67cc5edca248629ull,
    0x52e9b2c437880157ull, 0x28d19a2da14b0b96ull, 0x6e76fbc9a3be0fb5ull, 0x7e59bd8e7d7be6f6ull,
    0xd4068bcf51418c0dull, 0xce5e4b3094094dd3ull, 0x42c6eecf15de0e05ull, 0x592f4f87668af410ull,
    0x167c008cbd9cf347ull, 0x4cfe05ce40965bdcull, 0x68d505bfffef5a09ull, 0x38976161df2ebc05ull,
    0x248faf39df807d3full, 0xae8c99bea187ab19ull, 0xe074e4bbc3befa9dull, 0x109cdc312d65bd8full,
    0xc1bba7a8362fa48bull, 0x1e698118a1c24d01ull, 0x02d24643759a6c3cull, 0xec6a27aa00e226deull,
    0x383fdb2923c53a82ull, 0xb9f4f37d092cb379ull, 0x85d656db11686e3dull, 0xb441e6f04c7d5e51ull,
    0x0a85280f826b6714ull, 0x714ab8406e70e8beull, 0x53ad93e61122c48bull, 0x618ff526da96d368ull,
    0xd2fe01068e543f96ull, 0x17f363773d3e8677ull, 0x6c93fcc4c0817d8full, 0x2914bd9f07367dfcull,
    0x3e5b53339b65bf8dull, 0x63a6cfb77f290293ull, 0xc031d7e8ae1a441dull, 0x9e5d6f1dfaef18d1ull,
    0xd2a987bd051710deull, 0xc84a86f47178ce9bull, 0xb0d09ad22d6a8169ull, 0xb3ff5f2b0068395dull,
    0x8b3df7baf521be4full, 0xfd0f6c41ca6b1b1eull, 0xd69fcd6d8db6bac0ull, 0xff9d107904381ad1ull,
    0x4316840fc84263a2ull, 0xe3e37e3c359bd62aull, 0xdbf9e5f8507f6901ull, 0x2af1055bf601d4a9ull,
    0x00108896a8839dd0ull, 0xc873341e2b676decull, 0xe50bd68fc4e48a50ull, 0xb99740be3ec8d579ull,
    0xab2505a88babe7f0ull, 0xd60e3567cd02d55dull, 0x4c05790485cee3bfull, 0x2c67fad253e43d80ull,
    0x7f3fcae0f9857222ull, 0x614772d5755d58b2ull, 0x3eb8c9b2e3bfa028ull, 0x4032a5fd09e5e91full,
    0xf807d57921897bcdull, 0xa36265d057d45eb5ull, 0xd9cac9523952468full, 0x198282e4a4b299d7ull,
    0xaa88d355e6d1d166ull, 0x5b186f4bc9d0412aull, 0xa36a2b9f651026d7ull, 0xb78bcb9b4a30a80bull,
    0x8dcaa3b2bfd5665dull, 0xa80efd59da315490ull, 0xa2173aab5e7f027eull, 0xe6a320d3520f57a8ull,
    0x1b988261c6d82564ull, 0x35febb4846606458ull, 0x4aa9207eadd4ac91ull, 0x5efe26314061e8f3ull,
    0xaad5750aaf3e6d48ull, 0x3ceca205246dab98ull, 0x8c5c9c24551d9550ull, 0xfd2906ecdee38b0dull,
};

/* The window of the gear hash: fp = sum over j of gear[data[i-j]] << j (mod 2^64), so bit b of
 * fp depends on the last b+1 bytes and the whole word on the last 64. */
#define WINDOW 64
/* Mask one bits are spread evenly over bits 16..63, as the paper's masks spread theirs over
 * the upper bits: high bits give every bit of the test the longest window. */
#define SPREAD_LOW 16
#define SPREAD_BITS (64 - SPREAD_LOW)

const uint64_t *mv_cdc_gear(void) { return gear; }

mv_err mv_cdc_params_check(const mv_cdc_params *p)
{
    if (!p)
        return MV_ERR_INVAL;
    size_t a = p->avg_size;
    if (a < MV_CDC_AVG_MIN || a > MV_CDC_AVG_MAX || (a & (a - 1)) != 0)
        return MV_ERR_INVAL;
    if (p->min_size < 1 || p->min_size > a || a > p->max_size || p->max_size > MV_CDC_MAX_MAX)
        return MV_ERR_INVAL;
    return MV_OK;
}

static unsigned log2_exact(size_t pow2)
{
    unsigned b = 0;
    while (((size_t)1 << b) < pow2)
        b++;
    return b;
}

/* k one bits (1 <= k <= SPREAD_BITS) at positions 63 - floor(j * SPREAD_BITS / k), j < k:
 * distinct (the step is at least 1), starting at the top bit, evenly spaced. */
static uint64_t spread_mask(unsigned k)
{
    uint64_t m = 0;
    for (unsigned j = 0; j < k; j++)
        m |= (uint64_t)1 << (63 - (j * SPREAD_BITS) / k);
    return m;
}

mv_err mv_cdc_masks(const mv_cdc_params *p, uint64_t *mask_s, uint64_t *mask_l)
{
    if (!mask_s || !mask_l)
        return MV_ERR_INVAL;
    *mask_s = *mask_l = 0;
    if (mv_cdc_params_check(p) != MV_OK)
        return MV_ERR_INVAL;
    /* Normalization level 2 (FastCDC section 3.4): avg = 2^b, so 64 <= avg <= 2^28 gives
     * 4 <= b-2 and b+2 <= 30 <= SPREAD_BITS. */
    unsigned b = log2_exact(p->avg_size);
    *mask_s = spread_mask(b + 2);
    *mask_l = spread_mask(b - 2);
    return MV_OK;
}

size_t mv_cdc_cut(const mv_cdc_params *p, const uint8_t *data, size_t len, int at_eof)
{
    uint64_t mask_s, mask_l, fp = 0;
    size_t n, i;

    if (mv_cdc_masks(p, &mask_s, &mask_l) != MV_OK || (!data && len)) {
        assert(!"mv_cdc_cut: invalid parameters");
        return 0;
    }
    if (len == 0)
        return 0;
    n = len < p->max_size ? len : p->max_size;
    /* A cut after byte i gives a chunk of i + 1 bytes: eligible from i = min_size - 1. The
     * hash is started WINDOW bytes earlier (when min_size > WINDOW), so every decision sees
     * a full window and depends on content alone, not on where the chunk began. */
    i = p->min_size > WINDOW ? p->min_size - WINDOW : 0;
    for (; i < n && i + 1 < p->min_size; i++)
        fp = (fp << 1) + gear[data[i]];
    /* Below the average size the strict mask makes a cut unlikely... */
    for (; i < n && i + 1 < p->avg_size; i++) {
        fp = (fp << 1) + gear[data[i]];
        if (!(fp & mask_s))
            return i + 1;
    }
    /* ...from it on the loose mask makes one likely. */
    for (; i < n; i++) {
        fp = (fp << 1) + gear[data[i]];
        if (!(fp & mask_l))
            return i + 1;
    }
    if (n == p->max_size || at_eof)
        return n;
    return 0;
}

/* Reads until buf[*end..cap) is full or the input ends; EINTR is retried. */
static mv_err fill(int fd, uint8_t *buf, size_t cap, size_t *end, int *eof)
{
    while (*end < cap) {
        ssize_t r = read(fd, buf + *end, cap - *end);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return MV_ERR_IO;
        }
        if (r == 0) {
            *eof = 1;
            break;
        }
        *end += (size_t)r;
    }
    return MV_OK;
}

mv_err mv_cdc_fd(const mv_cdc_params *p, int fd, mv_cdc_chunk_fn fn, void *ctx)
{
    mv_err rc = MV_OK;
    uint8_t *buf = NULL;
    size_t cap, start = 0, end = 0;
    uint64_t offset = 0;
    int eof = 0;

    if (mv_cdc_params_check(p) != MV_OK || fd < 0 || !fn)
        return MV_ERR_INVAL;
    /* Invariant: buf[start..end) is unchunked input. A chunk needs at most max_size bytes,
     * and with 2 * max_size of room a refill after moving the tail down always has at least
     * max_size free. */
    cap = 2 * p->max_size;
    if (!(buf = mv_malloc(cap)))
        return MV_ERR_NOMEM;
    for (;;) {
        if (!eof && end - start < p->max_size) {
            if (start > 0) {
                memmove(buf, buf + start, end - start);
                end -= start;
                start = 0;
            }
            if ((rc = fill(fd, buf, cap, &end, &eof)) != MV_OK)
                goto out;
        }
        if (start == end)
            break; /* eof, everything delivered */
        size_t n = mv_cdc_cut(p, buf + start, end - start, eof);
        /* Either eof or at least max_size bytes are available, so a chunk is always cut. */
        if (n == 0 || n > end - start) {
            rc = MV_ERR_INVAL; /* unreachable: a broken invariant */
            goto out;
        }
        if ((rc = fn(ctx, buf + start, n, offset)) != MV_OK)
            goto out;
        start += n;
        offset += n;
    }
out:
    mv_wipe(buf, cap);
    mv_free(buf);
    return rc;
}
