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
 * The draw is counter-based: splitmix64's output function of key + (flat output index + 1)
 * * golden gamma, its top 24 bits as u in [0, 1). The key comes from the caller (one draw of
 * the run's torch generator per call), so a mask depends on the seed, the step and the
 * element only: identical for any thread count or split of the batch across threads.
 *
 * Backward: each input element's gradient is gathered from the (at most ceil(k/s)^2)
 * windows that cover it, so every element is written exactly once (no zero fill first).
 * Overlapping windows add in torch's order (output row-major), rounding to the tensor's
 * type after each addition as torch's bfloat16 max_pool2d backward does.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define CHUNK 64 /* channels per register block: any C works, in blocks of this many */

static inline float bf16_load(uint16_t v) {
    union { uint32_t u; float f; } x;
    x.u = (uint32_t)v << 16;
    return x.f;
}

static inline uint16_t bf16_store(float f) {
    union { uint32_t u; float f; } x;
    x.f = f;
    if (f != f) return (uint16_t)((x.u >> 16) | 0x40); /* quiet NaN, sign kept */
    x.u += 0x7fffu + ((x.u >> 16) & 1u);              /* round to nearest even */
    return (uint16_t)(x.u >> 16);
}

static inline float f32_load(float v) { return v; }
static inline float f32_store(float f) { return f; }

static inline float draw(uint64_t key, uint64_t index) {
    uint64_t z = key + (index + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

typedef struct {
    int64_t n, h, w, c;      /* input N, H, W, C */
    int64_t oh, ow;          /* output H, W */
    int32_t kh, kw, sh, sw;  /* window and strides */
    int32_t pt, pl;          /* padding on top / left (-inf cells that never win) */
    int32_t relu, dropout;   /* flags */
    float rate, scale;       /* dropout: keep when u >= rate; kept values times scale */
    uint64_t key;            /* dropout key */
    int32_t threads;         /* OpenMP threads over the batch (1: this thread only) */
} tail_args;

#define FORWARD(NAME, T, LOAD, STORE)                                                        \
int NAME(const tail_args *a, const T *x, T *y, uint8_t *code) {                              \
    const int64_t C = a->c, OW = a->ow, OH = a->oh;                                          \
    int64_t n;                                                                               \
    _Pragma("omp parallel for schedule(static) num_threads(a->threads) if (a->threads > 1)") \
    for (n = 0; n < a->n; n++) {                                                             \
        float m[CHUNK];                                                                      \
        uint8_t id[CHUNK];                                                                   \
        for (int64_t oh = 0; oh < OH; oh++) {                                                \
            for (int64_t ow = 0; ow < OW; ow++) {                                            \
                const int64_t out = ((n * OH + oh) * OW + ow) * C;                           \
                for (int64_t c0 = 0; c0 < C; c0 += CHUNK) {                                  \
                    const int cn = C - c0 < CHUNK ? (int)(C - c0) : CHUNK;                   \
                    for (int c = 0; c < cn; c++) { m[c] = -INFINITY; id[c] = 0; }            \
                    for (int i = 0; i < a->kh; i++) {                                        \
                        const int64_t h = oh * a->sh - a->pt + i;                            \
                        if (h < 0 || h >= a->h) continue;                                    \
                        for (int j = 0; j < a->kw; j++) {                                    \
                            const int64_t w = ow * a->sw - a->pl + j;                        \
                            if (w < 0 || w >= a->w) continue;                                \
                            const T *src = x + ((n * a->h + h) * a->w + w) * C + c0;         \
                            const uint8_t k = (uint8_t)(i * a->kw + j);                      \
                            for (int c = 0; c < cn; c++) {                                   \
                                const float v = LOAD(src[c]);                                \
                                const int take = (v > m[c]) | (v != v);                      \
                                m[c] = take ? v : m[c];                                      \
                                id[c] = take ? k : id[c];                                    \
                            }                                                                \
                        }                                                                    \
                    }                                                                        \
                    for (int c = 0; c < cn; c++) {                                           \
                        float v = m[c];                                                      \
                        uint8_t cd = id[c];                                                  \
                        if (a->relu) {                                                       \
                            const int pos = v > 0.0f;                                        \
                            cd |= (uint8_t)(pos << 5);                                       \
                            v = (pos || v != v) ? v : 0.0f;                                  \
                        }                                                                    \
                        if (a->dropout) {                                                    \
                            const int keep = draw(a->key, (uint64_t)(out + c0 + c)) >= a->rate; \
                            cd |= (uint8_t)(keep << 4);                                      \
                            v = v * (keep ? a->scale : 0.0f);                                \
                        }                                                                    \
                        y[out + c0 + c] = STORE(v);                                          \
                        if (code) code[out + c0 + c] = cd;                                   \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    return 0;                                                                                \
}

#define BACKWARD(NAME, T, LOAD, STORE)                                                       \
int NAME(const tail_args *a, const T *gy, const uint8_t *code, T *gx) {                      \
    const int64_t C = a->c, OW = a->ow, OH = a->oh;                                          \
    const uint8_t need = (uint8_t)((a->relu ? 32 : 0));                                      \
    int64_t n;                                                                               \
    _Pragma("omp parallel for schedule(static) num_threads(a->threads) if (a->threads > 1)") \
    for (n = 0; n < a->n; n++) {                                                             \
        float acc[CHUNK];                                                                    \
        for (int64_t h = 0; h < a->h; h++) {                                                 \
            /* windows covering row h: oh*sh - pt <= h <= oh*sh - pt + kh - 1 */             \
            int64_t ohlo = (h + a->pt - a->kh + a->sh) / a->sh;                              \
            if (h + a->pt - a->kh + 1 < 0) ohlo = 0;                                         \
            int64_t ohhi = (h + a->pt) / a->sh;                                              \
            if (ohhi > OH - 1) ohhi = OH - 1;                                                \
            for (int64_t w = 0; w < a->w; w++) {                                             \
                int64_t owlo = (w + a->pl - a->kw + a->sw) / a->sw;                          \
                if (w + a->pl - a->kw + 1 < 0) owlo = 0;                                     \
                int64_t owhi = (w + a->pl) / a->sw;                                          \
                if (owhi > OW - 1) owhi = OW - 1;                                            \
                T *dst = gx + ((n * a->h + h) * a->w + w) * C;                               \
                for (int64_t c0 = 0; c0 < C; c0 += CHUNK) {                                  \
                    const int cn = C - c0 < CHUNK ? (int)(C - c0) : CHUNK;                   \
                    for (int c = 0; c < cn; c++) acc[c] = 0.0f;                              \
                    for (int64_t oh = ohlo; oh <= ohhi; oh++) {                              \
                        const int i = (int)(h + a->pt - oh * a->sh);                         \
                        for (int64_t ow = owlo; ow <= owhi; ow++) {                          \
                            const uint8_t k = (uint8_t)(i * a->kw + (int)(w + a->pl - ow * a->sw)); \
                            const int64_t o = ((n * OH + oh) * OW + ow) * C + c0;            \
                            for (int c = 0; c < cn; c++) {                                   \
                                const uint8_t cd = code[o + c];                              \
                                float g = LOAD(gy[o + c]);                                   \
                                if (a->dropout) g = LOAD(STORE(g * ((cd & 16) ? a->scale : 0.0f))); \
                                const int hit = ((cd & 15) == k) & ((cd & need) == need);    \
                                acc[c] = hit ? LOAD(STORE(acc[c] + g)) : acc[c];             \
                            }                                                                \
                        }                                                                    \
                    }                                                                        \
                    for (int c = 0; c < cn; c++) dst[c0 + c] = STORE(acc[c]);                \
                }                                                                            \
            }                                                                                \
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
