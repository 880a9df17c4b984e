// Convolution on the GPU: im2col and its adjoint col2im (pooling is built on them), and conv2d
// with its two gradients as implicit GEMMs: the same tiled product as matmul.cu, whose tile
// loaders compute each element of the unfolded matrix from the image when they need it, so no
// column buffer is ever written to global memory.
//
// The three products (per group g; `taps` = kh·kw, L = OH·OW):
//
//   forward       y[n, o, p]      = Σ_(c,i,j)   w[o, c, i, j] · x̂[n, (c,i,j), p]      M = O/G, N = L,   K = C/G·taps
//   input grad    ∂x[n, c, q]     = Σ_(o,i,j)   w[o, c, i, j] · ĝ[n, (o,i,j), q]      M = C/G, N = H·W, K = O/G·taps
//   weight grad   ∂w[o, (c,i,j)]  = Σ_(n,p)     gy[n, o, p]   · x̂[n, (c,i,j), p]      M = O/G, N = C/G·taps, K = N·L
//
// where x̂ is the im2col matrix of x (zero in the padding) and ĝ[n, (o,i,j), q] is the output
// gradient at the output position whose tap (i, j) reads input pixel q (zero where no output
// position does: the stride skips it, or it falls outside the output).

// The shape of one convolution: input [n, c, h, w], o output channels in `groups` groups, the
// kernel, stride, padding and dilation per axis, and the output size. The twin of
// `ferrograd_kernels::conv::cuda::ConvShape`.
struct ConvShape {
    int n, c, h, w;
    int o, groups;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int oh, ow;
};

// ---------------------------------------------------------------- im2col / col2im

// cols[n, (c·kh + i)·kw + j, oy·ow + ox] = x[n, c, oy·sh − ph + i·dh, ox·sw − pw + j·dw], or `pad`
// where that falls outside the image. One thread per column element.
template <typename T> __device__ void im2col_impl(T* __restrict__ cols, const T* __restrict__ x, ConvShape s, T pad) {
    const long long L = (long long)s.oh * s.ow, rows = (long long)s.c * s.kh * s.kw;
    const long long total = s.n * rows * L;
    for (long long t = grid_start(); t < total; t += grid_step()) {
        const long long p = t % L, r = (t / L) % rows, n = t / (L * rows);
        const int j = r % s.kw, i = (r / s.kw) % s.kh, c = r / ((long long)s.kw * s.kh);
        const int y = (int)(p / s.ow) * s.sh - s.ph + i * s.dh, xx = (int)(p % s.ow) * s.sw - s.pw + j * s.dw;
        cols[t] = (y >= 0 && y < s.h && xx >= 0 && xx < s.w) ? x[((n * s.c + c) * s.h + y) * s.w + xx] : pad;
    }
}

// x[n, c, y, xx] = Σ over the taps (i, j) and output positions (oy, ox) that read pixel (y, xx)
// of cols[n, (c, i, j), (oy, ox)]. One thread per pixel gathers its taps (in the order the CPU
// kernel adds them), so no two threads write one place and no atomics are needed.
template <typename T> __device__ void col2im_impl(T* __restrict__ x, const T* __restrict__ cols, ConvShape s) {
    const long long L = (long long)s.oh * s.ow, taps = (long long)s.kh * s.kw;
    const long long total = (long long)s.n * s.c * s.h * s.w;
    for (long long t = grid_start(); t < total; t += grid_step()) {
        const int xx = t % s.w, y = (t / s.w) % s.h;
        const long long nc = t / ((long long)s.h * s.w); // n·C + c: the first column row of this channel is nc·taps
        const T* base = cols + nc * taps * L;
        T acc = T(0);
        for (int i = 0; i < s.kh; ++i) {
            const int ty = y + s.ph - i * s.dh;
            if (ty < 0 || ty % s.sh != 0 || ty / s.sh >= s.oh) continue;
            for (int j = 0; j < s.kw; ++j) {
                const int tx = xx + s.pw - j * s.dw;
                if (tx < 0 || tx % s.sw != 0 || tx / s.sw >= s.ow) continue;
                acc += base[(long long)(i * s.kw + j) * L + (long long)(ty / s.sh) * s.ow + tx / s.sw];
            }
        }
        x[t] = acc;
    }
}

// ---------------------------------------------------------------- the implicit GEMM

#define CBM 64
#define CBN 64
#define CBK 8

// One 64×64 tile of C = A·B over k in [k_begin, k_end), the tile at (blockIdx.y, blockIdx.x).
// `P` supplies the elements: p.a(m, k), p.b(k, n) (called only inside the matrix) and
// p.store(m, n, value). 256 threads in a 16×16 grid, 4×4 outputs each in registers; each slab
// of 8 k stages 64×8 of A and 8×64 of B in shared memory (2 values per thread each).
template <typename T, typename P> __device__ void implicit_gemm(const P& p, int M, int N, int k_begin, int k_end) {
    __shared__ T As[CBK][CBM + 1]; // +1: the loads below write columns of As; no bank conflicts
    __shared__ T Bs[CBK][CBN];
    const int t = threadIdx.x, ty = t / 16, tx = t % 16;
    const int m0 = blockIdx.y * CBM, n0 = blockIdx.x * CBN;
    T acc[4][4];
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = T(0);
    for (int k0 = k_begin; k0 < k_end; k0 += CBK) {
        #pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int idx = t + 256 * r;
            // A along k (consecutive threads read consecutive k of one row: the weight's layout).
            const int am = idx / CBK, ak = idx % CBK;
            As[ak][am] = (m0 + am < M && k0 + ak < k_end) ? p.a(m0 + am, k0 + ak) : T(0);
            // B along n (consecutive threads read consecutive output positions or pixels).
            const int bk = idx / CBN, bn = idx % CBN;
            Bs[bk][bn] = (n0 + bn < N && k0 + bk < k_end) ? p.b(k0 + bk, n0 + bn) : T(0);
        }
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < CBK; ++k) {
            T a[4], b[4];
            #pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = As[k][ty * 4 + i];
            #pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx * 4 + j];
            #pragma unroll
            for (int i = 0; i < 4; ++i)
                #pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
            if (m < M && n < N) p.store(m, n, acc[i][j]);
        }
}

// The input pixel that tap (i, j) of output position p reads: its offset in x, or −1 in the padding.
__device__ __forceinline__ long long tap_source(const ConvShape& s, long long image_channel, int i, int j, int p) {
    const int y = (p / s.ow) * s.sh - s.ph + i * s.dh, x = (p % s.ow) * s.sw - s.pw + j * s.dw;
    if (y < 0 || y >= s.h || x < 0 || x >= s.w) return -1;
    return (image_channel * s.h + y) * s.w + x;
}

// Forward, image n, group g: A = w (rows of the group's filters), B = x̂.
template <typename T> struct ConvForward {
    const T* x; const T* w; T* y; ConvShape s; long long n; int g, og, cg, taps;
    __device__ T a(int m, int k) const { return w[(long long)(g * og + m) * cg * taps + k]; }
    __device__ T b(int k, int p) const {
        const int c = k / taps, r = k % taps;
        const long long at = tap_source(s, n * s.c + g * cg + c, r / s.kw, r % s.kw, p);
        return at < 0 ? T(0) : x[at];
    }
    __device__ void store(int m, int p, T v) const { y[(n * s.o + g * og + m) * ((long long)s.oh * s.ow) + p] = v; }
};

// Input gradient, image n, group g: A = the group's weights read as [c, (o, i, j)], B = ĝ.
template <typename T> struct ConvInputGrad {
    const T* gy; const T* w; T* gx; ConvShape s; long long n; int g, og, cg, taps;
    __device__ T a(int c, int k) const {
        const int o = k / taps, r = k % taps;
        return w[((long long)(g * og + o) * cg + c) * taps + r];
    }
    __device__ T b(int k, int q) const {
        const int o = k / taps, r = k % taps, i = r / s.kw, j = r % s.kw;
        const int ty = q / s.w + s.ph - i * s.dh, tx = q % s.w + s.pw - j * s.dw;
        if (ty < 0 || tx < 0 || ty % s.sh != 0 || tx % s.sw != 0) return T(0);
        const int oy = ty / s.sh, ox = tx / s.sw;
        if (oy >= s.oh || ox >= s.ow) return T(0);
        return gy[((n * s.o + g * og + o) * s.oh + oy) * s.ow + ox];
    }
    __device__ void store(int c, int q, T v) const { gx[(n * s.c + g * cg + c) * ((long long)s.h * s.w) + q] = v; }
};

// Weight gradient, group g, one slice of the batch-and-positions sum: A = gy read as
// [o, (n, p)], B = x̂ read as [(n, p), (c, i, j)]. Each slice writes its own partial sums.
template <typename T> struct ConvWeightGrad {
    const T* x; const T* gy; T* part; ConvShape s; int g, og, cg, taps, L;
    __device__ T a(int o, int k) const {
        const long long n = k / L;
        return gy[(n * s.o + g * og + o) * L + k % L];
    }
    __device__ T b(int k, int col) const {
        const long long n = k / L;
        const int c = col / taps, r = col % taps;
        const long long at = tap_source(s, n * s.c + g * cg + c, r / s.kw, r % s.kw, k % L);
        return at < 0 ? T(0) : x[at];
    }
    __device__ void store(int o, int col, T v) const { part[(long long)(g * og + o) * cg * taps + col] = v; }
};

// Entry points. The forward and input-gradient kernels loop over (image, group) pairs in
// blockIdx.z steps (a depthwise layer can have more pairs than a grid's z extent); the weight
// gradient's z index is (slice, group), and slice `sl` writes part + sl·O·C/G·taps.
template <typename T> __device__ void conv_forward(T* y, const T* x, const T* w, ConvShape s) {
    const int og = s.o / s.groups, cg = s.c / s.groups, taps = s.kh * s.kw;
    for (long long z = blockIdx.z; z < (long long)s.n * s.groups; z += gridDim.z) {
        ConvForward<T> p{x, w, y, s, z / s.groups, (int)(z % s.groups), og, cg, taps};
        implicit_gemm<T>(p, og, s.oh * s.ow, 0, cg * taps);
    }
}

template <typename T> __device__ void conv_input_grad(T* gx, const T* gy, const T* w, ConvShape s) {
    const int og = s.o / s.groups, cg = s.c / s.groups, taps = s.kh * s.kw;
    for (long long z = blockIdx.z; z < (long long)s.n * s.groups; z += gridDim.z) {
        ConvInputGrad<T> p{gy, w, gx, s, z / s.groups, (int)(z % s.groups), og, cg, taps};
        implicit_gemm<T>(p, cg, s.h * s.w, 0, og * taps);
    }
}

template <typename T>
__device__ void conv_weight_grad(T* part, const T* x, const T* gy, ConvShape s, int slices, int slice_len) {
    const int og = s.o / s.groups, cg = s.c / s.groups, taps = s.kh * s.kw, L = s.oh * s.ow;
    const int K = s.n * L;
    for (int z = blockIdx.z; z < slices * s.groups; z += gridDim.z) {
        const int sl = z / s.groups, g = z % s.groups;
        ConvWeightGrad<T> p{x, gy, part + (long long)sl * s.o * cg * taps, s, g, og, cg, taps, L};
        const int k_begin = sl * slice_len, k_end = min(K, k_begin + slice_len);
        implicit_gemm<T>(p, og, cg * taps, k_begin, k_end);
    }
}

#define CONV_ENTRIES(T, S)                                                                                             \
    extern "C" __global__ void im2col_##S(T* cols, const T* x, ConvShape s, T pad) { im2col_impl(cols, x, s, pad); } \
    extern "C" __global__ void col2im_##S(T* x, const T* cols, ConvShape s) { col2im_impl(x, cols, s); }              \
    extern "C" __global__ void __launch_bounds__(256) conv2d_forward_##S(T* y, const T* x, const T* w, ConvShape s) {  \
        conv_forward(y, x, w, s);                                                                                      \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256)                                                                  \
        conv2d_input_grad_##S(T* gx, const T* gy, const T* w, ConvShape s) {                                           \
        conv_input_grad(gx, gy, w, s);                                                                                 \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(256)                                                                  \
        conv2d_weight_grad_##S(T* part, const T* x, const T* gy, ConvShape s, int slices, int slice_len) {             \
        conv_weight_grad(part, x, gy, s, slices, slice_len);                                                           \
    }

CONV_ENTRIES(float, f32)
CONV_ENTRIES(double, f64)
