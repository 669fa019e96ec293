/* The fused tail after a convolution: max pooling -> ReLU -> dropout in one pass, and its
 * backward in one pass. Called through ctypes on torch tensors' storage
 * (mnistlab/models/fused.py builds, caches and loads this file; it owns the contract).
 *
 * Layout: NHWC, contiguous (an NCHW tensor is passed as N*C images of one channel).
 * Types: float32, or bfloat16 as raw uint16 (math in float, results rounded to nearest even,
 * as torch's CPU kernels round them).
 *
 * Forward, per output element: the max over the pooling window (the first maximum in
 * row-major window order wins a tie, and a NaN always wins, as torch's max_pool2d decides),
 * then ReLU (optional), then dropout (optional): keep when a uniform draw u >= rate, then
 * multiply by `scale` (1 / (1 - rate), already rounded to the tensor's type by the caller, as
 * the torch reference multiplies by a mask of that type). It writes one byte per output
 * element for backward:
 *   bits 0-3  the winning position in the window (i * kw + j; windows up to 16 cells)
 *   bit 4     dropout kept it
 *   bit 5     the pooled value was > 0 (ReLU passes the gradient)
 * The draw is counter-based: each output row (n, oh) gets a 64-bit key, splitmix64's
 * output function of the call's key + row * golden gamma; each element of the row hashes
 * its position in the row with that key (two rounds of a 32-bit integer hash, so 16 lanes
 * of AVX-512 draw at once), and its top 24 bits are the draw u. The call's key comes from
 * the caller (one draw of the run's torch generator per call), so a mask depends on the
 * seed, the step and the element only: identical for any thread count.
 *
 * Backward: each input element's gradient is gathered from the (at most ceil(k/s)^2)
 * windows that cover it, so every element is written exactly once (no zero fill first).
 * Overlapping windows add in torch's order (output row-major), rounding to the tensor's
 * type after each addition as torch's bfloat16 max_pool2d backward does.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float bf16_load(uint16_t v) {
    const uint32_t u = (uint32_t)v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t bf16_store(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; /* round to nearest even */
    const uint32_t q = (u >> 16) | 0x40u;                      /* NaN stays a quiet NaN */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}

static inline float f32_load(float v) { return v; }
static inline float f32_store(float f) { return f; }

/* splitmix64's output function: one 64-bit key per output row */
static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* "lowbias32" (C. Wellons' hash-prospector), applied twice, keyed in between */
static inline uint32_t lowbias32(uint32_t x) {
    x ^= x >> 16; x *= 0x7FEB352Du;
    x ^= x >> 15; x *= 0x846CA68Bu;
    return x ^ (x >> 16);
}

static inline uint32_t hash32(uint32_t x, uint32_t k) { return lowbias32(lowbias32(x) ^ k); }

/* from this many channels on, loops run over the channels of each pixel (contiguous, whole
 * vectors); below it, over whole rows through gathers (a pixel fills less than a vector) */
#define WIDE 16

typedef struct {
    int64_t n, h, w, c;      /* input N, H, W, C */
    int64_t oh, ow;          /* output H, W */
    int32_t kh, kw, sh, sw;  /* window and strides */
    int32_t pt, pl;          /* padding on top / left (-inf cells that never win) */
    int32_t relu, dropout;   /* flags */
    uint32_t cut;            /* dropout: keep when the draw's top 24 bits >= cut (= rate * 2^24) */
    float scale;             /* kept values times scale */
    uint64_t key;            /* dropout key of this call */
    int32_t threads;         /* OpenMP threads over the batch (1: this thread only) */
} tail_args;

/* Forward, one output row (n, oh) at a time: the window maxima into row buffers (m, id),
 * then one long loop over the row for ReLU, dropout and the stores. */
#define FORWARD(NAME, T, LOAD, STORE)                                                        \
int NAME(const tail_args *args, const T *restrict x, T *restrict y, uint8_t *restrict code, \
         const int64_t *key) {                                                               \
    tail_args a = *args; /* a copy: stores through code could alias *args */                 \
    if (key) a.key = (uint64_t)*key; /* the key as drawn into a tensor (no host read in Python) */ \
    const int64_t C = a.c, OW = a.ow, OH = a.oh, H = a.h, W = a.w, row = OW * C;             \
    /* where window column j of output element o reads in a row: W * C is a -inf cell */   \
    int32_t off[a.kw][row];                                                                  \
    for (int j = 0; j < a.kw; j++)                                                           \
        for (int64_t ow = 0; ow < OW; ow++) {                                                \
            const int64_t w = ow * a.sw - a.pl + j;                                          \
            for (int64_t c = 0; c < C; c++)                                                  \
                off[j][ow * C + c] = (w < 0 || w >= W) ? (int32_t)(W * C) : (int32_t)(w * C + c); \
        }                                                                                    \
    int64_t n;                                                                               \
    _Pragma("omp parallel for schedule(static) num_threads(a.threads) if (a.threads > 1)")   \
    for (n = 0; n < a.n; n++) {                                                              \
        float m[row], xf[W * C + 1];                                                         \
        int32_t id[row];                                                                     \
        xf[W * C] = -INFINITY;                                                               \
        for (int64_t oh = 0; oh < OH; oh++) {                                                \
            for (int64_t e = 0; e < row; e++) { m[e] = -INFINITY; id[e] = 0; }               \
            for (int i = 0; i < a.kh; i++) {                                                 \
                const int64_t h = oh * a.sh - a.pt + i;                                      \
                if (h < 0 || h >= H) continue;                                               \
                const T *restrict xr = x + (n * H + h) * W * C;                              \
                if (C >= WIDE) { /* whole vectors per pixel: contiguous loads */             \
                    for (int j = 0; j < a.kw; j++) {                                         \
                        const int32_t k = i * a.kw + j;                                      \
                        for (int64_t ow = 0; ow < OW; ow++) {                                \
                            const int64_t w = ow * a.sw - a.pl + j;                          \
                            if (w < 0 || w >= W) continue;                                   \
                            const T *restrict src = xr + w * C;                              \
                            float *restrict mm = m + ow * C;                                 \
                            int32_t *restrict ii = id + ow * C;                              \
                            for (int64_t c = 0; c < C; c++) {                                \
                                const float v = LOAD(src[c]);                                \
                                const int take = (v > mm[c]) | (v != v);                     \
                                mm[c] = take ? v : mm[c];                                    \
                                ii[c] = take ? k : ii[c];                                    \
                            }                                                                \
                        }                                                                    \
                    }                                                                        \
                    continue;                                                                \
                }                                                                            \
                /* few channels: gather each window column over the whole row */             \
                for (int64_t e = 0; e < W * C; e++) xf[e] = LOAD(xr[e]);                     \
                for (int j = 0; j < a.kw; j++) {                                             \
                    const int32_t k = i * a.kw + j;                                          \
                    const int32_t *restrict oj = off[j];                                     \
                    for (int64_t e = 0; e < row; e++) {                                      \
                        const float v = xf[oj[e]];                                           \
                        const int take = (v > m[e]) | (v != v);                              \
                        m[e] = take ? v : m[e];                                              \
                        id[e] = take ? k : id[e];                                            \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            const int64_t base = (n * OH + oh) * row;                                        \
            T *restrict yr = y + base;                                                       \
            const uint64_t rk = mix64(a.key + (uint64_t)(n * OH + oh + 1) * 0x9E3779B97F4A7C15ull); \
            const uint32_t k0 = (uint32_t)rk, k1 = (uint32_t)(rk >> 32);                     \
            const uint32_t cut = a.cut;                                                      \
            const float scale = a.scale;                                                     \
            const int relu = a.relu, dropout = a.dropout;                                    \
            for (int64_t e = 0; e < row; e++) {                                              \
                float v = m[e];                                                              \
                int32_t cd = id[e];                                                          \
                /* branch-free, so that the loop vectorises for both types */               \
                const int pos = v > 0.0f;                                                    \
                cd |= (pos & relu) << 5;                                                     \
                v = (relu & !pos & (v == v)) ? 0.0f : v;                                     \
                const int keep = ((hash32((uint32_t)e + k0, k1) >> 8) >= cut) | !dropout;    \
                cd |= (keep & dropout) << 4;                                                 \
                v = v * (keep ? scale : 0.0f); /* scale is 1 without dropout */              \
                id[e] = cd;                                                                  \
                yr[e] = STORE(v);                                                            \
            }                                                                                \
            if (code) {                                                                      \
                uint8_t *restrict cr = code + base;                                          \
                for (int64_t e = 0; e < row; e++) cr[e] = (uint8_t)id[e];                    \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    return 0;                                                                                \
}

/* Backward. Per output row (n, oh), first the gradient each window passes on (dropout and
 * ReLU applied) and the window position that receives it (99: none), as float / int32 rows
 * (PREP); then each input row is written once, gathering from those rows. */
#define PREP(T, LOAD, STORE)                                                                 \
    do {                                                                                     \
        const T *restrict g0 = gy + (n * OH + oh) * OW * C;                                  \
        const uint8_t *restrict c0 = code + (n * OH + oh) * OW * C;                          \
        for (int64_t o = 0; o < OW * C; o++) {                                               \
            const int32_t cd = c0[o];                                                        \
            float g = LOAD(g0[o]);                                                           \
            if (dropout) g = LOAD(STORE(g * ((cd & 16) ? scale : 0.0f)));                    \
            gv[o] = g;                                                                       \
            kc[o] = ((cd & need) == need) ? (cd & 15) : 99;                                  \
        }                                                                                    \
    } while (0)

#define BACKWARD(NAME, T, LOAD, STORE)                                                       \
int NAME(const tail_args *args, const T *restrict gy, const uint8_t *restrict code, T *restrict gx) { \
    const tail_args a = *args;                                                               \
    const int64_t C = a.c, OW = a.ow, OH = a.oh, H = a.h, W = a.w;                           \
    const int32_t need = a.relu ? 32 : 0;                                                    \
    const float scale = a.scale;                                                             \
    const int dropout = a.dropout;                                                           \
    int64_t n;                                                                               \
    if (a.sh >= a.kh && a.sw >= a.kw && C < WIDE) { /* no overlap, few channels: gather */  \
        int32_t om[W * C], kj[W * C];  /* per row element: its window's offset, and j */     \
        for (int64_t w = 0; w < W; w++) {                                                    \
            const int64_t ow = (w + a.pl) / a.sw, j = w + a.pl - ow * a.sw;                  \
            const int ok = ow < OW && j < a.kw;                                              \
            for (int64_t c = 0; c < C; c++) {                                                \
                om[w * C + c] = ok ? (int32_t)(ow * C + c) : 0;                              \
                kj[w * C + c] = ok ? (int32_t)j : 1000; /* never a window position */        \
            }                                                                                \
        }                                                                                    \
        _Pragma("omp parallel for schedule(static) num_threads(a.threads) if (a.threads > 1)") \
        for (n = 0; n < a.n; n++) {                                                          \
            float gv[OW * C];                                                                \
            int32_t kc[OW * C];                                                              \
            int64_t ready = -1;                                                              \
            for (int64_t h = 0; h < H; h++) {                                                \
                const int64_t oh = (h + a.pt) / a.sh, i = h + a.pt - oh * a.sh;              \
                T *restrict dst = gx + (n * H + h) * W * C;                                  \
                if (oh >= OH || i >= a.kh) {                                                 \
                    memset(dst, 0, (size_t)(W * C) * sizeof(T));                             \
                    continue;                                                                \
                }                                                                            \
                if (ready != oh) { PREP(T, LOAD, STORE); ready = oh; }                       \
                const int32_t ik = (int32_t)i * a.kw;                                        \
                for (int64_t e = 0; e < W * C; e++) {                                        \
                    const int32_t o = om[e];                                                 \
                    dst[e] = STORE(kc[o] == ik + kj[e] ? gv[o] : 0.0f);                      \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        return 0;                                                                            \
    }                                                                                        \
    _Pragma("omp parallel for schedule(static) num_threads(a.threads) if (a.threads > 1)")   \
    for (n = 0; n < a.n; n++) {                                                              \
        float acc[W * C], gv[OW * C];                                                        \
        int32_t kc[OW * C];                                                                  \
        for (int64_t h = 0; h < H; h++) {                                                    \
            /* windows covering row h: oh * sh - pt <= h <= oh * sh - pt + kh - 1 */         \
            const int64_t lo = h + a.pt - a.kh + 1;                                          \
            const int64_t ohlo = lo <= 0 ? 0 : (lo + a.sh - 1) / a.sh;                       \
            int64_t ohhi = (h + a.pt) / a.sh;                                                \
            if (ohhi > OH - 1) ohhi = OH - 1;                                                \
            for (int64_t e = 0; e < W * C; e++) acc[e] = 0.0f;                               \
            for (int64_t oh = ohlo; oh <= ohhi; oh++) {                                      \
                const int32_t i = (int32_t)(h + a.pt - oh * a.sh);                           \
                PREP(T, LOAD, STORE);                                                        \
                for (int64_t ow = 0; ow < OW; ow++) {                                        \
                    for (int j = 0; j < a.kw; j++) {                                         \
                        const int64_t w = ow * a.sw - a.pl + j;                              \
                        if (w < 0 || w >= W) continue;                                       \
                        const int32_t k = i * a.kw + j;                                      \
                        float *restrict ar = acc + w * C;                                    \
                        const float *restrict g = gv + ow * C;                               \
                        const int32_t *restrict kk = kc + ow * C;                            \
                        for (int64_t c = 0; c < C; c++)                                      \
                            ar[c] = kk[c] == k ? LOAD(STORE(ar[c] + g[c])) : ar[c];          \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
            T *restrict dst = gx + (n * H + h) * W * C;                                      \
            for (int64_t e = 0; e < W * C; e++) dst[e] = STORE(acc[e]);                      \
        }                                                                                    \
    }                                                                                        \
    return 0;                                                                                \
}

FORWARD(tail_forward_f32, float, f32_load, f32_store)
FORWARD(tail_forward_bf16, uint16_t, bf16_load, bf16_store)
BACKWARD(tail_backward_f32, float, f32_load, f32_store)
BACKWARD(tail_backward_bf16, uint16_t, bf16_load, bf16_store)

/* the struct's size, so the loader can check that its ctypes layout matches this build */
int64_t tail_args_size(void) { return (int64_t)sizeof(tail_args); }
