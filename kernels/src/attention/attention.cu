// Scaled dot-product attention, forward, fused per query row (the twin of attention/cpu.rs's
// forward pass): one block per (head, query i) computes the row of scores
// s_j = scale·q_i·k_j, its softmax p over the visible keys, and the output row p·V, with the
// scores in shared memory; only the weights p are written out (the backward pass reads them).
// With `causal`, query i sees the keys j ≤ i + max(tk − tq, 0) (at least one); hidden keys get
// p = 0.
//
// Dense operands: q [batch, tq, d], k [batch, tk, d], v [batch, tk, dv]; out [batch, tq, dv],
// probs [batch, tq, tk]. Dynamic shared memory: d + tk values of T (the launcher checks the
// size). Sums are taken in T, as on the CPU.

// Sums `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
template <typename T> __device__ __forceinline__ T block_reduce(T v, T* scratch, bool is_max) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (int off = 16; off > 0; off /= 2) {
        const T o = __shfl_down_sync(0xffffffffu, v, off);
        v = is_max ? (o > v ? o : v) : v + o;
    }
    __syncthreads(); // the previous use of `scratch` is over
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int w = 1; w < warps; ++w) v = is_max ? (scratch[w] > v ? scratch[w] : v) : v + scratch[w];
    return v;
}

template <typename T>
__device__ void attention_forward(T* __restrict__ out, T* __restrict__ probs, const T* __restrict__ q,
                                  const T* __restrict__ k, const T* __restrict__ v, long long batch, int tq, int tk,
                                  int d, int dv, T scale, int causal) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T* qs = reinterpret_cast<T*>(smem_raw); // the query row, d values
    T* ps = qs + d;                         // the scores, then the weights, tk values
    __shared__ T scratch[32];
    for (long long row = blockIdx.x; row < batch * tq; row += gridDim.x) {
        const long long bh = row / tq;
        const int i = row % tq;
        // Keys 0..visible are seen (all of them without a causal mask).
        const int visible = causal ? min(tk, i + max(tk - tq, 0) + 1) : tk;
        for (int c = threadIdx.x; c < d; c += blockDim.x) qs[c] = q[row * d + c];
        __syncthreads();
        T local_max = T(-INFINITY);
        for (int j = threadIdx.x; j < visible; j += blockDim.x) {
            const T* kj = k + (bh * tk + j) * d;
            T s = T(0);
            for (int c = 0; c < d; ++c) s += qs[c] * kj[c];
            s *= scale;
            ps[j] = s;
            local_max = s > local_max ? s : local_max;
        }
        const T m = block_reduce(local_max, scratch, true);
        T local_sum = T(0);
        for (int j = threadIdx.x; j < visible; j += blockDim.x) {
            const T e = exp(ps[j] - m);
            ps[j] = e;
            local_sum += e;
        }
        const T inv = T(1) / block_reduce(local_sum, scratch, false);
        for (int j = threadIdx.x; j < tk; j += blockDim.x) {
            const T p = j < visible ? ps[j] * inv : T(0);
            if (j < visible) ps[j] = p;
            probs[row * tk + j] = p;
        }
        __syncthreads();
        for (int c = threadIdx.x; c < dv; c += blockDim.x) {
            T acc = T(0);
            for (int j = 0; j < visible; ++j) acc += ps[j] * v[(bh * tk + j) * dv + c];
            out[row * dv + c] = acc;
        }
        __syncthreads(); // qs and ps are reused by the next row
    }
}

extern "C" __global__ void attention_forward_f32(float* out, float* probs, const float* q, const float* k, const float* v,
                                                 long long batch, int tq, int tk, int d, int dv, float scale, int causal) {
    attention_forward(out, probs, q, k, v, batch, tq, tk, d, dv, scale, causal);
}
extern "C" __global__ void attention_forward_f64(double* out, double* probs, const double* q, const double* k,
                                                 const double* v, long long batch, int tq, int tk, int d, int dv,
                                                 double scale, int causal) {
    attention_forward(out, probs, q, k, v, batch, tq, tk, d, dv, scale, causal);
}
