/* The kernels of every model.c that `mnistlab export RUN --format c` writes.

   serve/export_c.py pastes this file after a "#define MNISTLAB_USE_<KERNEL>" line for each
   kernel the model calls, so an unused one is compiled out (-Wunused-function is an error
   under the -Werror the export checks with). Portable C99: <math.h> and <stdint.h> only.
   Quantised values are uint8 with a per-tensor scale and zero point; weights are int8 per
   output channel with zero point 0; accumulators are int32; requantisation multiplies by a
   float per channel and rounds half to even (nearbyintf), as onnxruntime's QLinearConv does. */
#include <math.h>
#include <stdint.h>

#ifndef MNISTLAB_KERNEL
#define MNISTLAB_KERNEL static
#endif

#ifdef MNISTLAB_USE_Q8
/* x quantised to uint8 with (scale, zero point), saturating */
MNISTLAB_KERNEL uint8_t q8(float x, float scale, int zp) {
    float v = nearbyintf(x / scale) + (float)zp;
    return (uint8_t)(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
}
#endif

#ifdef MNISTLAB_USE_PIXEL_AT
/* element i of the model's (C, H, W) input from (H, W, C) dataset bytes, scaled to [0, 1] */
MNISTLAB_KERNEL float pixel_at(const unsigned char *pixels, int i, int hw, int channels) {
    return (float)pixels[(i % hw) * channels + i / hw] / 255.0f;
}
#endif

#ifdef MNISTLAB_USE_CONV_Q
/* grouped 2-D convolution, NCHW, uint8 x int8 -> int32 -> uint8; padding reads as the zero point */
MNISTLAB_KERNEL void conv_q(const uint8_t *x, int zx, const int8_t *w, const int32_t *b, const float *m,
                            uint8_t *y, int zy, int C, int H, int W, int F, int KH, int KW, int SH, int SW,
                            int PT, int PL, int OH, int OW, int G) {
    int f, oy, ox, c, ky, kx, cg = C / G, fg = F / G;
    for (f = 0; f < F; ++f) {
        int c0 = (f / fg) * cg;
        for (oy = 0; oy < OH; ++oy) for (ox = 0; ox < OW; ++ox) {
            int32_t acc = b[f];
            float v;
            for (c = 0; c < cg; ++c) for (ky = 0; ky < KH; ++ky) {
                int iy = oy * SH + ky - PT;
                if (iy < 0 || iy >= H) continue;
                for (kx = 0; kx < KW; ++kx) {
                    int ix = ox * SW + kx - PL;
                    if (ix < 0 || ix >= W) continue;
                    acc += ((int32_t)x[((c0 + c) * H + iy) * W + ix] - zx) *
                           (int32_t)w[((f * cg + c) * KH + ky) * KW + kx];
                }
            }
            v = nearbyintf((float)acc * m[f]) + (float)zy;
            y[(f * OH + oy) * OW + ox] = (uint8_t)(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
        }
    }
}
#endif

#ifdef MNISTLAB_USE_CONV_F
/* grouped 2-D convolution, NCHW, float; padding reads as 0 */
MNISTLAB_KERNEL void conv_f(const float *x, const float *w, const float *b, float *y, int C, int H, int W,
                            int F, int KH, int KW, int SH, int SW, int PT, int PL, int OH, int OW, int G) {
    int f, oy, ox, c, ky, kx, cg = C / G, fg = F / G;
    for (f = 0; f < F; ++f) {
        int c0 = (f / fg) * cg;
        for (oy = 0; oy < OH; ++oy) for (ox = 0; ox < OW; ++ox) {
            float acc = b[f];
            for (c = 0; c < cg; ++c) for (ky = 0; ky < KH; ++ky) {
                int iy = oy * SH + ky - PT;
                if (iy < 0 || iy >= H) continue;
                for (kx = 0; kx < KW; ++kx) {
                    int ix = ox * SW + kx - PL;
                    if (ix < 0 || ix >= W) continue;
                    acc += x[((c0 + c) * H + iy) * W + ix] * w[((f * cg + c) * KH + ky) * KW + kx];
                }
            }
            y[(f * OH + oy) * OW + ox] = acc;
        }
    }
}
#endif

#ifdef MNISTLAB_USE_DENSE_Q
/* y = x W^T + b, uint8 x int8 -> int32 -> uint8; w is (N, K) row-major */
MNISTLAB_KERNEL void dense_q(const uint8_t *x, int zx, const int8_t *w, const int32_t *b, const float *m,
                             uint8_t *y, int zy, int K, int N) {
    int n, k;
    for (n = 0; n < N; ++n) {
        int32_t acc = b[n];
        float v;
        for (k = 0; k < K; ++k) acc += ((int32_t)x[k] - zx) * (int32_t)w[n * K + k];
        v = nearbyintf((float)acc * m[n]) + (float)zy;
        y[n] = (uint8_t)(v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v));
    }
}
#endif

#ifdef MNISTLAB_USE_DENSE_F
/* y = x W^T + b, float; w is (N, K) row-major */
MNISTLAB_KERNEL void dense_f(const float *x, const float *w, const float *b, float *y, int K, int N) {
    int n, k;
    for (n = 0; n < N; ++n) {
        float acc = b[n];
        for (k = 0; k < K; ++k) acc += x[k] * w[n * K + k];
        y[n] = acc;
    }
}
#endif

/* max pooling, NCHW; cells outside the input never win (Keras pads with -inf) */
#define MNISTLAB_MAXPOOL(NAME, T, LOWEST)                                                       \
MNISTLAB_KERNEL void NAME(const T *x, int C, int H, int W, T *y, int OH, int OW, int KH, int KW, \
                          int SH, int SW, int PT, int PL) {                                     \
    int c, oy, ox, ky, kx;                                                                      \
    for (c = 0; c < C; ++c) for (oy = 0; oy < OH; ++oy) for (ox = 0; ox < OW; ++ox) {           \
        T best = LOWEST;                                                                        \
        for (ky = 0; ky < KH; ++ky) for (kx = 0; kx < KW; ++kx) {                               \
            int iy = oy * SH + ky - PT, ix = ox * SW + kx - PL;                                 \
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;                               \
            if (x[(c * H + iy) * W + ix] > best) best = x[(c * H + iy) * W + ix];               \
        }                                                                                       \
        y[(c * OH + oy) * OW + ox] = best;                                                      \
    }                                                                                           \
}
#ifdef MNISTLAB_USE_MAXPOOL_Q
MNISTLAB_MAXPOOL(maxpool_q, uint8_t, 0)
#endif
#ifdef MNISTLAB_USE_MAXPOOL_F
MNISTLAB_MAXPOOL(maxpool_f, float, -3.402823466e+38f)
#endif

#ifdef MNISTLAB_USE_SOFTMAX_F
/* softmax of n floats, shifted by their maximum so expf cannot overflow */
MNISTLAB_KERNEL void softmax_f(const float *x, float *y, int n) {
    int i;
    float top = x[0], sum = 0.0f;
    for (i = 1; i < n; ++i) if (x[i] > top) top = x[i];
    for (i = 0; i < n; ++i) { y[i] = expf(x[i] - top); sum += y[i]; }
    for (i = 0; i < n; ++i) y[i] /= sum;
}
#endif
