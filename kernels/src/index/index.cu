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

// index_select along the middle axis of dense [outer, n_src, inner] data:
// out[o, j, i] = src[o, idx[j], i]. One thread per output element.
template <typename T>
__device__ void index_select(T* __restrict__ out, const T* __restrict__ src, const long long* __restrict__ idx,
                             long long outer, long long n_src, long long n_idx, long long inner) {
    const long long total = outer * n_idx * inner;
    for (long long t = grid_start(); t < total; t += grid_step()) {
        const long long i = t % inner, j = (t / inner) % n_idx, o = t / (inner * n_idx);
        out[t] = src[(o * n_src + idx[j]) * inner + i];
    }
}

// Its adjoint, index_add: dst[o, r, i] += Σ src[o, j, i] over the j with idx[j] = r. The launcher
// groups the j of each destination row r in `sources[starts[r] .. starts[r + 1]]`, in
// increasing order, so one thread per destination element adds its terms in the order the CPU
// kernel does: no atomics, the same result on every run.
template <typename T>
__device__ void index_add(T* __restrict__ dst, const T* __restrict__ src, const long long* __restrict__ starts,
                          const long long* __restrict__ sources, long long outer, long long n_dst, long long n_idx,
                          long long inner) {
    const long long total = outer * n_dst * inner;
    for (long long t = grid_start(); t < total; t += grid_step()) {
        const long long i = t % inner, r = (t / inner) % n_dst, o = t / (inner * n_dst);
        T acc = dst[t];
        for (long long s = starts[r]; s < starts[r + 1]; ++s) acc += src[(o * n_idx + sources[s]) * inner + i];
        dst[t] = acc;
    }
}

#define INDEX_ROWS_ENTRIES(T, S)                                                                                       \
    extern "C" __global__ void index_select_##S(T* out, const T* src, const long long* idx, long long outer,           \
                                                long long n_src, long long n_idx, long long inner) {                   \
        index_select(out, src, idx, outer, n_src, n_idx, inner);                                                       \
    }
INDEX_ROWS_ENTRIES(float, f32)
INDEX_ROWS_ENTRIES(double, f64)
INDEX_ROWS_ENTRIES(long long, i64)

extern "C" __global__ void index_add_f32(float* dst, const float* src, const long long* starts, const long long* sources,
                                         long long outer, long long n_dst, long long n_idx, long long inner) {
    index_add(dst, src, starts, sources, outer, n_dst, n_idx, inner);
}
extern "C" __global__ void index_add_f64(double* dst, const double* src, const long long* starts, const long long* sources,
                                         long long outer, long long n_dst, long long n_idx, long long inner) {
    index_add(dst, src, starts, sources, outer, n_dst, n_idx, inner);
}
