// The fused per-step passes of the recurrences (the twins of the cells in recurrent/cpu.rs,
// with the same formulas): LSTM first, then GRU and Elman RNN. The tensor layer runs the time loop on the host:
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

// ---------------------------------------------------------------- GRU
//
// (The twins of the GRU loops in recurrent/cpu.rs.) xproj [B, S, 3H] holds x·W_ihᵀ + b_ih for
// the gates r, z, n; rec = h_prev·W_hhᵀ [B, 3H] without its bias, which is added here (b_hn is
// multiplied by r). out [B, S, H]; saved [B, S, 4H] = [r, z, n, u_n] for the backward pass.

// r = σ(x_r + u_r + b_r), z = σ(x_z + u_z + b_z), u_n = rec_n + b_n, n = tanh(x_n + r·u_n),
// h_t = n + z·(h_{t−1} − n).
template <typename T>
__device__ void gru_step_forward(T* __restrict__ out, T* __restrict__ saved, const T* __restrict__ xproj,
                                 const T* __restrict__ rec, const T* __restrict__ b_hh, const T* __restrict__ h0, int B,
                                 int S, int H, int t, int prev) {
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H;
        const int j = e % H;
        const long long row = b * S + t;
        const T* x = xproj + row * 3 * H;
        const T* u = rec + b * 3 * H;
        const T r = lstm_sigmoid(x[j] + u[j] + b_hh[j]);
        const T z = lstm_sigmoid(x[H + j] + u[H + j] + b_hh[H + j]);
        const T un = u[2 * H + j] + b_hh[2 * H + j];
        const T n = tanh(x[2 * H + j] + r * un);
        const T hp = prev < 0 ? h0[b * H + j] : out[(b * S + prev) * H + j];
        T* sv = saved + row * 4 * H;
        sv[j] = r;
        sv[H + j] = z;
        sv[2 * H + j] = n;
        sv[3 * H + j] = un;
        out[row * H + j] = n + z * (hp - n);
    }
}

// With ∂h = g + dh + through (dh: the direct part ∂h_t·z of step t+1, through: that step's
// ∂u·W_hh):  ∂a_n = ∂h·(1 − z)·(1 − n²),  ∂a_r = ∂a_n·u_n·r(1 − r),  ∂a_z = ∂h·(h_{t−1} − n)·z(1 − z);
// dxproj = [∂a_r, ∂a_z, ∂a_n], du = [∂a_r, ∂a_z, ∂a_n·r];  dh ← ∂h·z.
template <typename T>
__device__ void gru_step_backward(T* __restrict__ dxproj, T* __restrict__ du, T* __restrict__ dh,
                                  const T* __restrict__ through, const T* __restrict__ saved, const T* __restrict__ out,
                                  const T* __restrict__ h0, const T* __restrict__ grad, int B, int S, int H, int t,
                                  int prev) {
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H;
        const int j = e % H;
        const long long row = b * S + t;
        const T* sv = saved + row * 4 * H;
        const T r = sv[j], z = sv[H + j], n = sv[2 * H + j], un = sv[3 * H + j];
        const T hp = prev < 0 ? h0[b * H + j] : out[(b * S + prev) * H + j];
        const T dht = grad[row * H + j] + dh[b * H + j] + through[b * H + j];
        const T dan = dht * (T(1) - z) * (T(1) - n * n);
        const T dar = dan * un * r * (T(1) - r);
        const T daz = dht * (hp - n) * z * (T(1) - z);
        T* dx = dxproj + row * 3 * H;
        T* d = du + row * 3 * H;
        dx[j] = dar;
        dx[H + j] = daz;
        dx[2 * H + j] = dan;
        d[j] = dar;
        d[H + j] = daz;
        d[2 * H + j] = dan * r;
        dh[b * H + j] = dht * z;
    }
}

// ---------------------------------------------------------------- Elman RNN
//
// h_t = tanh(xproj_t + rec) with rec = h_prev·W_hhᵀ; backward ∂a = (g + dh)·(1 − h_t²), where dh
// = ∂a_{t+1}·W_hh reaches h_t from the next step. xproj, out, dxproj [B, S, H].
template <typename T>
__device__ void rnn_step_forward(T* __restrict__ out, const T* __restrict__ xproj, const T* __restrict__ rec, int B,
                                 int S, int H, int t) {
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H, row = b * S + t;
        const int j = e % H;
        out[row * H + j] = tanh(xproj[row * H + j] + rec[b * H + j]);
    }
}

template <typename T>
__device__ void rnn_step_backward(T* __restrict__ dxproj, const T* __restrict__ out, const T* __restrict__ grad,
                                  const T* __restrict__ dh, int B, int S, int H, int t) {
    for (long long e = grid_start(); e < (long long)B * H; e += grid_step()) {
        const long long b = e / H, row = b * S + t;
        const int j = e % H;
        const T y = out[row * H + j];
        dxproj[row * H + j] = (grad[row * H + j] + dh[b * H + j]) * (T(1) - y * y);
    }
}

#define GRU_RNN_ENTRIES(T, S)                                                                                          \
    extern "C" __global__ void gru_step_forward_##S(T* out, T* saved, const T* xproj, const T* rec, const T* b_hh,     \
                                                    const T* h0, int B, int S_, int H, int t, int prev) {              \
        gru_step_forward(out, saved, xproj, rec, b_hh, h0, B, S_, H, t, prev);                                         \
    }                                                                                                                  \
    extern "C" __global__ void gru_step_backward_##S(T* dxproj, T* du, T* dh, const T* through, const T* saved,        \
                                                     const T* out, const T* h0, const T* grad, int B, int S_, int H,   \
                                                     int t, int prev) {                                                \
        gru_step_backward(dxproj, du, dh, through, saved, out, h0, grad, B, S_, H, t, prev);                           \
    }                                                                                                                  \
    extern "C" __global__ void rnn_step_forward_##S(T* out, const T* xproj, const T* rec, int B, int S_, int H, int t) { \
        rnn_step_forward(out, xproj, rec, B, S_, H, t);                                                                \
    }                                                                                                                  \
    extern "C" __global__ void rnn_step_backward_##S(T* dxproj, const T* out, const T* grad, const T* dh, int B,       \
                                                     int S_, int H, int t) {                                           \
        rnn_step_backward(dxproj, out, grad, dh, B, S_, H, t);                                                         \
    }

GRU_RNN_ENTRIES(float, f32)
GRU_RNN_ENTRIES(double, f64)
