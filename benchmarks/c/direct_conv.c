/* A plain direct 3x3 convolution (stride 1, valid padding, NHWC, float32) for
 * benchmarks/conv_speed.py: what a hand-written kernel gets on the zoo's few-channel
 * convolutions, against oneDNN. Not used by mnistlab's training.
 *
 * Formulation: each input row is expanded so that every pixel's value is repeated once per
 * output channel (E[c][y][x*co + o] = in[y][x*ci + c]); an output row (ow*co floats,
 * channels fastest) is then a sum over taps (c, ky, kx) of E's row oy+ky shifted by kx*co,
 * times the weights tiled along the row (WT[tap][x*co + o] = w[o][c][ky][kx]). Every inner
 * operation is a contiguous vector multiply-add, whatever the channel counts; the weights of
 * one input channel stay in registers and four output rows share each loaded input row.
 * Weight gradient: the same products with the output gradient in place of the weights,
 * summed over rows (the caller sums the tiled result per channel). Input gradient: the
 * forward kernel on the zero-padded output gradient with flipped, transposed weights.
 * Rows are padded to whole vectors; the padding of WT and E is zero.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

typedef float vf __attribute__((vector_size(64), aligned(4)));
#define VL 16
#define K 3

typedef struct { int64_t n, h, w, ci, co, kh, kw; int32_t threads; } Shape;

static inline int64_t up(int64_t a) { return (a + VL - 1) / VL * VL; }
static inline vf ld(const float *p) { return *(const vf *)p; }

static void expand(const float *img, float *E, int64_t h, int64_t w, int64_t ci, int64_t co, int64_t es) {
    for (int64_t y = 0; y < h; y++) {
        const float *r = img + y * w * ci;
        for (int64_t c = 0; c < ci; c++) {
            float *e = E + (c * h + y) * es;
            for (int64_t x = 0; x < w; x++) {
                const float v = r[x * ci + c];
                for (int64_t o = 0; o < co; o++) e[x * co + o] = v;
            }
        }
    }
}


/* R output rows at j0: rows oy..oy+R-1, one vector wide */
#define ROWS(R) \
static inline void rows##R(const float *restrict E, const float *restrict WT, vf b, float *restrict out, \
                           int64_t ci, int64_t co, int64_t Lp, int64_t L, int64_t es, int64_t hes, vf *res) { \
    vf a[R]; \
    for (int r = 0; r < R; r++) a[r] = b; \
    for (int64_t c = 0; c < ci; c++) { \
        const float *wt = WT + c * K * K * Lp; \
        const float *e = E + c * hes; \
        vf w[K][K]; \
        for (int ky = 0; ky < K; ky++) for (int kx = 0; kx < K; kx++) w[ky][kx] = ld(wt + (ky * K + kx) * Lp); \
        for (int r = 0; r < R + K - 1; r++) { \
            vf ev[K]; \
            for (int kx = 0; kx < K; kx++) ev[kx] = ld(e + r * es + kx * co); \
            for (int ky = 0; ky < K; ky++) \
                if (r - ky >= 0 && r - ky < R) \
                    for (int kx = 0; kx < K; kx++) a[r - ky] += ev[kx] * w[ky][kx]; \
        } \
    } \
    for (int r = 0; r < R; r++) res[r] = a[r]; \
}
ROWS(4)
ROWS(1)

/* out[oy][j] = bt[j] + sum_{c,ky,kx} E[c][oy+ky][kx*co + j] * WT[(c*K+ky)*K+kx][j] */
static void conv_image(const float *E, const float *WT, const float *bt, float *out, float *tmp,
                       int64_t h, int64_t ci, int64_t co, int64_t L, int64_t es) {
    const int64_t oh = h - K + 1, Lp = up(L);
    for (int64_t j0 = 0; j0 < Lp; j0 += VL) {
        const int64_t nb = L - j0 < VL ? L - j0 : VL;
        const vf b = ld(bt + j0);
        vf res[4];
        for (int64_t oy = 0; oy < oh;) {
            int R = oh - oy >= 4 ? 4 : 1;
            if (R == 4) rows4(E + oy * es + j0, WT + j0, b, out, ci, co, Lp, L, es, h * es, res);
            else rows1(E + oy * es + j0, WT + j0, b, out, ci, co, Lp, L, es, h * es, res);
            for (int r = 0; r < R; r++) {
                if (nb == VL) *(vf *)(out + (oy + r) * L + j0) = res[r];
                else { *(vf *)tmp = res[r]; memcpy(out + (oy + r) * L + j0, tmp, nb * 4); }
            }
            oy += R;
        }
    }
}

void conv_forward(const Shape *s, const float *x, const float *WT, const float *bt, float *y) {
    const int64_t oh = s->h - K + 1, ow = s->w - K + 1, L = ow * s->co;
    const int64_t es = up((K - 1) * s->co + up(L));
    #pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        float *E = calloc(s->ci * s->h * es, 4), *tmp = malloc(VL * 4);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < s->n; i++) {
            expand(x + i * s->h * s->w * s->ci, E, s->h, s->w, s->ci, s->co, es);
            conv_image(E, WT, bt, y + i * oh * L, tmp, s->h, s->ci, s->co, L, es);
        }
        free(E); free(tmp);
    }
}

void conv_wgrad(const Shape *s, const float *x, const float *go, float *GW, float *GB) {
    const int64_t oh = s->h - K + 1, ow = s->w - K + 1, L = ow * s->co, Lp = up(L);
    const int64_t es = up((K - 1) * s->co + Lp), taps = s->ci * K * K;
    memset(GW, 0, taps * Lp * 4); memset(GB, 0, Lp * 4);
    #pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        float *E = calloc(s->ci * s->h * es, 4), *G = calloc(taps * Lp + Lp, 4), *Pg = calloc((oh + 2) * Lp, 4);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < s->n; i++) {
            expand(x + i * s->h * s->w * s->ci, E, s->h, s->w, s->ci, s->co, es);
            /* go rows padded: two zero rows before, zero beyond L */
            for (int64_t oy = 0; oy < oh; oy++) memcpy(Pg + (oy + 2) * Lp, go + (i * oh + oy) * L, L * 4);
            for (int64_t j0 = 0; j0 < Lp; j0 += VL) {
                vf gb = {0};
                for (int64_t oy = 0; oy < oh; oy++) gb += ld(Pg + (oy + 2) * Lp + j0);
                *(vf *)(G + taps * Lp + j0) += gb;
                for (int64_t c = 0; c < s->ci; c++) {
                    vf a[K][K] = {0};
                    const float *e = E + c * s->h * es + j0;
                    for (int64_t r = 0; r < s->h; r++) {   /* input row r feeds output rows r-ky */
                        vf ev[K];
                        for (int kx = 0; kx < K; kx++) ev[kx] = ld(e + r * es + kx * s->co);
                        for (int ky = 0; ky < K; ky++) {
                            /* output row r-ky; rows <0 or >=oh read zeros (padded) */
                            const int64_t oy = r - ky;
                            if (oy >= oh) continue;
                            const vf g = ld(Pg + (oy + 2) * Lp + j0);
                            for (int kx = 0; kx < K; kx++) a[ky][kx] += g * ev[kx];
                        }
                    }
                    float *d = G + c * K * K * Lp + j0;
                    for (int ky = 0; ky < K; ky++) for (int kx = 0; kx < K; kx++) *(vf *)(d + (ky * K + kx) * Lp) += a[ky][kx];
                }
            }
        }
        #pragma omp critical
        {
            for (int64_t k = 0; k < taps * Lp; k++) GW[k] += G[k];
            for (int64_t k = 0; k < Lp; k++) GB[k] += G[taps * Lp + k];
        }
        free(E); free(G); free(Pg);
    }
}

void conv_dgrad(const Shape *s, const float *go, const float *WTB, const float *zeros, float *gi) {
    const int64_t oh = s->h - K + 1, ow = s->w - K + 1;
    const int64_t ph = oh + 2 * (K - 1), pw = ow + 2 * (K - 1), L = s->w * s->ci;
    const int64_t es = up((K - 1) * s->ci + up(L));
    #pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        float *P = calloc(ph * pw * s->co, 4), *E = calloc(s->co * ph * es, 4), *tmp = malloc(VL * 4);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < s->n; i++) {
            const float *g = go + i * oh * ow * s->co;
            for (int64_t y = 0; y < oh; y++)
                memcpy(P + ((y + K - 1) * pw + K - 1) * s->co, g + y * ow * s->co, ow * s->co * 4);
            expand(P, E, ph, pw, s->co, s->ci, es);
            conv_image(E, WTB, zeros, gi + i * s->h * L, tmp, ph, s->co, s->ci, L, es);
        }
        free(P); free(E); free(tmp);
    }
}

/* the forward with each image's output written to one per-thread buffer that stays in
   cache: what the convolution would cost if fused with the pooling after it */
void conv_forward_nowrite(const Shape *s, const float *x, const float *WT, const float *bt, float *y) {
    const int64_t oh = s->h - K + 1, ow = s->w - K + 1, L = ow * s->co;
    const int64_t es = up((K - 1) * s->co + up(L));
    #pragma omp parallel num_threads(s->threads) if (s->threads > 1)
    {
        float *E = calloc(s->ci * s->h * es, 4), *tmp = malloc(VL * 4), *o = malloc(oh * L * 4 + 64);
        #pragma omp for schedule(static)
        for (int64_t i = 0; i < s->n; i++) {
            expand(x + i * s->h * s->w * s->ci, E, s->h, s->w, s->ci, s->co, es);
            conv_image(E, WT, bt, o, tmp, s->h, s->ci, s->co, L, es);
        }
        y[0] = o[7];
        free(E); free(tmp); free(o);
    }
}
