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
