// Fused optimizer steps, in place: each element's parameter, gradient and state are read once
// and written once. The formulas are those of optim/cpu.rs (PyTorch's).

// Adam / AdamW: g ← g + l2·p;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
// p ← p·shrink − step_size · m / (√v · inv_sqrt_bc2 + ε). The launcher passes 1−β₁ and 1−β₂
// rounded from f64 (as the CPU kernel and PyTorch do): 1 − 0.999f in f32 is 1.3e-5 off.
template <typename T>
__device__ void adam(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v, long long n, T b1,
                     T b2, T one_b1, T one_b2, T step_size, T inv_sqrt_bc2, T eps, T l2, T shrink) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        T gi = g[i] + l2 * p[i];
        T mi = b1 * m[i] + one_b1 * gi;
        T vi = b2 * v[i] + one_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * shrink - step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
    }
}

// SGD with momentum: g ← g + wd·p;  v ← μv + (1−τ)g (v ← g on the first step);
// d = nesterov ? g + μv : v;  p ← p − lr·d. Without momentum, v is not touched.
template <typename T>
__device__ void sgd(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v, long long n, T lr, T mu, T damp, T wd,
                    int momentum, int nesterov, int first) {
    for (long long i = grid_start(); i < n; i += grid_step()) {
        T gi = g[i] + wd * p[i];
        T d = gi;
        if (momentum) {
            T vi = first ? gi : mu * v[i] + damp * gi;
            v[i] = vi;
            d = nesterov ? gi + mu * vi : vi;
        }
        p[i] -= lr * d;
    }
}

extern "C" __global__ void adam_f32(float* p, const float* g, float* m, float* v, long long n, float b1, float b2,
                                    float one_b1, float one_b2, float step_size, float inv_sqrt_bc2, float eps, float l2,
                                    float shrink) {
    adam(p, g, m, v, n, b1, b2, one_b1, one_b2, step_size, inv_sqrt_bc2, eps, l2, shrink);
}
extern "C" __global__ void adam_f64(double* p, const double* g, double* m, double* v, long long n, double b1, double b2,
                                    double one_b1, double one_b2, double step_size, double inv_sqrt_bc2, double eps,
                                    double l2, double shrink) {
    adam(p, g, m, v, n, b1, b2, one_b1, one_b2, step_size, inv_sqrt_bc2, eps, l2, shrink);
}
extern "C" __global__ void sgd_f32(float* p, const float* g, float* v, long long n, float lr, float mu, float damp, float wd,
                                   int momentum, int nesterov, int first) {
    sgd(p, g, v, n, lr, mu, damp, wd, momentum, nesterov, first);
}
extern "C" __global__ void sgd_f64(double* p, const double* g, double* v, long long n, double lr, double mu, double damp,
                                   double wd, int momentum, int nesterov, int first) {
    sgd(p, g, v, n, lr, mu, damp, wd, momentum, nesterov, first);
}
