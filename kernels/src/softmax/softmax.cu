// Softmax and log-softmax of each row of a dense [rows, cols] array: one block per row.
//
// Pass 1 finds the row's max m and s = Σ exp(x − m) together ("online softmax"): each thread
// keeps a running (m, s) and rescales s whenever its max grows; the block then merges the pairs,
// warp by warp with shuffles and across warps through shared memory. Pass 2 writes
// exp(x − m) / s, or x − m − ln s. Two reads of the row instead of three.

template <typename T> struct MaxSum {
    T m, s;
};

// Merges two (max, sum) pairs: s = s₁·e^(m₁−m) + s₂·e^(m₂−m) with m = max(m₁, m₂). A pair with
// no elements yet has m = −∞ and is skipped, so no −∞ − (−∞) is ever formed.
template <typename T> __device__ __forceinline__ MaxSum<T> merge(MaxSum<T> a, MaxSum<T> b) {
    if (a.m == T(-INFINITY)) return b;
    if (b.m == T(-INFINITY)) return a;
    T m = a.m > b.m ? a.m : b.m;
    if (a.m != a.m || b.m != b.m) m = a.m != a.m ? a.m : b.m; // NaN in the row: the result is NaN
    return MaxSum<T>{m, a.s * exp(a.m - m) + b.s * exp(b.m - m)};
}

template <typename T>
__device__ void softmax_row(T* __restrict__ out, const T* __restrict__ x, long long rows, long long cols, int log_softmax) {
    __shared__ T shared_m[32], shared_s[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* row = x + r * cols;
        MaxSum<T> acc{T(-INFINITY), T(0)};
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) acc = merge(acc, MaxSum<T>{row[c], T(1)});
        for (int offset = 16; offset > 0; offset /= 2) {
            MaxSum<T> other{__shfl_down_sync(0xffffffffu, acc.m, offset), __shfl_down_sync(0xffffffffu, acc.s, offset)};
            acc = merge(acc, other);
        }
        if (lane == 0) {
            shared_m[warp] = acc.m;
            shared_s[warp] = acc.s;
        }
        __syncthreads();
        if (warp == 0) {
            acc = lane < warps ? MaxSum<T>{shared_m[lane], shared_s[lane]} : MaxSum<T>{T(-INFINITY), T(0)};
            for (int offset = 16; offset > 0; offset /= 2) {
                MaxSum<T> other{__shfl_down_sync(0xffffffffu, acc.m, offset), __shfl_down_sync(0xffffffffu, acc.s, offset)};
                acc = merge(acc, other);
            }
            if (lane == 0) {
                shared_m[0] = acc.m;
                shared_s[0] = acc.s;
            }
        }
        __syncthreads();
        const T m = shared_m[0], s = shared_s[0];
        T* dst = out + r * cols;
        if (log_softmax) {
            const T shift = m + log(s);
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = row[c] - shift;
        } else {
            const T inv = T(1) / s;
            for (long long c = threadIdx.x; c < cols; c += blockDim.x) dst[c] = exp(row[c] - m) * inv;
        }
        __syncthreads(); // shared_m/shared_s are reused by the next row
    }
}

extern "C" __global__ void softmax_rows_f32(float* out, const float* x, long long rows, long long cols, int log_softmax) {
    softmax_row(out, x, rows, cols, log_softmax);
}
extern "C" __global__ void softmax_rows_f64(double* out, const double* x, long long rows, long long cols, int log_softmax) {
    softmax_row(out, x, rows, cols, log_softmax);
}
