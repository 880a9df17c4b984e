// Reductions of a dense [outer, len, inner] array over its middle axis, the layout the CPU
// kernel uses too. Each output (o, c, i) reduces one chunk c of the middle axis, so a long axis
// with few outputs is done in two launches: chunks first, then the [outer, chunks, inner]
// partial results (see reduce/cuda.rs).

enum ReduceCode { R_SUM, R_MAX, R_MIN };

template <typename T> __device__ __forceinline__ T reduce_identity(int op) {
    return op == R_SUM ? T(0) : (op == R_MAX ? T(-INFINITY) : T(INFINITY));
}

// Combines two partial results; max and min let NaN through from either side.
template <typename T> __device__ __forceinline__ T reduce_combine(int op, T a, T b) {
    if (op == R_SUM) return a + b;
    if (a != a) return a;
    if (b != b) return b;
    return op == R_MAX ? (a >= b ? a : b) : (a <= b ? a : b);
}

// inner == 1: rows. One warp per output; its lanes read consecutive elements (coalesced) and
// combine with shuffles.
template <typename T>
__device__ void reduce_rows(T* __restrict__ out, const T* __restrict__ x, long long outer, long long len, long long chunk,
                            long long chunks, int op) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x / 32);
    for (long long w = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; w < outer * chunks; w += warps) {
        long long o = w / chunks, c = w % chunks;
        long long start = c * chunk, end = min(len, start + chunk);
        const T* row = x + o * len;
        T acc = reduce_identity<T>(op);
        for (long long l = start + lane; l < end; l += 32) acc = reduce_combine(op, acc, row[l]);
        for (int offset = 16; offset > 0; offset /= 2) acc = reduce_combine(op, acc, __shfl_down_sync(0xffffffffu, acc, offset));
        if (lane == 0) out[w] = acc;
    }
}

// inner > 1: one thread per output (o, c, i); neighbouring threads read neighbouring i.
template <typename T>
__device__ void reduce_cols(T* __restrict__ out, const T* __restrict__ x, long long outer, long long len, long long inner,
                            long long chunk, long long chunks, int op) {
    for (long long t = grid_start(); t < outer * chunks * inner; t += grid_step()) {
        long long i = t % inner, c = (t / inner) % chunks, o = t / (inner * chunks);
        long long start = c * chunk, end = min(len, start + chunk);
        const T* col = x + o * len * inner + i;
        T acc = reduce_identity<T>(op);
        for (long long l = start; l < end; ++l) acc = reduce_combine(op, acc, col[l * inner]);
        out[t] = acc;
    }
}

extern "C" __global__ void reduce_rows_f32(float* out, const float* x, long long outer, long long len, long long chunk,
                                           long long chunks, int op) {
    reduce_rows(out, x, outer, len, chunk, chunks, op);
}
extern "C" __global__ void reduce_rows_f64(double* out, const double* x, long long outer, long long len, long long chunk,
                                           long long chunks, int op) {
    reduce_rows(out, x, outer, len, chunk, chunks, op);
}
extern "C" __global__ void reduce_cols_f32(float* out, const float* x, long long outer, long long len, long long inner,
                                           long long chunk, long long chunks, int op) {
    reduce_cols(out, x, outer, len, inner, chunk, chunks, op);
}
extern "C" __global__ void reduce_cols_f64(double* out, const double* x, long long outer, long long len, long long inner,
                                           long long chunk, long long chunks, int op) {
    reduce_cols(out, x, outer, len, inner, chunk, chunks, op);
}

// Index of the largest (op 0) or smallest (op 1) value of each [o, :, i] column: one thread per
// output; ties keep the first index, and the first NaN wins (as the CPU kernel and PyTorch).
template <typename T>
__device__ void arg_reduce(long long* __restrict__ out, const T* __restrict__ x, long long outer, long long len,
                           long long inner, int op) {
    for (long long t = grid_start(); t < outer * inner; t += grid_step()) {
        long long o = t / inner, i = t % inner;
        const T* col = x + o * len * inner + i;
        T best = col[0];
        long long at = 0;
        for (long long l = 1; l < len && best == best; ++l) {
            T v = col[l * inner];
            if (v != v || (op == 0 ? v > best : v < best)) {
                best = v;
                at = l;
            }
        }
        out[t] = at;
    }
}

extern "C" __global__ void arg_reduce_f32(long long* out, const float* x, long long outer, long long len, long long inner, int op) {
    arg_reduce(out, x, outer, len, inner, op);
}
extern "C" __global__ void arg_reduce_f64(long long* out, const double* x, long long outer, long long len, long long inner, int op) {
    arg_reduce(out, x, outer, len, inner, op);
}
