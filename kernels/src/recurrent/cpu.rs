//! CPU recurrences: one GEMM and one fused elementwise pass per time step.
//!
//! The per-step products are small (`batch × hidden × gates·hidden`, e.g. 32 × 128 × 512), so
//! they run on the calling thread: a rayon hand-off per step would cost about as much as the
//! product (see `PAR_MIN_MACS` in the matmul kernel). The weight gradient, a product over all
//! `batch · steps` rows at once, is large and goes through the parallel [`matmul`].
//!
//! Notation: `a` is a gate's pre-activation, `σ` the logistic sigmoid, `g = ∂L/∂(output)`.
//! Every buffer is dense and row-major; `[B, T, X]` buffers hold row `(b, t)` at `(b·T + t)·X`,
//! so the rows of one time step form a matrix with row stride `T·X`.

use crate::matmul::{matmul, MatrixLayout};
use crate::simd::vectorized;
use crate::Float;

/// The sizes of one recurrent layer's run, and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recurrence {
    /// Sequences in the batch (`B`).
    pub batch: usize,
    /// Time steps (`T`).
    pub steps: usize,
    /// Size of the hidden state (`H`).
    pub hidden: usize,
    /// Run from the last step to the first (the backward half of a bidirectional layer). The
    /// outputs stay at their own time positions.
    pub reverse: bool,
}

impl Recurrence {
    /// The time steps in the order the forward pass visits them.
    fn order(self) -> impl DoubleEndedIterator<Item = usize> {
        let (steps, reverse) = (self.steps, self.reverse);
        (0..steps).map(move |i| if reverse { steps - 1 - i } else { i })
    }

    /// The step visited just before `t`, whose state step `t` reads; `None` for the first.
    fn prev(self, t: usize) -> Option<usize> {
        if self.reverse {
            (t + 1 < self.steps).then_some(t + 1)
        } else {
            t.checked_sub(1)
        }
    }

    /// The same run over `batch` of its sequences.
    fn with_batch(self, batch: usize) -> Recurrence {
        Recurrence { batch, ..self }
    }

    /// Offset of row `(b, t)` in a `[B, T, width]` buffer.
    fn row(self, b: usize, t: usize, width: usize) -> usize {
        (b * self.steps + t) * width
    }
}

/// Sequences per thread below which a recurrence runs on fewer threads: the sequences of a
/// batch are independent, so each thread runs the whole time loop for its share of them (one
/// hand-off per pass, not one per step), but its per-step products shrink with its share.
const MIN_BATCH_PER_THREAD: usize = 8;

/// The threads to split a run's batch over.
fn threads_for(r: Recurrence) -> usize {
    rayon::current_num_threads().min(r.batch / MIN_BATCH_PER_THREAD).max(1)
}

/// The per-sequence buffers of one pass over a batch (batch-major, so a range of sequences is
/// a contiguous part of each), which split into two shares of the batch.
trait BatchShare: Sized + Send {
    /// Sequences `[0, mid)` and `[mid, B)`.
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self);
}

/// Runs `run` over `share` on `threads` threads, each taking a contiguous share of the batch:
/// one hand-off per pass, then each thread runs the whole time loop for its sequences.
fn run_split<S: BatchShare>(share: S, r: Recurrence, threads: usize, run: &(impl Fn(S, Recurrence) + Sync)) {
    if threads < 2 {
        return run(share, r);
    }
    let mid = r.batch * (threads / 2) / threads;
    let (left, right) = share.split(r, mid);
    rayon::join(
        || run_split(left, r.with_batch(mid), threads / 2, run),
        || run_split(right, r.with_batch(r.batch - mid), threads - threads / 2, run),
    );
}

/// `buf` cut after its first `mid` sequences of `per_sequence` values each.
fn cut<T>(buf: &[T], per_sequence: usize, mid: usize) -> (&[T], &[T]) {
    buf.split_at(mid * per_sequence)
}

/// [`cut`], for writing.
fn cut_mut<T>(buf: &mut [T], per_sequence: usize, mid: usize) -> (&mut [T], &mut [T]) {
    buf.split_at_mut(mid * per_sequence)
}

/// The logistic function `σ(x) = 1 / (1 + e^−x)` (`e^−x = ∞` gives exactly 0).
#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

/// `c = A · B` for an `m × k` matrix A at `a[a_offset..]` with row stride `a_row_stride` (unit
/// column stride), a `k × n` matrix B with `b_strides = [row, column]`, and a dense `m × n` C.
#[allow(clippy::too_many_arguments)]
fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[T],
    a_offset: usize,
    a_row_stride: usize,
    b: &[T],
    b_strides: [usize; 2],
    c: &mut [T],
) {
    assert_eq!(c.len(), m * n, "recurrent gemm: output length");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::ZERO);
        return;
    }
    assert!(a_offset + (m - 1) * a_row_stride + k <= a.len(), "recurrent gemm: A out of bounds");
    assert!((k - 1) * b_strides[0] + (n - 1) * b_strides[1] < b.len(), "recurrent gemm: B out of bounds");
    // SAFETY: the asserts prove that every element of A (rows `a_offset + i·a_row_stride`,
    // columns `0..k`) and of B lies inside its slice; `c` is an exclusive, dense `m × n` block.
    unsafe {
        T::gemm(
            m,
            k,
            n,
            a.as_ptr().add(a_offset),
            [a_row_stride as isize, 1],
            b.as_ptr(),
            [b_strides[0] as isize, b_strides[1] as isize],
            c.as_mut_ptr(),
            n as isize,
        );
    }
}

/// `dw = Σ_rows da[row]ᵀ · h_prev[row]`: `da` is `[rows, gates·H]`, `h_prev` `[rows, H]`, `dw`
/// `[gates·H, H]` — one large product, split over threads.
fn weight_grad<T: Float>(da: &[T], h_prev: &[T], hidden: usize, dw: &mut [T]) {
    let rows = h_prev.len() / hidden.max(1);
    let gh = dw.len() / hidden.max(1);
    let da_t = MatrixLayout { offsets: vec![0], row_stride: 1, col_stride: gh };
    let hp = MatrixLayout { offsets: vec![0], row_stride: hidden, col_stride: 1 };
    matmul(gh, rows, hidden, da, &da_t, h_prev, &hp, dw);
}

/// The B operand of the per-step products, `W_hhᵀ` in the forward pass (`h_{t−1} · W_hhᵀ`) and
/// `W_hh` in the backward pass (`∂a · W_hh`), made once per pass and read at every step.
///
/// In f32 on AVX-512 CPUs it is packed in 48-column panels for the few-rows GEMM
/// (`matmul::avx512_rows`), each panel one contiguous stream: `matrixmultiply` would pack it
/// again at every step, and read in place from a row-major copy a large `W_hhᵀ` (4 MiB for
/// 512 units) costs a page per row of each panel. Otherwise it is a row-major copy for
/// [`gemm`], the rows of `W_hhᵀ` padded by 16 values (a power-of-two stride put each column
/// panel in a few L1 sets).
///
/// With `MatmulPrecision::Medium` on a CPU with AVX512-BF16, a large f32 matrix (at least 2¹⁸
/// values, 256 hidden units for an LSTM) is instead rounded to bfloat16 pair panels once, and
/// every step's product runs `matmul::avx512_rows_bf16`: twice the multiply-adds per cycle and
/// half the bytes per step.
struct StepWeight<T> {
    /// B's rows (the depth of the products) and columns.
    k: usize,
    n: usize,
    values: Vec<T>,
    /// Row stride of `values`.
    ld: usize,
    /// The panels, when the few-rows GEMM runs the products (then `values` is empty).
    panels: Option<Vec<f32>>,
    /// The bfloat16 pair panels, when its medium-precision twin does (`values` is empty).
    pairs: Option<Vec<u32>>,
}

/// Whether a per-step weight of `len` f32 values is rounded to bfloat16 (see [`StepWeight`]):
/// decided once per pass, so every step and every thread computes alike.
#[cfg(target_arch = "x86_64")]
fn rounds_to_bf16(len: usize) -> bool {
    use crate::matmul::{avx512_bf16, matmul_precision, MatmulPrecision};
    len >= 1 << 18 && matmul_precision() == MatmulPrecision::Medium && avx512_bf16::available()
}

impl<T: Float> StepWeight<T> {
    /// `w` (`[rows, cols]`, row-major) transposed to `[cols, rows]`.
    fn transposed(w: &[T], rows: usize, cols: usize) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let (Some(w), true) = (T::as_f32(w), crate::simd::has_avx512()) {
            // B = wᵀ is cols × rows: element (p, j) = w[j][p].
            if rounds_to_bf16(w.len()) {
                let pairs = crate::matmul::avx512_rows_bf16::pack_pair_panels(cols, rows, w, 1, cols);
                return StepWeight { k: cols, n: rows, values: Vec::new(), ld: rows, panels: None, pairs: Some(pairs) };
            }
            let panels = crate::matmul::avx512_rows::pack_panels(cols, rows, w, 1, cols);
            return StepWeight { k: cols, n: rows, values: Vec::new(), ld: rows, panels: Some(panels), pairs: None };
        }
        let ld = rows + 16;
        let mut values = vec![T::ZERO; cols * ld];
        // Sixteen rows of `w` at a time, so that each write fills a run of 16 values of one
        // output row (writing a whole output column at once took 3% of the LSTM forward pass).
        for i0 in (0..rows).step_by(16) {
            let i1 = (i0 + 16).min(rows);
            for (j, out) in values.chunks_exact_mut(ld).enumerate() {
                for (i, v) in (i0..i1).zip(&mut out[i0..i1]) {
                    *v = w[i * cols + j];
                }
            }
        }
        StepWeight { k: cols, n: rows, values, ld, panels: None, pairs: None }
    }

    /// `w` (`[rows, cols]`, row-major) as it is. Packed in panels only when it is larger than
    /// 256 Ki values: a smaller one stays in L2 and is read in place as fast (the backward pass
    /// of the benchmark's 128-unit LSTM took 3–5% longer with panels, that of a 512-unit one 4%
    /// less).
    fn as_is(w: &[T], rows: usize, cols: usize) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let (Some(w), true) = (T::as_f32(w), crate::simd::has_avx512()) {
            if rounds_to_bf16(rows * cols) {
                let pairs = crate::matmul::avx512_rows_bf16::pack_pair_panels(rows, cols, w, cols, 1);
                return StepWeight { k: rows, n: cols, values: Vec::new(), ld: cols, panels: None, pairs: Some(pairs) };
            }
            if rows * cols > 1 << 18 {
                let panels = crate::matmul::avx512_rows::pack_panels(rows, cols, w, cols, 1);
                return StepWeight {
                    k: rows,
                    n: cols,
                    values: Vec::new(),
                    ld: cols,
                    panels: Some(panels),
                    pairs: None,
                };
            }
        }
        StepWeight { k: rows, n: cols, values: w[..rows * cols].to_vec(), ld: cols, panels: None, pairs: None }
    }

    /// `c = A · B` (B being this matrix, `k × n`) for the `m × k` matrix A at `a[a_offset..]`
    /// (row stride `a_row_stride`); `c` is a dense `m × n` block.
    fn product(&self, m: usize, a: &[T], a_offset: usize, a_row_stride: usize, c: &mut [T]) {
        let (k, n) = (self.k, self.n);
        #[cfg(target_arch = "x86_64")]
        if let (Some(pairs), Some(a), Some(c)) = (&self.pairs, T::as_f32(a), T::as_f32_mut(c)) {
            assert_eq!(c.len(), m * n, "recurrent product: output length");
            if m == 0 || n == 0 {
                return;
            }
            assert!(a_offset + (m - 1) * a_row_stride + k <= a.len(), "recurrent product: A out of bounds");
            // SAFETY: AVX-512 and AVX512-BF16 are present (checked when the pairs were made, by
            // `rounds_to_bf16`); the assert proves that A's m rows of k values lie inside `a`;
            // `pairs` is the packing of this k × n matrix (the kernel checks its length); the
            // dense m × n C is `c`, exclusively borrowed.
            unsafe {
                let a = a.as_ptr().add(a_offset);
                crate::matmul::avx512_rows_bf16::sgemm(
                    m,
                    k,
                    n,
                    a,
                    a_row_stride as isize,
                    pairs,
                    c.as_mut_ptr(),
                    n as isize,
                );
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let (Some(panels), Some(a), Some(c)) = (&self.panels, T::as_f32(a), T::as_f32_mut(c)) {
            use crate::matmul::avx512_rows::{sgemm, BLayout, PANEL};
            assert_eq!(c.len(), m * n, "recurrent product: output length");
            assert!(panels.len() >= n.div_ceil(PANEL) * k * PANEL, "recurrent product: panels");
            if m == 0 || n == 0 {
                return;
            }
            assert!(a_offset + (m - 1) * a_row_stride + k <= a.len(), "recurrent product: A out of bounds");
            // SAFETY: AVX-512F is present (checked when the panels were made); the asserts
            // prove that A's rows, the panels of B (k × 48 each, n.div_ceil(48) of them) and
            // the dense m × n C lie inside their slices, and `c` is exclusively borrowed.
            unsafe {
                let a = a.as_ptr().add(a_offset);
                sgemm(
                    m,
                    k,
                    n,
                    a,
                    [a_row_stride as isize, 1],
                    panels.as_ptr(),
                    BLayout::panels(k),
                    c.as_mut_ptr(),
                    n as isize,
                );
            }
            return;
        }
        gemm(m, k, n, a, a_offset, a_row_stride, &self.values, [self.ld, 1], c);
    }
}

/// Row `read` for reading and row `write` for writing, of a buffer of `len`-long rows.
fn row_pair<T>(buf: &mut [T], len: usize, read: usize, write: usize) -> (&[T], &mut [T]) {
    assert_ne!(read, write, "row_pair: the same row");
    if read < write {
        let (lo, hi) = buf.split_at_mut(write * len);
        (&lo[read * len..][..len], &mut hi[..len])
    } else {
        let (lo, hi) = buf.split_at_mut(read * len);
        (&hi[..len], &mut lo[write * len..][..len])
    }
}

/// The state each step started from, as a `[B, T, H]` buffer: `h_{t−1}` (or `h0`) at row
/// `(b, t)`. The rows of the weight-gradient product.
fn previous_states<T: Float>(r: Recurrence, hs: &[T], h0: &[T]) -> Vec<T> {
    let h = r.hidden;
    let mut out = Vec::with_capacity(r.batch * r.steps * h);
    for b in 0..r.batch {
        for t in 0..r.steps {
            let src = match r.prev(t) {
                None => &h0[b * h..][..h],
                Some(p) => &hs[r.row(b, p, h)..][..h],
            };
            out.extend_from_slice(src); // row (b, t), in order
        }
    }
    out
}

/// Checks a buffer's length against its documented shape (a mismatch is a caller bug: the
/// tensor layer checks shapes and returns typed errors first).
fn check_len(what: &str, len: usize, expected: usize) {
    assert_eq!(len, expected, "recurrent kernel: {what} has {len} elements, expected {expected}");
}

// ------------------------------------------------------------------------------------------ RNN

/// Elman RNN: `h_t = tanh(xproj_t + h_{t−1} · W_hhᵀ)`, with `xproj [B, T, H]` (input
/// projection and both biases), `w_hh [H, H]`, `h0 [B, H]`; writes every `h_t` to `out [B, T, H]`.
pub fn rnn_forward<T: Float>(r: Recurrence, xproj: &[T], w_hh: &[T], h0: &[T], out: &mut [T]) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    for (what, len, expected) in [
        ("xproj", xproj.len(), b * s * h),
        ("w_hh", w_hh.len(), h * h),
        ("h0", h0.len(), b * h),
        ("out", out.len(), b * s * h),
    ] {
        check_len(what, len, expected);
    }
    let w_t = StepWeight::transposed(w_hh, h, h);
    run_split(RnnForward { xproj, h0, out }, r, threads_for(r), &|share, r| share.run(r, &w_t));
}

/// The per-sequence buffers of an RNN forward pass.
struct RnnForward<'a, T> {
    xproj: &'a [T],
    h0: &'a [T],
    out: &'a mut [T],
}

impl<T: Float> BatchShare for RnnForward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (seq, h) = (r.steps * r.hidden, r.hidden);
        let ((x1, x2), (h1, h2), (o1, o2)) =
            (cut(self.xproj, seq, mid), cut(self.h0, h, mid), cut_mut(self.out, seq, mid));
        (RnnForward { xproj: x1, h0: h1, out: o1 }, RnnForward { xproj: x2, h0: h2, out: o2 })
    }
}

impl<T: Float> RnnForward<'_, T> {
    /// The time loop on one thread: one GEMM and one elementwise pass per step.
    fn run(self, r: Recurrence, w_t: &StepWeight<T>) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let RnnForward { xproj, h0, out } = self;
        let mut rec = vec![T::ZERO; b * h];
        for t in r.order() {
            match r.prev(t) {
                None => w_t.product(b, h0, 0, h, &mut rec),
                Some(p) => w_t.product(b, out, p * h, s * h, &mut rec),
            }
            for bi in 0..b {
                let row = r.row(bi, t, h);
                let (x, rr, y) = (&xproj[row..][..h], &rec[bi * h..][..h], &mut out[row..][..h]);
                vectorized(
                    #[inline(always)]
                    || {
                        for ((y, &x), &r) in y.iter_mut().zip(x).zip(rr) {
                            *y = (x + r).tanh();
                        }
                    },
                );
            }
        }
    }
}

/// Backward of [`rnn_forward`], given `g = ∂L/∂out` (`[B, T, H]`). With `∂h_t = g_t + (the
/// gradient from step t+1)`: `∂a_t = ∂h_t · (1 − h_t²)` (into `dxproj`), `∂h_{t−1} = ∂a_t ·
/// W_hh` (the last one into `dh0`), `∂W_hh = Σ_t ∂a_tᵀ · h_{t−1}`.
#[allow(clippy::too_many_arguments)]
pub fn rnn_backward<T: Float>(
    r: Recurrence,
    w_hh: &[T],
    h0: &[T],
    out: &[T],
    g: &[T],
    dxproj: &mut [T],
    dw_hh: &mut [T],
    dh0: &mut [T],
) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    for (what, len, expected) in [
        ("w_hh", w_hh.len(), h * h),
        ("h0", h0.len(), b * h),
        ("out", out.len(), b * s * h),
        ("g", g.len(), b * s * h),
        ("dxproj", dxproj.len(), b * s * h),
        ("dw_hh", dw_hh.len(), h * h),
        ("dh0", dh0.len(), b * h),
    ] {
        check_len(what, len, expected);
    }
    let w = StepWeight::as_is(w_hh, h, h);
    run_split(RnnBackward { out, g, dxproj, dh0 }, r, threads_for(r), &|share, r| share.run(r, &w));
    weight_grad(dxproj, &previous_states(r, out, h0), h, dw_hh);
}

/// The per-sequence buffers of an RNN backward pass.
struct RnnBackward<'a, T> {
    out: &'a [T],
    g: &'a [T],
    dxproj: &'a mut [T],
    dh0: &'a mut [T],
}

impl<T: Float> BatchShare for RnnBackward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (seq, h) = (r.steps * r.hidden, r.hidden);
        let ((o1, o2), (g1, g2)) = (cut(self.out, seq, mid), cut(self.g, seq, mid));
        let ((x1, x2), (d1, d2)) = (cut_mut(self.dxproj, seq, mid), cut_mut(self.dh0, h, mid));
        (RnnBackward { out: o1, g: g1, dxproj: x1, dh0: d1 }, RnnBackward { out: o2, g: g2, dxproj: x2, dh0: d2 })
    }
}

impl<T: Float> RnnBackward<'_, T> {
    /// The reverse time loop on one thread.
    fn run(self, r: Recurrence, w: &StepWeight<T>) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let RnnBackward { out, g, dxproj, dh0 } = self;
        let mut dh = vec![T::ZERO; b * h];
        for t in r.order().rev() {
            for bi in 0..b {
                let row = r.row(bi, t, h);
                let (y, gy, dhr, da) = (&out[row..][..h], &g[row..][..h], &dh[bi * h..][..h], &mut dxproj[row..][..h]);
                vectorized(
                    #[inline(always)]
                    || {
                        for (((da, &g), &d), &y) in da.iter_mut().zip(gy).zip(dhr).zip(y) {
                            *da = (g + d) * (T::ONE - y * y);
                        }
                    },
                );
            }
            w.product(b, dxproj, t * h, s * h, &mut dh);
        }
        dh0.copy_from_slice(&dh);
    }
}

// ----------------------------------------------------------------------------------------- LSTM

/// LSTM (gates in PyTorch's order i, f, g, o): with `a = xproj_t + h_{t−1} · W_hhᵀ` split in
/// four, `i = σ(a_i)`, `f = σ(a_f)`, `g = tanh(a_g)`, `o = σ(a_o)`, `c_t = f·c_{t−1} + i·g`,
/// `h_t = o·tanh(c_t)`.
///
/// `xproj [B, T, 4H]`, `w_hh [4H, H]`, `h0`, `c0` `[B, H]`. Writes `states [2, B, T, H]` (every
/// `h_t`, then every `c_t`) and, if given, the activated gates `[B, T, 4H]`, which backward
/// reads (without them, one step's gates are kept in a scratch buffer that stays in cache).
pub fn lstm_forward<T: Float>(
    r: Recurrence,
    xproj: &[T],
    w_hh: &[T],
    h0: &[T],
    c0: &[T],
    states: &mut [T],
    gates: Option<&mut [T]>,
) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let g4 = 4 * h;
    for (what, len, expected) in [
        ("xproj", xproj.len(), b * s * g4),
        ("w_hh", w_hh.len(), g4 * h),
        ("h0", h0.len(), b * h),
        ("c0", c0.len(), b * h),
        ("states", states.len(), 2 * b * s * h),
        ("gates", gates.as_ref().map_or(b * s * g4, |g| g.len()), b * s * g4),
    ] {
        check_len(what, len, expected);
    }
    let (hs, cs) = states.split_at_mut(b * s * h);
    let w_t = StepWeight::transposed(w_hh, g4, h);
    let share = LstmForward { xproj, h0, c0, hs, cs, gates };
    run_split(share, r, threads_for(r), &|share, r| share.run(r, &w_t));
}

/// The per-sequence buffers of an LSTM forward pass (all batch-major, so a range of sequences
/// is a contiguous part of each).
struct LstmForward<'a, T> {
    xproj: &'a [T],
    h0: &'a [T],
    c0: &'a [T],
    hs: &'a mut [T],
    cs: &'a mut [T],
    gates: Option<&'a mut [T]>,
}

impl<T: Float> BatchShare for LstmForward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (s, h) = (r.steps, r.hidden);
        let (x1, x2) = self.xproj.split_at(mid * s * 4 * h);
        let (h1, h2) = self.h0.split_at(mid * h);
        let (c1, c2) = self.c0.split_at(mid * h);
        let (hs1, hs2) = self.hs.split_at_mut(mid * s * h);
        let (cs1, cs2) = self.cs.split_at_mut(mid * s * h);
        let (g1, g2) = match self.gates.map(|g| g.split_at_mut(mid * s * 4 * h)) {
            Some((g1, g2)) => (Some(g1), Some(g2)),
            None => (None, None),
        };
        (
            LstmForward { xproj: x1, h0: h1, c0: c1, hs: hs1, cs: cs1, gates: g1 },
            LstmForward { xproj: x2, h0: h2, c0: c2, hs: hs2, cs: cs2, gates: g2 },
        )
    }
}

impl<'a, T: Float> LstmForward<'a, T> {
    /// The time loop on one thread: one GEMM and one fused pass per step. `w_t` is `W_hhᵀ`
    /// (`[H, 4H]`).
    fn run(self, r: Recurrence, w_t: &StepWeight<T>) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let g4 = 4 * h;
        let LstmForward { xproj, h0, c0, hs, cs, mut gates } = self;
        let mut rec = vec![T::ZERO; b * g4];
        let mut step_gates = if gates.is_none() { vec![T::ZERO; b * g4] } else { Vec::new() };
        for t in r.order() {
            match r.prev(t) {
                None => w_t.product(b, h0, 0, h, &mut rec),
                Some(p) => w_t.product(b, hs, p * h, s * h, &mut rec),
            }
            for bi in 0..b {
                let row = bi * s + t;
                let (c_prev, c) = match r.prev(t) {
                    None => (&c0[bi * h..][..h], &mut cs[row * h..][..h]),
                    Some(p) => row_pair(cs, h, bi * s + p, row),
                };
                let act = match gates.as_deref_mut() {
                    Some(gates) => &mut gates[row * g4..][..g4],
                    None => &mut step_gates[bi * g4..][..g4],
                };
                lstm_cell(&xproj[row * g4..][..g4], &rec[bi * g4..][..g4], c_prev, act, c, &mut hs[row * h..][..h]);
            }
        }
    }
}

/// One row of one LSTM step: the fused elementwise pass. Every slice is cut to exactly `h`
/// elements first, so the compiler can drop the bounds checks and vectorise the loop.
#[inline(always)]
fn lstm_cell<T: Float>(x: &[T], rec: &[T], c_prev: &[T], act: &mut [T], c: &mut [T], h_out: &mut [T]) {
    let h = c.len();
    let [xi, xf, xg, xo] = gate_slices(x, h);
    let [ri, rf, rg, ro] = gate_slices(rec, h);
    let (c_prev, h_out) = (&c_prev[..h], &mut h_out[..h]);
    let [ai, af, ag, ao] = gate_slices_mut(act, h);
    vectorized(
        #[inline(always)]
        || {
            // Iterators rather than indices. Indexed (`x[j]`), this loop compiled to a vector
            // loop behind run-time checks plus a scalar loop that still took about a third of
            // the cell's time; zipped iterators have one exit and need no checks (LSTM forward
            // 3.17 → 2.82 ms in `cargo bench --bench sequence`).
            let inputs = xi.iter().zip(ri).zip(xf.iter().zip(rf)).zip(xg.iter().zip(rg)).zip(xo.iter().zip(ro));
            let gates = ai.iter_mut().zip(af.iter_mut()).zip(ag.iter_mut().zip(ao.iter_mut()));
            let state = c.iter_mut().zip(h_out.iter_mut()).zip(c_prev);
            for (((((x_i, r_i), (x_f, r_f)), (x_g, r_g)), (x_o, r_o)), (((a_i, a_f), (a_g, a_o)), ((c, h), c_prev))) in
                inputs.zip(gates.zip(state))
            {
                let i = sigmoid(*x_i + *r_i);
                let f = sigmoid(*x_f + *r_f);
                let g = (*x_g + *r_g).tanh();
                let o = sigmoid(*x_o + *r_o);
                let cj = f * *c_prev + i * g;
                (*a_i, *a_f, *a_g, *a_o) = (i, f, g, o);
                *c = cj;
                *h = o * cj.tanh();
            }
        },
    );
}

/// The `N` consecutive `h`-long gate blocks of a row (each from `split_at`, so that its
/// length is known to be `h`).
#[inline(always)]
fn gate_slices<T, const N: usize>(row: &[T], h: usize) -> [&[T]; N] {
    let mut rest = &row[..N * h];
    std::array::from_fn(|_| {
        let (block, tail) = rest.split_at(h);
        rest = tail;
        block
    })
}

/// The `N` consecutive `h`-long gate blocks of a row, for writing (each from `split_at_mut`,
/// so that its length is known to be `h`).
#[inline(always)]
fn gate_slices_mut<T, const N: usize>(row: &mut [T], h: usize) -> [&mut [T]; N] {
    let mut rest = &mut row[..N * h];
    std::array::from_fn(|_| {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(h);
        rest = tail;
        block
    })
}

/// Backward of [`lstm_forward`], given `g = ∂L/∂states` (`[2, B, T, H]`: the gradients of every
/// `h_t` and every `c_t`). Per step, with `∂h`, `∂c` the totals reaching `h_t`, `c_t` (from the
/// output and from step t+1) and `c̃ = tanh(c_t)`:
/// ```text
/// ∂o = ∂h·c̃        ∂c ← ∂c + ∂h·o·(1 − c̃²)
/// ∂i = ∂c·g        ∂g = ∂c·i        ∂f = ∂c·c_{t−1}        ∂c_{t−1} = ∂c·f
/// ∂a = [∂i·i(1−i), ∂f·f(1−f), ∂g·(1−g²), ∂o·o(1−o)]        (into dxproj)
/// ∂h_{t−1} = ∂a · W_hh                ∂W_hh = Σ_t ∂a_tᵀ · h_{t−1}
/// ```
#[allow(clippy::too_many_arguments)]
pub fn lstm_backward<T: Float>(
    r: Recurrence,
    w_hh: &[T],
    h0: &[T],
    c0: &[T],
    states: &[T],
    gates: &[T],
    g: &[T],
    dxproj: &mut [T],
    dw_hh: &mut [T],
    dh0: &mut [T],
    dc0: &mut [T],
) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let g4 = 4 * h;
    for (what, len, expected) in [
        ("w_hh", w_hh.len(), g4 * h),
        ("h0", h0.len(), b * h),
        ("c0", c0.len(), b * h),
        ("states", states.len(), 2 * b * s * h),
        ("gates", gates.len(), b * s * g4),
        ("g", g.len(), 2 * b * s * h),
        ("dxproj", dxproj.len(), b * s * g4),
        ("dw_hh", dw_hh.len(), g4 * h),
        ("dh0", dh0.len(), b * h),
        ("dc0", dc0.len(), b * h),
    ] {
        check_len(what, len, expected);
    }
    let (hs, cs) = states.split_at(b * s * h);
    let (ghs, gcs) = g.split_at(b * s * h);
    let w = StepWeight::as_is(w_hh, g4, h);
    let share = LstmBackward { h0, c0, hs, cs, gates, ghs, gcs, dxproj, dh0, dc0 };
    run_split(share, r, threads_for(r), &|share, r| share.run(r, &w));
    weight_grad(dxproj, &previous_states(r, hs, h0), h, dw_hh);
}

/// The per-sequence buffers of an LSTM backward pass (batch-major, as in [`LstmForward`]).
struct LstmBackward<'a, T> {
    h0: &'a [T],
    c0: &'a [T],
    hs: &'a [T],
    cs: &'a [T],
    gates: &'a [T],
    ghs: &'a [T],
    gcs: &'a [T],
    dxproj: &'a mut [T],
    dh0: &'a mut [T],
    dc0: &'a mut [T],
}

impl<T: Float> BatchShare for LstmBackward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (s, h) = (r.steps, r.hidden);
        let (seq, row) = (mid * s * h, mid * h);
        let (h01, h02) = self.h0.split_at(row);
        let (c01, c02) = self.c0.split_at(row);
        let (hs1, hs2) = self.hs.split_at(seq);
        let (cs1, cs2) = self.cs.split_at(seq);
        let (g1, g2) = self.gates.split_at(4 * seq);
        let (gh1, gh2) = self.ghs.split_at(seq);
        let (gc1, gc2) = self.gcs.split_at(seq);
        let (dx1, dx2) = self.dxproj.split_at_mut(4 * seq);
        let (dh1, dh2) = self.dh0.split_at_mut(row);
        let (dc1, dc2) = self.dc0.split_at_mut(row);
        (
            LstmBackward {
                h0: h01,
                c0: c01,
                hs: hs1,
                cs: cs1,
                gates: g1,
                ghs: gh1,
                gcs: gc1,
                dxproj: dx1,
                dh0: dh1,
                dc0: dc1,
            },
            LstmBackward {
                h0: h02,
                c0: c02,
                hs: hs2,
                cs: cs2,
                gates: g2,
                ghs: gh2,
                gcs: gc2,
                dxproj: dx2,
                dh0: dh2,
                dc0: dc2,
            },
        )
    }
}

impl<'a, T: Float> LstmBackward<'a, T> {
    /// The reverse time loop on one thread.
    fn run(self, r: Recurrence, w: &StepWeight<T>) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let g4 = 4 * h;
        let LstmBackward { c0, cs, gates, ghs, gcs, dxproj, dh0, dc0, .. } = self;
        // ∂L/∂h and ∂L/∂c arriving from the step after the current one.
        let (mut dh, mut dc) = (vec![T::ZERO; b * h], vec![T::ZERO; b * h]);
        for t in r.order().rev() {
            for bi in 0..b {
                let row = bi * s + t;
                let c_prev = match r.prev(t) {
                    None => &c0[bi * h..][..h],
                    Some(p) => &cs[(bi * s + p) * h..][..h],
                };
                let step = LstmStepGrad {
                    act: &gates[row * g4..][..g4],
                    c: &cs[row * h..][..h],
                    c_prev,
                    gh: &ghs[row * h..][..h],
                    gc: &gcs[row * h..][..h],
                };
                step.run(&dh[bi * h..][..h], &mut dc[bi * h..][..h], &mut dxproj[row * g4..][..g4]);
            }
            w.product(b, dxproj, t * g4, s * g4, &mut dh);
        }
        dh0.copy_from_slice(&dh);
        dc0.copy_from_slice(&dc);
    }
}

/// What one row of one LSTM step's backward reads.
struct LstmStepGrad<'a, T> {
    /// Activated gates `[i, f, g, o]`.
    act: &'a [T],
    c: &'a [T],
    c_prev: &'a [T],
    /// The output's gradients for this step's `h_t` and `c_t`.
    gh: &'a [T],
    gc: &'a [T],
}

impl<T: Float> LstmStepGrad<'_, T> {
    /// `dh_next`: the gradient reaching `h_t` from step t+1. `dc` holds the same for `c_t` and
    /// is overwritten with `∂c_{t−1}`; `da` receives the gates' pre-activation gradients.
    #[inline(always)]
    fn run(&self, dh_next: &[T], dc: &mut [T], da: &mut [T]) {
        let h = self.c.len();
        let [ai, af, ag, ao] = gate_slices(self.act, h);
        let (c, c_prev, gh, gc) = (&self.c[..h], &self.c_prev[..h], &self.gh[..h], &self.gc[..h]);
        let (dh_next, dc) = (&dh_next[..h], &mut dc[..h]);
        let [di, df, dg, dout] = gate_slices_mut(da, h);
        vectorized(
            #[inline(always)]
            || {
                // Iterators rather than indices, as in `lstm_cell`.
                let gates = ai.iter().zip(af).zip(ag.iter().zip(ao));
                let state = c.iter().zip(c_prev).zip(gh.iter().zip(gc)).zip(dh_next);
                let outs = di.iter_mut().zip(df.iter_mut()).zip(dg.iter_mut().zip(dout.iter_mut())).zip(dc.iter_mut());
                for ((((&i, &f), (&g, &o)), (((&cj, &cp), (&ghj, &gcj)), &dhn)), (((di, df), (dg, dout)), dc)) in
                    gates.zip(state).zip(outs)
                {
                    let dhj = ghj + dhn;
                    let tc = cj.tanh();
                    let dcj = gcj + *dc + dhj * o * (T::ONE - tc * tc);
                    *di = dcj * g * i * (T::ONE - i);
                    *df = dcj * cp * f * (T::ONE - f);
                    *dg = dcj * i * (T::ONE - g * g);
                    *dout = dhj * tc * o * (T::ONE - o);
                    *dc = dcj * f;
                }
            },
        );
    }
}

// ------------------------------------------------------------------------------------------ GRU

/// GRU (gates in PyTorch's order r, z, n): with `x_* = xproj_t` (input projection and `b_ih`)
/// and `u_* = h_{t−1} · W_hhᵀ + b_hh`, `r = σ(x_r + u_r)`, `z = σ(x_z + u_z)`,
/// `n = tanh(x_n + r·u_n)`, `h_t = (1 − z)·n + z·h_{t−1}`.
///
/// `xproj [B, T, 3H]`, `w_hh [3H, H]`, `b_hh [3H]` (kept apart: `r` multiplies `u_n` with its
/// bias), `h0 [B, H]`. Writes `out [B, T, H]` and `saved [B, T, 4H]` = `[r, z, n, u_n]`.
#[allow(clippy::too_many_arguments)]
pub fn gru_forward<T: Float>(
    r: Recurrence,
    xproj: &[T],
    w_hh: &[T],
    b_hh: &[T],
    h0: &[T],
    out: &mut [T],
    saved: &mut [T],
) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let g3 = 3 * h;
    for (what, len, expected) in [
        ("xproj", xproj.len(), b * s * g3),
        ("w_hh", w_hh.len(), g3 * h),
        ("b_hh", b_hh.len(), g3),
        ("h0", h0.len(), b * h),
        ("out", out.len(), b * s * h),
        ("saved", saved.len(), b * s * 4 * h),
    ] {
        check_len(what, len, expected);
    }
    let w_t = StepWeight::transposed(w_hh, g3, h);
    run_split(GruForward { xproj, h0, out, saved }, r, threads_for(r), &|share, r| share.run(r, &w_t, b_hh));
}

/// The per-sequence buffers of a GRU forward pass.
struct GruForward<'a, T> {
    xproj: &'a [T],
    h0: &'a [T],
    out: &'a mut [T],
    saved: &'a mut [T],
}

impl<T: Float> BatchShare for GruForward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (seq, h) = (r.steps * r.hidden, r.hidden);
        let ((x1, x2), (h1, h2)) = (cut(self.xproj, 3 * seq, mid), cut(self.h0, h, mid));
        let ((o1, o2), (s1, s2)) = (cut_mut(self.out, seq, mid), cut_mut(self.saved, 4 * seq, mid));
        (GruForward { xproj: x1, h0: h1, out: o1, saved: s1 }, GruForward { xproj: x2, h0: h2, out: o2, saved: s2 })
    }
}

impl<T: Float> GruForward<'_, T> {
    /// The time loop on one thread: one GEMM and one fused pass per step.
    fn run(self, r: Recurrence, w_t: &StepWeight<T>, b_hh: &[T]) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let g3 = 3 * h;
        let GruForward { xproj, h0, out, saved } = self;
        let mut rec = vec![T::ZERO; b * g3];
        for t in r.order() {
            match r.prev(t) {
                None => w_t.product(b, h0, 0, h, &mut rec),
                Some(p) => w_t.product(b, out, p * h, s * h, &mut rec),
            }
            for bi in 0..b {
                let row = bi * s + t;
                let (h_prev, y) = match r.prev(t) {
                    None => (&h0[bi * h..][..h], &mut out[row * h..][..h]),
                    Some(p) => row_pair(out, h, bi * s + p, row),
                };
                let [xr, xz, xn] = gate_slices(&xproj[row * g3..][..g3], h);
                let [ur, uz, un] = gate_slices(&rec[bi * g3..][..g3], h);
                let [br, bz, bn] = gate_slices(b_hh, h);
                let [sr, sz, sn, su] = gate_slices_mut(&mut saved[row * 4 * h..][..4 * h], h);
                let (h_prev, y) = (&h_prev[..h], &mut y[..h]);
                vectorized(
                    #[inline(always)]
                    || {
                        // Iterators rather than indices, as in `lstm_cell`.
                        let r_in = xr.iter().zip(ur).zip(br);
                        let z_in = xz.iter().zip(uz).zip(bz);
                        let n_in = xn.iter().zip(un).zip(bn);
                        let saved = sr.iter_mut().zip(sz.iter_mut()).zip(sn.iter_mut().zip(su.iter_mut()));
                        let state = y.iter_mut().zip(h_prev);
                        for (((((&x_r, &u_r), &b_r), ((&x_z, &u_z), &b_z)), ((&x_n, &u_n), &b_n)), (saved, (y, &hp))) in
                            r_in.zip(z_in).zip(n_in).zip(saved.zip(state))
                        {
                            let rg = sigmoid(x_r + u_r + b_r);
                            let z = sigmoid(x_z + u_z + b_z);
                            let u = u_n + b_n;
                            let n = (x_n + rg * u).tanh();
                            let ((s_r, s_z), (s_n, s_u)) = saved;
                            (*s_r, *s_z, *s_n, *s_u) = (rg, z, n, u);
                            *y = n + z * (hp - n);
                        }
                    },
                );
            }
        }
    }
}

/// Backward of [`gru_forward`], given `g = ∂L/∂out`. Per step, with `∂h` the total reaching
/// `h_t` (output and step t+1):
/// ```text
/// ∂n = ∂h·(1 − z)     ∂z = ∂h·(h_{t−1} − n)     ∂h_{t−1} = ∂h·z + ∂u · W_hh
/// ∂a_n = ∂n·(1 − n²)  ∂a_r = ∂a_n·u_n·r(1 − r)  ∂a_z = ∂z·z(1 − z)
/// ∂xproj = [∂a_r, ∂a_z, ∂a_n]       ∂u = [∂a_r, ∂a_z, ∂a_n·r]
/// ∂W_hh = Σ_t ∂u_tᵀ · h_{t−1}       ∂b_hh = Σ_t ∂u_t
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gru_backward<T: Float>(
    r: Recurrence,
    w_hh: &[T],
    h0: &[T],
    out: &[T],
    saved: &[T],
    g: &[T],
    dxproj: &mut [T],
    dw_hh: &mut [T],
    db_hh: &mut [T],
    dh0: &mut [T],
) {
    let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
    let g3 = 3 * h;
    for (what, len, expected) in [
        ("w_hh", w_hh.len(), g3 * h),
        ("h0", h0.len(), b * h),
        ("out", out.len(), b * s * h),
        ("saved", saved.len(), b * s * 4 * h),
        ("g", g.len(), b * s * h),
        ("dxproj", dxproj.len(), b * s * g3),
        ("dw_hh", dw_hh.len(), g3 * h),
        ("db_hh", db_hh.len(), g3),
        ("dh0", dh0.len(), b * h),
    ] {
        check_len(what, len, expected);
    }
    let (mut du, w) = (vec![T::ZERO; b * s * g3], StepWeight::as_is(w_hh, g3, h));
    let share = GruBackward { h0, out, saved, g, dxproj, du: &mut du, dh0 };
    run_split(share, r, threads_for(r), &|share, r| share.run(r, &w));
    weight_grad(&du, &previous_states(r, out, h0), h, dw_hh);
    db_hh.fill(T::ZERO);
    for row in du.chunks_exact(g3.max(1)) {
        for (d, &u) in db_hh.iter_mut().zip(row) {
            *d += u;
        }
    }
}

/// The per-sequence buffers of a GRU backward pass (`du`: the gradient of `u = h_{t−1}·W_hhᵀ +
/// b_hh`, which the weight and bias gradients read after the loop).
struct GruBackward<'a, T> {
    h0: &'a [T],
    out: &'a [T],
    saved: &'a [T],
    g: &'a [T],
    dxproj: &'a mut [T],
    du: &'a mut [T],
    dh0: &'a mut [T],
}

impl<T: Float> BatchShare for GruBackward<'_, T> {
    fn split(self, r: Recurrence, mid: usize) -> (Self, Self) {
        let (seq, h) = (r.steps * r.hidden, r.hidden);
        let ((h1, h2), (o1, o2)) = (cut(self.h0, h, mid), cut(self.out, seq, mid));
        let ((s1, s2), (g1, g2)) = (cut(self.saved, 4 * seq, mid), cut(self.g, seq, mid));
        let ((x1, x2), (u1, u2)) = (cut_mut(self.dxproj, 3 * seq, mid), cut_mut(self.du, 3 * seq, mid));
        let (d1, d2) = cut_mut(self.dh0, h, mid);
        (
            GruBackward { h0: h1, out: o1, saved: s1, g: g1, dxproj: x1, du: u1, dh0: d1 },
            GruBackward { h0: h2, out: o2, saved: s2, g: g2, dxproj: x2, du: u2, dh0: d2 },
        )
    }
}

impl<T: Float> GruBackward<'_, T> {
    /// The reverse time loop on one thread.
    fn run(self, r: Recurrence, w: &StepWeight<T>) {
        let Recurrence { batch: b, steps: s, hidden: h, .. } = r;
        let g3 = 3 * h;
        let GruBackward { h0, out, saved, g, dxproj, du, dh0 } = self;
        let (mut dh, mut through_w) = (vec![T::ZERO; b * h], vec![T::ZERO; b * h]);
        for t in r.order().rev() {
            for bi in 0..b {
                let row = bi * s + t;
                let h_prev = match r.prev(t) {
                    None => &h0[bi * h..][..h],
                    Some(p) => &out[(bi * s + p) * h..][..h],
                };
                let [sr, sz, sn, su] = gate_slices(&saved[row * 4 * h..][..4 * h], h);
                let [dxr, dxz, dxn] = gate_slices_mut(&mut dxproj[row * g3..][..g3], h);
                let [dur, duz, dun] = gate_slices_mut(&mut du[row * g3..][..g3], h);
                let (gy, h_prev, dhr) = (&g[row * h..][..h], &h_prev[..h], &mut dh[bi * h..][..h]);
                vectorized(
                    #[inline(always)]
                    || {
                        // Iterators rather than indices, as in `lstm_cell`.
                        let saved = sr.iter().zip(sz).zip(sn.iter().zip(su));
                        let state = gy.iter().zip(h_prev).zip(dhr.iter_mut());
                        let dx = dxr.iter_mut().zip(dxz.iter_mut()).zip(dxn.iter_mut());
                        let du = dur.iter_mut().zip(duz.iter_mut()).zip(dun.iter_mut());
                        for (
                            (((&rg, &z), (&n, &un)), ((&gyj, &hp), dh)),
                            (((dx_r, dx_z), dx_n), ((du_r, du_z), du_n)),
                        ) in saved.zip(state).zip(dx.zip(du))
                        {
                            let dht = gyj + *dh;
                            let dan = dht * (T::ONE - z) * (T::ONE - n * n);
                            let dar = dan * un * rg * (T::ONE - rg);
                            let daz = dht * (hp - n) * z * (T::ONE - z);
                            (*dx_r, *dx_z, *dx_n) = (dar, daz, dan);
                            (*du_r, *du_z, *du_n) = (dar, daz, dan * rg);
                            *dh = dht * z;
                        }
                    },
                );
            }
            w.product(b, du, t * g3, s * g3, &mut through_w);
            for (d, w) in dh.iter_mut().zip(&through_w) {
                *d += *w;
            }
        }
        dh0.copy_from_slice(&dh);
    }
}
