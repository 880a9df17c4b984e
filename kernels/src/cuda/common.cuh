// Shared by every ferrograd CUDA source (pasted in front of each by compile.rs).

#define MAX_RANK 8

// NVRTC has no <cmath>; the IEEE bit pattern of +∞.
#ifndef INFINITY
#define INFINITY (__int_as_float(0x7f800000))
#endif

// A strided view: the twin of `ferrograd_kernels::cuda::Layout` (same fields, same order).
struct Layout {
    int rank;
    long long offset;
    long long shape[MAX_RANK];
    long long strides[MAX_RANK];
};

// Where the element with row-major linear index `i` of the view's shape sits in its buffer.
__device__ __forceinline__ long long strided_index(const Layout& l, long long i) {
    long long at = l.offset;
    for (int d = l.rank - 1; d >= 0; --d) {
        long long n = l.shape[d];
        at += (i % n) * l.strides[d];
        i /= n;
    }
    return at;
}

// The first element this thread handles in a grid-stride loop, and the stride of that loop.
__device__ __forceinline__ long long grid_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long grid_step() { return (long long)blockDim.x * gridDim.x; }

// max/min that let NaN through from the left operand, as the CPU kernels' `max_v`/`min_v`.
template <typename T> __device__ __forceinline__ T max_v(T a, T b) { return (a >= b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T min_v(T a, T b) { return (a <= b || a != a) ? a : b; }
