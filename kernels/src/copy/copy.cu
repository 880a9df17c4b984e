// Data movement: gather a strided view into a dense buffer, fill, and convert between dtypes.

template <typename T>
__device__ void copy_strided(T* __restrict__ out, const T* __restrict__ in, long long n, Layout l) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = in[strided_index(l, i)];
}

template <typename T>
__device__ void fill(T* __restrict__ out, long long n, T value) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = value;
}

template <typename S, typename D>
__device__ void cast(D* __restrict__ out, const S* __restrict__ in, long long n) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = (D)in[i];
}

extern "C" __global__ void copy_strided_f32(float* out, const float* in, long long n, Layout l) { copy_strided(out, in, n, l); }
extern "C" __global__ void copy_strided_f64(double* out, const double* in, long long n, Layout l) { copy_strided(out, in, n, l); }
extern "C" __global__ void copy_strided_i64(long long* out, const long long* in, long long n, Layout l) { copy_strided(out, in, n, l); }

extern "C" __global__ void fill_f32(float* out, long long n, float v) { fill(out, n, v); }
extern "C" __global__ void fill_f64(double* out, long long n, double v) { fill(out, n, v); }
extern "C" __global__ void fill_i64(long long* out, long long n, long long v) { fill(out, n, v); }

// Floats to integers truncate toward zero, as Rust's `as` (and the CPU path) do.
extern "C" __global__ void cast_f32_f64(double* out, const float* in, long long n) { cast(out, in, n); }
extern "C" __global__ void cast_f64_f32(float* out, const double* in, long long n) { cast(out, in, n); }
extern "C" __global__ void cast_f32_i64(long long* out, const float* in, long long n) { cast(out, in, n); }
extern "C" __global__ void cast_f64_i64(long long* out, const double* in, long long n) { cast(out, in, n); }
extern "C" __global__ void cast_i64_f32(float* out, const long long* in, long long n) { cast(out, in, n); }
extern "C" __global__ void cast_i64_f64(double* out, const long long* in, long long n) { cast(out, in, n); }

// Writes the strided view `src` of `in` into the strided view `dst` of `out` (same shape): the
// pieces of a concatenation, the interior of a padding.
template <typename T>
__device__ void copy_into(T* __restrict__ out, const T* __restrict__ in, long long n, Layout src, Layout dst) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[strided_index(dst, i)] = in[strided_index(src, i)];
}

extern "C" __global__ void copy_into_f32(float* out, const float* in, long long n, Layout s, Layout d) { copy_into(out, in, n, s, d); }
extern "C" __global__ void copy_into_f64(double* out, const double* in, long long n, Layout s, Layout d) { copy_into(out, in, n, s, d); }
extern "C" __global__ void copy_into_i64(long long* out, const long long* in, long long n, Layout s, Layout d) { copy_into(out, in, n, s, d); }
