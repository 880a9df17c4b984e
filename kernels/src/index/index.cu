// gather and its adjoint scatter_add along one dim, as torch.gather / torch.scatter_add_.
// `idx` is dense, of shape `ishape` (a Layout whose strides are unused); `src`/`dst` are dense
// with shape `xshape`. Element p of the index shape reads/writes the element of x at p's
// multi-index with coordinate `dim` replaced by idx[p]. The launcher checked every index.

__device__ __forceinline__ long long gathered_offset(long long p, const long long* idx, const Layout& ishape,
                                                     const Layout& xshape, int dim) {
    long long at = 0, stride = 1, rest = p;
    for (int d = ishape.rank - 1; d >= 0; --d) {
        long long coord = rest % ishape.shape[d];
        rest /= ishape.shape[d];
        at += (d == dim ? idx[p] : coord) * stride;
        stride *= xshape.shape[d];
    }
    return at;
}

template <typename T>
__device__ void gather(T* __restrict__ out, const T* __restrict__ src, const long long* __restrict__ idx, long long n,
                       Layout ishape, Layout xshape, int dim) {
    for (long long p = grid_start(); p < n; p += grid_step()) out[p] = src[gathered_offset(p, idx, ishape, xshape, dim)];
}

// Several p may hit one destination: atomics (so the order of the additions, and the last bits
// of f32 sums, may differ from run to run).
template <typename T>
__device__ void scatter_add(T* __restrict__ dst, const T* __restrict__ src, const long long* __restrict__ idx, long long n,
                            Layout ishape, Layout xshape, int dim) {
    for (long long p = grid_start(); p < n; p += grid_step()) atomicAdd(dst + gathered_offset(p, idx, ishape, xshape, dim), src[p]);
}

extern "C" __global__ void gather_f32(float* out, const float* src, const long long* idx, long long n, Layout ishape,
                                      Layout xshape, int dim) {
    gather(out, src, idx, n, ishape, xshape, dim);
}
extern "C" __global__ void gather_f64(double* out, const double* src, const long long* idx, long long n, Layout ishape,
                                      Layout xshape, int dim) {
    gather(out, src, idx, n, ishape, xshape, dim);
}
extern "C" __global__ void gather_i64(long long* out, const long long* src, const long long* idx, long long n, Layout ishape,
                                      Layout xshape, int dim) {
    gather(out, src, idx, n, ishape, xshape, dim);
}
extern "C" __global__ void scatter_add_f32(float* dst, const float* src, const long long* idx, long long n, Layout ishape,
                                           Layout xshape, int dim) {
    scatter_add(dst, src, idx, n, ishape, xshape, dim);
}
extern "C" __global__ void scatter_add_f64(double* dst, const double* src, const long long* idx, long long n, Layout ishape,
                                           Layout xshape, int dim) {
    scatter_add(dst, src, idx, n, ishape, xshape, dim);
}
