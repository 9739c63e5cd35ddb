/* The TV-L1 inner loop on the CPU, fused: one pass over a pair's state per iteration, one pass per warp.
 *
 * tvl1_iterate_block: the same formula as flowkit.flow.engine.tvl1_iteration_ (thresholding, divergence, primal update,
 * forward gradient, dual update, OpenCV's border rules), written row by row so that each pixel's
 * state is read once and written once per iteration: the primal update of row y + 1 runs before the
 * dual update of row y, which needs the new flow of rows y and y + 1. Compiled when the package is
 * installed, or at run time as a fallback, by flowkit.flow.native_build (no FMA contraction, so every
 * product is rounded as torch rounds it).
 * tvl1_linearize: flowkit.flow.engine's _linearize (bicubic warp of I1 and its gradient, then the
 * data term's constants) with torch's grid_sample arithmetic, the three planes sampled together.
 *
 * Layout: u, px, py, g are (n, c, h, w) float32, neg_inv_grad, rho_c and i0 (n, 1, h, w), the warped
 * planes (n, h, w, 4) (I1, dI1/dx, dI1/dy, unused) interleaved; all C-contiguous.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#define FLT_EPSILON_ 1.1920928955078125e-07f /* OpenCV's floor on |grad I|^2 */
#define CUBIC_A -0.75f                       /* Keys' kernel, as OpenCV's INTER_CUBIC and torch's bicubic */

typedef float v4 __attribute__((vector_size(16)));

/* The installed library is built without -march, for every CPU of a cluster: on x86-64 each entry point
 * is compiled once per instruction set, with everything it calls inlined into each copy (flatten), and
 * the dynamic loader runs the copy the CPU supports best. A build for one machine (-march=native), or
 * where cloning is unsupported, defines FLOWKIT_NO_DISPATCH. */
#if defined(__x86_64__) && !defined(FLOWKIT_NO_DISPATCH)
#define DISPATCH __attribute__((target_clones("avx512f", "avx2", "default"), flatten))
#else
#define DISPATCH
#endif

#ifndef FLOWKIT_SOURCE_SHA256
#define FLOWKIT_SOURCE_SHA256 ""
#endif

/* The SHA-256 of the tvl1_cpu.c this library was built from ("" when not given): a library built from
 * another version of this file is not loaded. */
const char *tvl1_source_sha256(void) { return FLOWKIT_SOURCE_SHA256; }

/* The instruction set the entry points run with here: the clone the loader picks, or "fixed" when the
 * library was built for one target. */
const char *tvl1_isa(void) {
#if defined(__x86_64__) && !defined(FLOWKIT_NO_DISPATCH)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
    return "default";
#else
    return "fixed";
#endif
}

/* Primal update of row y: u += theta * div(p) + clamp(rho * neg_inv_grad, -l_t, l_t) * g.
 * Returns the row's summed squared change of u. coef: scratch of w floats. */
static double primal_row(int y, int c, int h, int w, float *u, const float *px, const float *py, const float *g,
                         const float *neg_inv_grad, const float *rho_c, float l_t, float theta, float *coef) {
    const size_t plane = (size_t)h * w, row = (size_t)y * w;
    const float *rc = rho_c + row, *ng = neg_inv_grad + row;
    for (int x = 0; x < w; x++) coef[x] = rc[x];
    for (int k = 0; k < c; k++) {
        const float *gk = g + k * plane + row, *uk = u + k * plane + row;
#pragma omp simd
        for (int x = 0; x < w; x++) coef[x] += gk[x] * uk[x];
    }
#pragma omp simd
    for (int x = 0; x < w; x++) {
        const float v = coef[x] * ng[x];
        coef[x] = v < -l_t ? -l_t : (v > l_t ? l_t : v);
    }
    float change = 0.0f;
    for (int k = 0; k < c; k++) {
        const float *pxk = px + k * plane + row, *pyk = py + k * plane + row, *gk = g + k * plane + row;
        const float *above = pyk - w; /* py of row y - 1: zero outside the image */
        float *uk = u + k * plane + row;
        const float first = pxk[0] + (y > 0 ? pyk[0] - above[0] : pyk[0]);
        const float step0 = first * theta + coef[0] * gk[0];
        uk[0] += step0;
        change += step0 * step0;
        if (y > 0) {
#pragma omp simd reduction(+ : change)
            for (int x = 1; x < w; x++) {
                const float div = (pxk[x] - pxk[x - 1]) + (pyk[x] - above[x]);
                const float step = div * theta + coef[x] * gk[x];
                uk[x] += step;
                change += step * step;
            }
        } else {
#pragma omp simd reduction(+ : change)
            for (int x = 1; x < w; x++) {
                const float div = (pxk[x] - pxk[x - 1]) + pyk[x];
                const float step = div * theta + coef[x] * gk[x];
                uk[x] += step;
                change += step * step;
            }
        }
    }
    return change;
}

/* Dual update of row y from the new u: p = (p + taut * grad u) / (1 + taut * |grad u|), forward
 * differences with zero on the last column and row. */
static void dual_row(int y, int c, int h, int w, const float *restrict u, float *restrict px, float *restrict py,
                     float taut) {
    const size_t plane = (size_t)h * w, row = (size_t)y * w;
    for (int k = 0; k < c; k++) {
        const float *uk = u + k * plane + row;
        float *pxk = px + k * plane + row, *pyk = py + k * plane + row;
        if (y < h - 1) {
            const float *below = uk + w;
#pragma omp simd
            for (int x = 0; x < w - 1; x++) {
                const float ux = uk[x + 1] - uk[x], uy = below[x] - uk[x];
                const float norm = sqrtf(ux * ux + uy * uy) * taut + 1.0f;
                pxk[x] = (pxk[x] + taut * ux) / norm;
                pyk[x] = (pyk[x] + taut * uy) / norm;
            }
            const float uy = below[w - 1] - uk[w - 1];
            const float norm = sqrtf(uy * uy) * taut + 1.0f;
            pxk[w - 1] = pxk[w - 1] / norm;
            pyk[w - 1] = (pyk[w - 1] + taut * uy) / norm;
        } else {
#pragma omp simd
            for (int x = 0; x < w - 1; x++) {
                const float ux = uk[x + 1] - uk[x];
                const float norm = sqrtf(ux * ux) * taut + 1.0f;
                pxk[x] = (pxk[x] + taut * ux) / norm;
                pyk[x] = pyk[x] / norm;
            }
        }
    }
}

/* One iteration of one pair, in place; returns the summed squared change of u. */
static double iterate_pair(int c, int h, int w, float *u, float *px, float *py, const float *g,
                           const float *neg_inv_grad, const float *rho_c, float l_t, float theta, float taut,
                           float *coef) {
    double change = primal_row(0, c, h, w, u, px, py, g, neg_inv_grad, rho_c, l_t, theta, coef);
    for (int y = 0; y < h; y++) {
        if (y + 1 < h) change += primal_row(y + 1, c, h, w, u, px, py, g, neg_inv_grad, rho_c, l_t, theta, coef);
        dual_row(y, c, h, w, u, px, py, taut);
    }
    return change;
}

/* Up to `iterations` iterations of each pair i in [0, n) with active[i] != 0. A pair stops after the
 * first iteration whose summed squared change is <= scaled_epsilon, and then active[i] = 0.
 * iterations_done[i] is increased by the iterations pair i ran. Returns 0, or -1 when out of memory. */
DISPATCH int tvl1_iterate_block(int n, int c, int h, int w, float *u, float *px, float *py, const float *g,
                       const float *neg_inv_grad, const float *rho_c, float l_t, float theta, float taut,
                       double scaled_epsilon, int iterations, unsigned char *active, int *iterations_done) {
    float *coef = malloc(sizeof(float) * (size_t)w);
    if (coef == NULL) return -1;
    const size_t state = (size_t)c * h * w, plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        if (!active[i]) continue;
        for (int k = 0; k < iterations; k++) {
            const double change = iterate_pair(c, h, w, u + i * state, px + i * state, py + i * state, g + i * state,
                                               neg_inv_grad + i * plane, rho_c + i * plane, l_t, theta, taut, coef);
            iterations_done[i]++;
            if (change <= scaled_epsilon) {
                active[i] = 0;
                break;
            }
        }
    }
    free(coef);
    return 0;
}

/* Keys' cubic weights of the taps at -1, 0, 1, 2 for a fraction t in [0, 1), as torch computes them. */
static inline void cubic_weights(float t, float out[4]) {
    const float a = CUBIC_A, t1 = t + 1.0f, t2 = 1.0f - t, t3 = t2 + 1.0f;
    out[0] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
    out[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    out[2] = ((a + 2.0f) * t2 - (a + 3.0f)) * t2 * t2 + 1.0f;
    out[3] = ((a * t3 - 5.0f * a) * t3 + 8.0f * a) * t3 - 4.0f * a;
}

/* The interleaved planes at (fx, fy): bicubic, taps outside the image count as zero. */
static inline v4 sample_bicubic(const v4 *planes, int h, int w, float fx, float fy) {
    const v4 zero = {0.0f, 0.0f, 0.0f, 0.0f};
    if (!(fx > -2.0f && fx < w + 1.0f && fy > -2.0f && fy < h + 1.0f)) return zero; /* every tap outside, or NaN */
    const float x0f = floorf(fx), y0f = floorf(fy);
    float wx[4], wy[4];
    cubic_weights(fx - x0f, wx);
    cubic_weights(fy - y0f, wy);
    const int x0 = (int)x0f - 1, y0 = (int)y0f - 1;
    v4 rows[4];
    if (x0 >= 0 && x0 + 3 < w && y0 >= 0 && y0 + 3 < h) {
        for (int j = 0; j < 4; j++) {
            const v4 *r = planes + (size_t)(y0 + j) * w + x0;
            rows[j] = r[0] * wx[0] + r[1] * wx[1] + r[2] * wx[2] + r[3] * wx[3];
        }
    } else {
        for (int j = 0; j < 4; j++) {
            const int y = y0 + j;
            v4 taps[4];
            for (int i = 0; i < 4; i++) {
                const int x = x0 + i;
                taps[i] = (y >= 0 && y < h && x >= 0 && x < w) ? planes[(size_t)y * w + x] : zero;
            }
            rows[j] = taps[0] * wx[0] + taps[1] * wx[1] + taps[2] * wx[2] + taps[3] * wx[3];
        }
    }
    return rows[0] * wy[0] + rows[1] * wy[1] + rows[2] * wy[2] + rows[3] * wy[3];
}

/* Linearize the data term of n pairs around u: g = (I1w_x, I1w_y[, gamma]), neg_inv_grad =
 * -1 / max(|grad I1w|^2, FLT_EPSILON), rho_c = I1w - I1w_x u_x - I1w_y u_y - I0, where I1w is I1
 * (and its gradient) sampled at p + u(p). Returns 0, or -1 when out of memory. */
DISPATCH int tvl1_linearize(int n, int c, int h, int w, const float *i0, const float *planes, const float *u, float gamma,
                   float *g, float *neg_inv_grad, float *rho_c) {
    const size_t plane = (size_t)h * w, state = (size_t)c * plane;
    float *row = malloc(sizeof(float) * 3 * (size_t)w); /* sampled I1w, I1w_x, I1w_y of one row, planar */
    if (row == NULL) return -1;
    float *s0 = row, *s1 = row + w, *s2 = row + 2 * (size_t)w;
    for (int i = 0; i < n; i++) {
        const v4 *pl = (const v4 *)(planes + 4 * plane * i);
        const float *ux = u + state * i, *uy = ux + plane, *prev = i0 + plane * i;
        float *gx = g + state * i, *gy = gx + plane, *ng = neg_inv_grad + plane * i, *rc = rho_c + plane * i;
        for (int y = 0; y < h; y++) {
            const size_t r = (size_t)y * w;
            for (int x = 0; x < w; x++) { /* gathers: one pixel at a time */
                const v4 s = sample_bicubic(pl, h, w, x + ux[r + x], y + uy[r + x]);
                s0[x] = s[0];
                s1[x] = s[1];
                s2[x] = s[2];
            }
#pragma omp simd
            for (int x = 0; x < w; x++) { /* the data term's constants: vectorized over the row */
                const float grad = s1[x] * s1[x] + s2[x] * s2[x];
                gx[r + x] = s1[x];
                gy[r + x] = s2[x];
                ng[r + x] = -1.0f / (grad > FLT_EPSILON_ ? grad : FLT_EPSILON_);
                rc[r + x] = s0[x] - s1[x] * ux[r + x] - s2[x] * uy[r + x] - prev[r + x];
            }
        }
        if (c == 3) {
            float *gg = gx + 2 * plane;
            for (size_t p = 0; p < plane; p++) gg[p] = gamma;
        }
    }
    free(row);
    return 0;
}
