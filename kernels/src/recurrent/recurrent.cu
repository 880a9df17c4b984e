// The LSTM's fused per-step passes (the twins of `lstm_cell` and `LstmStepGrad` in
// recurrent/cpu.rs, with the same formulas). The tensor layer runs the time loop on the host:
// per step one GEMM (`h_{t−1}·W_hhᵀ`, all four gates at once, by matmul.cu) and one launch of
// the pass below, which applies the gate nonlinearities and updates the state. One thread per
// (sequence, hidden unit); the step's four gate values of that unit are H apart.
//
// Layouts, all dense: xproj and gates [B, S, 4H] (gates in PyTorch's order i, f, g, o),
// states [2, B, S, H] (every h_t, then every c_t), c0 and the per-step buffers [B, H].
// `prev` is the step whose state step t reads, or −1 for the initial state.

template <typename T> __device__ __forceinline__ T lstm_sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

// a = xproj_t + rec;  i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g);  c_t = f·c_{t−1} + i·g;
// h_t = o·tanh(c_t). Writes the four activations to `gates` for the backward pass.
template <typename T>
__device__ void lstm_step_forward(T* __restrict__ states, T* __restrict__ gates, const T* __restrict__ xproj,
                                  const T* __restrict__ rec, const T* __restrict__ c0, int B, int S, int H, int t,
                                  int prev) {
    const long long cs = (long long)B * S * H; // where the c_t half of `states` starts
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H;
        const int j = e % H;
        const long long row = b * S + t;
        const T* x = xproj + row * 4 * H;
        const T* r = rec + b * 4 * H;
        const T i = lstm_sigmoid(x[j] + r[j]);
        const T f = lstm_sigmoid(x[H + j] + r[H + j]);
        const T g = tanh(x[2 * H + j] + r[2 * H + j]);
        const T o = lstm_sigmoid(x[3 * H + j] + r[3 * H + j]);
        const T c_prev = prev < 0 ? c0[b * H + j] : states[cs + (b * S + prev) * H + j];
        const T c = f * c_prev + i * g;
        T* a = gates + row * 4 * H;
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = o;
        states[cs + row * H + j] = c;
        states[row * H + j] = o * tanh(c);
    }
}

// With ∂h = g_h + dh_next and c̃ = tanh(c_t):  ∂c = g_c + dc + ∂h·o·(1 − c̃²);
// ∂a = [∂c·g·i(1−i), ∂c·c_{t−1}·f(1−f), ∂c·i·(1−g²), ∂h·c̃·o(1−o)] into dxproj;  dc ← ∂c·f.
// `grad` is ∂L/∂states ([2, B, S, H]); dh_next and dc are the gradients reaching h_t and c_t
// from step t+1 (zeros before the first backward step); dc is overwritten with ∂c_{t−1}.
template <typename T>
__device__ void lstm_step_backward(T* __restrict__ dxproj, T* __restrict__ dc, const T* __restrict__ dh_next,
                                   const T* __restrict__ gates, const T* __restrict__ states, const T* __restrict__ c0,
                                   const T* __restrict__ grad, int B, int S, int H, int t, int prev) {
    const long long cs = (long long)B * S * H;
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H;
        const int j = e % H;
        const long long row = b * S + t;
        const T* a = gates + row * 4 * H;
        const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        const T c = states[cs + row * H + j];
        const T c_prev = prev < 0 ? c0[b * H + j] : states[cs + (b * S + prev) * H + j];
        const T dh = grad[row * H + j] + dh_next[b * H + j];
        const T tc = tanh(c);
        const T dcj = grad[cs + row * H + j] + dc[b * H + j] + dh * o * (T(1) - tc * tc);
        T* d = dxproj + row * 4 * H;
        d[j] = dcj * g * i * (T(1) - i);
        d[H + j] = dcj * c_prev * f * (T(1) - f);
        d[2 * H + j] = dcj * i * (T(1) - g * g);
        d[3 * H + j] = dh * tc * o * (T(1) - o);
        dc[b * H + j] = dcj * f;
    }
}

#define LSTM_ENTRIES(T, S)                                                                                             \
    extern "C" __global__ void lstm_step_forward_##S(T* states, T* gates, const T* xproj, const T* rec, const T* c0,   \
                                                     int B, int S_, int H, int t, int prev) {                          \
        lstm_step_forward(states, gates, xproj, rec, c0, B, S_, H, t, prev);                                           \
    }                                                                                                                  \
    extern "C" __global__ void lstm_step_backward_##S(T* dxproj, T* dc, const T* dh_next, const T* gates,              \
                                                      const T* states, const T* c0, const T* grad, int B, int S_,      \
                                                      int H, int t, int prev) {                                        \
        lstm_step_backward(dxproj, dc, dh_next, gates, states, c0, grad, B, S_, H, t, prev);                           \
    }

LSTM_ENTRIES(float, f32)
LSTM_ENTRIES(double, f64)
