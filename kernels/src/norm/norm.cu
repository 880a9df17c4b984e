// Batch normalisation in training mode over the channels of dense [N, C, S] data (the twin of
// norm/cpu.rs, with the same formulas):
//
//   forward    μ = Σx/M,  σ² = Σ(x − μ)²/M,  r = 1/√(σ² + ε),  y = γ·(x − μ)·r + β
//   backward   ∂β = Σg,  ∂γ = r·Σg·(x − μ),  ∂x = a·g + b·(x − μ) + k
//              with a = γ·r,  b = −γ·r³·Σg(x − μ)/M,  k = −a·Σg/M
//
// One block per channel (the grid loops over channels); its 256 threads stride over the
// channel's N rows of S values. The variance is taken about the mean found in a first pass
// (not as E[x²] − μ², which loses every digit when |μ| ≫ σ), and every sum is accumulated in
// double, then reduced across the block with warp shuffles.

#define NORM_THREADS 256

// Sums two doubles across the block; every thread gets the totals. `scratch` holds 2·32 doubles.
__device__ __forceinline__ void block_sum2(double& a, double& b, double* scratch) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (int off = 16; off > 0; off /= 2) {
        a += __shfl_down_sync(0xffffffffu, a, off);
        b += __shfl_down_sync(0xffffffffu, b, off);
    }
    __syncthreads(); // the previous use of `scratch` is over
    if (lane == 0) {
        scratch[warp] = a;
        scratch[32 + warp] = b;
    }
    __syncthreads();
    a = 0.0;
    b = 0.0;
    for (int w = 0; w < warps; ++w) {
        a += scratch[w];
        b += scratch[32 + w];
    }
}

// The position of the i-th value of channel ch (i < N·S) in [N, C, S] data.
__device__ __forceinline__ long long channel_at(long long i, int ch, int c, long long s) {
    return ((i / s) * c + ch) * s + i % s;
}

template <typename T>
__device__ void batch_norm_forward(T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ var_out,
                                   const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                   long long n, int c, long long s, double eps) {
    __shared__ double scratch[64];
    const long long m = n * s;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double sum = 0.0, unused = 0.0;
        for (long long i = threadIdx.x; i < m; i += blockDim.x) sum += (double)x[channel_at(i, ch, c, s)];
        block_sum2(sum, unused, scratch);
        const double mu = sum / (double)m;
        double sq = 0.0;
        unused = 0.0;
        for (long long i = threadIdx.x; i < m; i += blockDim.x) {
            const double d = (double)x[channel_at(i, ch, c, s)] - mu;
            sq += d * d;
        }
        block_sum2(sq, unused, scratch);
        const double var = sq / (double)m, r = 1.0 / sqrt(var + eps);
        const T a = (T)((double)gamma[ch] * r), mu_t = (T)mu, b = beta[ch];
        for (long long i = threadIdx.x; i < m; i += blockDim.x) {
            const long long at = channel_at(i, ch, c, s);
            y[at] = a * (x[at] - mu_t) + b;
        }
        if (threadIdx.x == 0) {
            mean_out[ch] = (T)mu;
            var_out[ch] = (T)var;
        }
    }
}

template <typename T>
__device__ void batch_norm_backward(T* __restrict__ gx, T* __restrict__ ggamma, T* __restrict__ gbeta,
                                    const T* __restrict__ x, const T* __restrict__ g, const T* __restrict__ gamma,
                                    const T* __restrict__ mean, const T* __restrict__ var, long long n, int c,
                                    long long s, double eps) {
    __shared__ double scratch[64];
    const long long m = n * s;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const T mu = mean[ch];
        double sum_g = 0.0, sum_gxc = 0.0;
        for (long long i = threadIdx.x; i < m; i += blockDim.x) {
            const long long at = channel_at(i, ch, c, s);
            sum_g += (double)g[at];
            sum_gxc += (double)g[at] * (double)(x[at] - mu);
        }
        block_sum2(sum_g, sum_gxc, scratch);
        const double r = 1.0 / sqrt((double)var[ch] + eps), gm = (double)gamma[ch];
        const T a = (T)(gm * r), b = (T)(-gm * r * r * r * sum_gxc / (double)m), k = (T)(-gm * r * sum_g / (double)m);
        for (long long i = threadIdx.x; i < m; i += blockDim.x) {
            const long long at = channel_at(i, ch, c, s);
            gx[at] = a * g[at] + b * (x[at] - mu) + k;
        }
        if (threadIdx.x == 0) {
            gbeta[ch] = (T)sum_g;
            ggamma[ch] = (T)(sum_gxc * r);
        }
    }
}

#define NORM_ENTRIES(T, S)                                                                                             \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                         \
        batch_norm_forward_##S(T* y, T* mean, T* var, const T* x, const T* gamma, const T* beta, long long n, int c,   \
                               long long s, double eps) {                                                              \
        batch_norm_forward(y, mean, var, x, gamma, beta, n, c, s, eps);                                                \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                         \
        batch_norm_backward_##S(T* gx, T* ggamma, T* gbeta, const T* x, const T* g, const T* gamma, const T* mean,     \
                                const T* var, long long n, int c, long long s, double eps) {                           \
        batch_norm_backward(gx, ggamma, gbeta, x, g, gamma, mean, var, n, c, s, eps);                                  \
    }

NORM_ENTRIES(float, f32)
NORM_ENTRIES(double, f64)

// ---------------------------------------------------------------- layer norm
//
// Layer normalisation of each n-long row (the twin of norm/layer.rs):
//
//   forward    x̂ = (x − μ)·r,  y = γ ⊙ x̂ + β          (μ, σ² of the row, r = 1/√(σ² + ε))
//   backward   ĝ = γ ⊙ g,  ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂)),  ∂γ = Σ_rows g ⊙ x̂,  ∂β = Σ_rows g
//
// The forward and ∂x kernels give each row one block (the grid loops over rows); the row's sums
// are accumulated in double (the variance about the mean of a first pass). ∂γ and ∂β are sums
// over rows for each column: one thread per column, so that a warp reads 32 neighbouring
// columns of each row.

template <typename T>
__device__ void layer_norm_forward(T* __restrict__ y, T* __restrict__ mean_out, T* __restrict__ rstd_out,
                                   const T* __restrict__ x, const T* __restrict__ gamma, const T* __restrict__ beta,
                                   long long rows, long long n, double eps) {
    __shared__ double scratch[64];
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + row * n;
        double sum = 0.0, unused = 0.0;
        for (long long j = threadIdx.x; j < n; j += blockDim.x) sum += (double)xr[j];
        block_sum2(sum, unused, scratch);
        const double mu = sum / (double)n;
        double sq = 0.0;
        unused = 0.0;
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            const double d = (double)xr[j] - mu;
            sq += d * d;
        }
        block_sum2(sq, unused, scratch);
        const double r = 1.0 / sqrt(sq / (double)n + eps);
        const T mu_t = (T)mu, r_t = (T)r;
        for (long long j = threadIdx.x; j < n; j += blockDim.x) y[row * n + j] = gamma[j] * ((xr[j] - mu_t) * r_t) + beta[j];
        if (threadIdx.x == 0) {
            mean_out[row] = mu_t;
            rstd_out[row] = r_t;
        }
    }
}

template <typename T>
__device__ void layer_norm_input_grad(T* __restrict__ gx, const T* __restrict__ x, const T* __restrict__ g,
                                      const T* __restrict__ gamma, const T* __restrict__ mean, const T* __restrict__ rstd,
                                      long long rows, long long n) {
    __shared__ double scratch[64];
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
        const T mu = mean[row], r = rstd[row];
        const T* xr = x + row * n;
        const T* gr = g + row * n;
        double sum_g = 0.0, sum_gx = 0.0; // Σ ĝ and Σ ĝ ⊙ x̂
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            const T gh = gamma[j] * gr[j];
            sum_g += (double)gh;
            sum_gx += (double)gh * (double)((xr[j] - mu) * r);
        }
        block_sum2(sum_g, sum_gx, scratch);
        const T mean_g = (T)(sum_g / (double)n), mean_gx = (T)(sum_gx / (double)n);
        for (long long j = threadIdx.x; j < n; j += blockDim.x) {
            const T xh = (xr[j] - mu) * r;
            gx[row * n + j] = r * (gamma[j] * gr[j] - mean_g - xh * mean_gx);
        }
    }
}

template <typename T>
__device__ void layer_norm_param_grads(T* __restrict__ ggamma, T* __restrict__ gbeta, const T* __restrict__ x,
                                       const T* __restrict__ g, const T* __restrict__ mean, const T* __restrict__ rstd,
                                       long long rows, long long n) {
    for (long long j = grid_start(); j < n; j += grid_step()) {
        double sw = 0.0, sb = 0.0;
        for (long long row = 0; row < rows; ++row) {
            const T gv = g[row * n + j];
            sw += (double)gv * (double)((x[row * n + j] - mean[row]) * rstd[row]);
            sb += (double)gv;
        }
        ggamma[j] = (T)sw;
        gbeta[j] = (T)sb;
    }
}

#define LAYER_NORM_ENTRIES(T, S)                                                                                       \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                         \
        layer_norm_forward_##S(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, long long rows,      \
                               long long n, double eps) {                                                              \
        layer_norm_forward(y, mean, rstd, x, gamma, beta, rows, n, eps);                                               \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                         \
        layer_norm_input_grad_##S(T* gx, const T* x, const T* g, const T* gamma, const T* mean, const T* rstd,         \
                                  long long rows, long long n) {                                                       \
        layer_norm_input_grad(gx, x, g, gamma, mean, rstd, rows, n);                                                   \
    }                                                                                                                  \
    extern "C" __global__ void layer_norm_param_grads_##S(T* ggamma, T* gbeta, const T* x, const T* g, const T* mean,  \
                                                          const T* rstd, long long rows, long long n) {                \
        layer_norm_param_grads(ggamma, gbeta, x, g, mean, rstd, rows, n);                                              \
    }

LAYER_NORM_ENTRIES(float, f32)
LAYER_NORM_ENTRIES(double, f64)
