// Elementwise ops: unary maps (op chosen by a code, the same for every thread, so the switch
// costs no divergence), NumPy-broadcasting binary ops over strided views, and `select`.
// Each op computes exactly what `UnaryOp::apply` / `BinaryOp::apply` compute on the CPU.

// Unary op codes: the order of `UnaryOp`'s variants (see elementwise/cuda.rs).
enum UnaryCode {
    U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_SIGN, U_TANH, U_SIGMOID, U_RELU, U_LEAKY_RELU, U_GELU,
    U_SOFTPLUS, U_CLAMP, U_ERF, U_POWF, U_ADD_SCALAR, U_MUL_SCALAR, U_RECIP, U_STEP, U_LEAKY_STEP,
    U_GELU_GRAD
};

template <typename T>
__device__ __forceinline__ T unary_apply(int op, T x, T p, T q) {
    const T zero = T(0), one = T(1), half = T(0.5);
    const T inv_sqrt2 = T(0.70710678118654752440);
    const T inv_sqrt_2pi = T(0.39894228040143267794);
    switch (op) {
    case U_NEG: return -x;
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_ABS: return fabs(x);
    case U_SIGN: return x > zero ? one : (x < zero ? -one : x * zero);
    case U_TANH: return tanh(x);
    case U_SIGMOID: {
        // 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: neither overflows.
        T e = exp(-fabs(x));
        T r = one / (one + e);
        return x >= zero ? r : e * r;
    }
    case U_RELU: return (x > zero || x != x) ? x : zero;
    case U_LEAKY_RELU: return x > zero ? x : x * p;
    case U_GELU: return x * half * (one + erf(x * inv_sqrt2));
    case U_SOFTPLUS: return max_v(x, zero) + log1p(exp(-fabs(x)));
    case U_CLAMP: return min_v(max_v(x, p), q);
    case U_ERF: return erf(x);
    case U_POWF: return pow(x, p);
    case U_ADD_SCALAR: return x + p;
    case U_MUL_SCALAR: return x * p;
    case U_RECIP: return one / x;
    case U_STEP: return x > zero ? one : zero;
    case U_LEAKY_STEP: return x > zero ? one : p;
    case U_GELU_GRAD: {
        T cdf = half * (one + erf(x * inv_sqrt2));
        T pdf = exp(-(half * x * x)) * inv_sqrt_2pi;
        return cdf + x * pdf;
    }
    }
    return x;
}

// Dense input to dense output, grid-stride.
template <typename T>
__device__ void unary_dense(T* __restrict__ out, const T* __restrict__ in, long long n, int op, T p, T q) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = unary_apply(op, in[i], p, q);
}

extern "C" __global__ void unary_f64(double* out, const double* in, long long n, int op, double p, double q) {
    unary_dense(out, in, n, op, p, q);
}

// f32 reads and writes 16 bytes at a time (float4) when both pointers are 16-byte aligned; the
// last n % 4 elements (or everything, when unaligned) go one by one.
extern "C" __global__ void unary_f32(float* out, const float* in, long long n, int op, float p, float q) {
    bool aligned = ((((unsigned long long)out) | ((unsigned long long)in)) & 15) == 0;
    long long vec = aligned ? n / 4 : 0;
    const float4* in4 = reinterpret_cast<const float4*>(in);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (long long i = grid_start(); i < vec; i += grid_step()) {
        float4 v = in4[i];
        v.x = unary_apply(op, v.x, p, q);
        v.y = unary_apply(op, v.y, p, q);
        v.z = unary_apply(op, v.z, p, q);
        v.w = unary_apply(op, v.w, p, q);
        out4[i] = v;
    }
    for (long long i = vec * 4 + grid_start(); i < n; i += grid_step()) out[i] = unary_apply(op, in[i], p, q);
}

// Binary op codes: the order of `BinaryOp`'s variants.
enum BinaryCode { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAXIMUM, B_MINIMUM, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_RELU_GRAD };

template <typename T>
__device__ __forceinline__ T binary_apply(int op, T a, T b) {
    const T one = T(1), zero = T(0);
    switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MAXIMUM: return b != b ? b : max_v(a, b);
    case B_MINIMUM: return b != b ? b : min_v(a, b);
    case B_EQ: return a == b ? one : zero;
    case B_NE: return a != b ? one : zero;
    case B_LT: return a < b ? one : zero;
    case B_LE: return a <= b ? one : zero;
    case B_GT: return a > b ? one : zero;
    case B_GE: return a >= b ? one : zero;
    case B_RELU_GRAD: return a * (b > zero ? one : zero);
    }
    return a;
}

// `out[i] = a[i] op b[i]` over the broadcast shape (both layouts carry that shape; a broadcast
// dim has stride 0). When both operands are dense the index arithmetic is skipped.
template <typename T>
__device__ void binary_strided(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ b, long long n, int op,
                               Layout la, Layout lb, int dense) {
    if (dense) {
        for (long long i = grid_start(); i < n; i += grid_step()) out[i] = binary_apply(op, a[la.offset + i], b[lb.offset + i]);
    } else {
        for (long long i = grid_start(); i < n; i += grid_step())
            out[i] = binary_apply(op, a[strided_index(la, i)], b[strided_index(lb, i)]);
    }
}

// f32 with both operands dense reads and writes 16 bytes at a time when all three pointers are
// 16-byte aligned (as unary_f32); anything else takes the general path.
extern "C" __global__ void binary_f32(float* out, const float* a, const float* b, long long n, int op, Layout la, Layout lb,
                                      int dense) {
    if (dense) {
        const float* pa = a + la.offset;
        const float* pb = b + lb.offset;
        bool aligned = ((((unsigned long long)out) | ((unsigned long long)pa) | ((unsigned long long)pb)) & 15) == 0;
        if (aligned) {
            const float4* a4 = reinterpret_cast<const float4*>(pa);
            const float4* b4 = reinterpret_cast<const float4*>(pb);
            float4* out4 = reinterpret_cast<float4*>(out);
            for (long long i = grid_start(); i < n / 4; i += grid_step()) {
                float4 x = a4[i], y = b4[i];
                x.x = binary_apply(op, x.x, y.x);
                x.y = binary_apply(op, x.y, y.y);
                x.z = binary_apply(op, x.z, y.z);
                x.w = binary_apply(op, x.w, y.w);
                out4[i] = x;
            }
            for (long long i = n / 4 * 4 + grid_start(); i < n; i += grid_step()) out[i] = binary_apply(op, pa[i], pb[i]);
            return;
        }
    }
    binary_strided(out, a, b, n, op, la, lb, dense);
}
extern "C" __global__ void binary_f64(double* out, const double* a, const double* b, long long n, int op, Layout la,
                                      Layout lb, int dense) {
    binary_strided(out, a, b, n, op, la, lb, dense);
}

// `out[i] = cond[i] != 0 ? a[i] : b[i]` over one broadcast shape.
template <typename T>
__device__ void select_strided(T* __restrict__ out, const T* __restrict__ c, const T* __restrict__ a, const T* __restrict__ b,
                               long long n, Layout lc, Layout la, Layout lb) {
    for (long long i = grid_start(); i < n; i += grid_step())
        out[i] = c[strided_index(lc, i)] != T(0) ? a[strided_index(la, i)] : b[strided_index(lb, i)];
}

extern "C" __global__ void select_f32(float* out, const float* c, const float* a, const float* b, long long n, Layout lc,
                                      Layout la, Layout lb) {
    select_strided(out, c, a, b, n, lc, la, lb);
}
extern "C" __global__ void select_f64(double* out, const double* c, const double* a, const double* b, long long n, Layout lc,
                                      Layout la, Layout lb) {
    select_strided(out, c, a, b, n, lc, la, lb);
}
