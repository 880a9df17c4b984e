//! CPU attention, fused per head. For each of `batch` independent heads, with `Q [tq, d]`,
//! `K [tk, d]`, `V [tk, dv]`, the scale `c` (usually `1/√d`) and the output gradient `G`:
//! ```text
//! forward    S = c·Q·Kᵀ      P = softmax of each row of S      O = P·V
//! backward   ∂V = Pᵀ·G       ∂P = G·Vᵀ      ∂S = P ⊙ (∂P − rowsum(∂P ⊙ P))
//!            ∂Q = c·∂S·K     ∂K = c·∂Sᵀ·Q
//! ```
//! The `∂S` line is the softmax rule: a row `p = softmax(s)` has Jacobian `diag(p) − p·pᵀ`, so
//! `∂s = p ⊙ ∂p − p·(pᵀ∂p)`. A causal head hides from query `i` the keys after `i + tk − tq`:
//! their `P` is exactly 0, so they get no weight and, through the same rule, no gradient.
//!
//! Composed from general ops, attention runs a product, a scale, a masked fill (with its mask)
//! and a softmax, each a pass over `[tq, tk]` scores in memory, and as many again backward.
//! Here a head's `[tq, tk]` block is made, normalised and used while it is in cache, and only
//! `P` is kept for the backward pass. Heads are independent, so they split over threads; each
//! product is one single-threaded `gemm` on strided operands (a head of `[B, T, H, d]`
//! projections is read in place).

use crate::matmul::MatrixLayout;
use crate::simd::{fold_lanes, row_sum, vectorized};
use crate::{Float, Slot};
use rayon::prelude::*;

/// Multiply-adds below which the heads run on the calling thread (as `matmul`'s threshold).
const PAR_MIN_MACS: usize = 1 << 22;

/// The sizes of a batched attention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionSizes {
    /// Independent heads (all leading dims together).
    pub batch: usize,
    /// Queries per head.
    pub tq: usize,
    /// Keys (and values) per head.
    pub tk: usize,
    /// Width of queries and keys.
    pub d: usize,
    /// Width of values.
    pub dv: usize,
    /// The factor on the scores, `c > 0`.
    pub scale: f64,
    /// Query `i` may not attend to keys after `i + tk − tq` (with `tq > tk`, after `i`).
    pub causal: bool,
}

/// The three operands of a batched attention: each a buffer with the layout of its heads
/// (`q`: `tq × d` per head, `k`: `tk × d`, `v`: `tk × dv`).
#[derive(Clone, Copy, Debug)]
pub struct AttentionInputs<'a, T> {
    /// The queries.
    pub q: (&'a [T], &'a MatrixLayout),
    /// The keys.
    pub k: (&'a [T], &'a MatrixLayout),
    /// The values.
    pub v: (&'a [T], &'a MatrixLayout),
}

/// Rows of queries (and of keys) per block of a causal head: a block's products stop at the
/// last key its last query may see, which skips most of the hidden upper triangle (with 128
/// positions, 62% of the full products are computed) while keeping each product large enough
/// for an efficient `gemm`.
const CAUSAL_BLOCK: usize = 32;

impl AttentionSizes {
    /// How many keys (a prefix) query `i` may attend to.
    fn visible(&self, i: usize) -> usize {
        if self.causal {
            (i + self.tk.saturating_sub(self.tq) + 1).min(self.tk)
        } else {
            self.tk
        }
    }

    /// Multiply-adds of the full products (what decides whether to split over threads).
    fn macs(&self) -> usize {
        self.batch * self.tq * self.tk * (self.d + self.dv)
    }

    /// Panics unless every size is positive, the scale is positive and finite, and each layout
    /// has `batch` heads inside its buffer.
    fn check<T>(&self, inputs: &AttentionInputs<'_, T>) {
        let AttentionSizes { batch, tq, tk, d, dv, scale, .. } = *self;
        assert!(batch > 0 && tq > 0 && tk > 0 && d > 0 && dv > 0, "attention: empty sizes {self:?}");
        assert!(scale > 0.0 && scale.is_finite(), "attention: scale {scale} is not positive");
        let AttentionInputs { q, k, v } = *inputs;
        for ((data, layout), rows, cols, name) in [(q, tq, d, "q"), (k, tk, d, "k"), (v, tk, dv, "v")] {
            assert_eq!(layout.offsets.len(), batch, "attention: {name} has the wrong number of heads");
            assert!(layout.extent(rows, cols) <= data.len(), "attention: {name} out of bounds");
        }
    }

    /// Blocks of query rows `(first, end, keys)`: rows `first..end` see at most the first
    /// `keys` keys. One block with every key unless causal.
    fn query_blocks(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let step = if self.causal { CAUSAL_BLOCK } else { self.tq };
        (0..self.tq).step_by(step).map(move |r0| {
            let r1 = (r0 + step).min(self.tq);
            (r0, r1, self.visible(r1 - 1))
        })
    }

    /// Blocks of keys `(first, end, queries_from)`: only queries `queries_from..tq` see keys
    /// `first..end` (`queries_from = tq`: none does). One block seen by every query unless causal.
    fn key_blocks(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let step = if self.causal { CAUSAL_BLOCK } else { self.tk };
        let shift = self.tk.saturating_sub(self.tq);
        (0..self.tk).step_by(step).map(move |j0| {
            let from = if self.causal { j0.saturating_sub(shift).min(self.tq) } else { 0 };
            (j0, (j0 + step).min(self.tk), from)
        })
    }
}

/// A strided matrix operand of a `gemm`: where element `[0, 0]` is and the row and column
/// strides.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T> Mat<T> {
    /// Head `h` of an operand.
    fn head((data, layout): (&[T], &MatrixLayout), h: usize) -> Mat<T> {
        Mat {
            ptr: data.as_ptr().wrapping_add(layout.offsets[h]),
            rs: layout.row_stride as isize,
            cs: layout.col_stride as isize,
        }
    }

    /// A dense row-major matrix with rows of `cols`.
    fn dense(data: &[T], cols: usize) -> Mat<T> {
        Mat { ptr: data.as_ptr(), rs: cols as isize, cs: 1 }
    }

    /// The sub-matrix whose `[0, 0]` is element `[r, c]` (only computed; `gemm` reads it).
    fn at(self, r: usize, c: usize) -> Mat<T> {
        Mat { ptr: self.ptr.wrapping_offset(r as isize * self.rs + c as isize * self.cs), ..self }
    }

    /// The transpose: the same elements with the strides swapped.
    fn t(self) -> Mat<T> {
        Mat { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
}

/// `C = A · B` for `m × k` by `k × n` operands into `C` (row stride `ldc`, overwritten).
///
/// # Safety
/// As [`Float::gemm`]: every element of the two `m × k` and `k × n` operands must be readable,
/// and the `m × n` block at `c` writable and not aliased.
unsafe fn product<T: Float>(m: usize, k: usize, n: usize, a: Mat<T>, b: Mat<T>, c: *mut T, ldc: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { T::gemm(m, k, n, a.ptr, [a.rs, a.cs], b.ptr, [b.rs, b.cs], c, ldc as isize) }
}

/// The forward pass: `out` (`[batch, tq, dv]`, dense) gets `softmax(c·Q·Kᵀ)·V` per head, and
/// `probs` (`[batch, tq, tk]`, dense) the attention weights `P`, which the backward pass needs.
/// Both are fully written and may start uninitialised.
///
/// Panics on inconsistent sizes or layouts (the tensor layer checks shapes first).
pub fn attention_forward<T: Float, O: Slot<T>>(
    s: &AttentionSizes,
    inputs: &AttentionInputs<'_, T>,
    out: &mut [O],
    probs: &mut [O],
) {
    s.check(inputs);
    let (tq, tk, d, dv) = (s.tq, s.tk, s.d, s.dv);
    assert_eq!(out.len(), s.batch * tq * dv, "attention: output length");
    assert_eq!(probs.len(), s.batch * tq * tk, "attention: probabilities length");
    let c = T::from_f64(s.scale);
    let head = |h: usize, o: &mut [O], p: &mut [O]| {
        let (qm, km, vm) = (Mat::head(inputs.q, h), Mat::head(inputs.k, h), Mat::head(inputs.v, h));
        for (r0, r1, keys) in s.query_blocks() {
            let rows = &mut p[r0 * tk..r1 * tk];
            // SAFETY: `check` proved that head `h` of each layout lies inside its buffer, so
            // rows `r0..r1` of Q and the first `keys` rows of K are readable; `rows` is this
            // block's `(r1 − r0) × tk` part of P, and the product fills its first `keys` columns.
            unsafe { product(r1 - r0, d, keys, qm.at(r0, 0), km.t(), rows.as_mut_ptr() as *mut T, tk) };
            for row in rows.chunks_exact_mut(tk) {
                row[keys..].iter_mut().for_each(|x| x.set(T::ZERO));
            }
            // SAFETY: every element of `rows` was written just above.
            let rows = unsafe { written(rows) };
            for (i, row) in (r0..r1).zip(rows.chunks_exact_mut(tk)) {
                let visible = s.visible(i);
                vectorized(
                    #[inline(always)]
                    || softmax_prefix(&mut row[..keys], visible, c),
                );
            }
            // SAFETY: the first `keys` columns of these rows of P (dense, row stride `tk`) and
            // rows of V are readable; the output rows `r0..r1` are this head's, exactly sized.
            unsafe {
                let o_rows = o[r0 * dv..].as_mut_ptr() as *mut T;
                product(r1 - r0, keys, dv, Mat::dense(rows, tk), vm, o_rows, dv);
            }
        }
    };
    if s.macs() < PAR_MIN_MACS {
        let blocks = out.chunks_mut(tq * dv).zip(probs.chunks_mut(tq * tk)).enumerate();
        blocks.for_each(|(h, (o, p))| head(h, o, p));
    } else {
        out.par_chunks_mut(tq * dv)
            .zip(probs.par_chunks_mut(tq * tk))
            .enumerate()
            .for_each(|(h, (o, p))| head(h, o, p));
    }
}

/// Reinterprets an output block that has just been fully written as initialised values.
///
/// # Safety
/// Every element of `block` must have been written.
unsafe fn written<T, O: Slot<T>>(block: &mut [O]) -> &mut [T] {
    // SAFETY: `O` is `T` or `MaybeUninit<T>` (the trait is sealed), both with `T`'s layout, and
    // the caller guarantees every element holds a written `T`.
    unsafe { &mut *(block as *mut [O] as *mut [T]) }
}

/// The computed part of a row of scores, in place: `softmax(c·row)` over its first `visible`
/// entries, 0 over the rest of the slice (hidden keys the block's product still computed).
/// With `c > 0`, `max(c·s) = c·max(s)`, so the scaled scores are never stored.
#[inline(always)]
fn softmax_prefix<T: Float>(row: &mut [T], visible: usize, c: T) {
    let (live, hidden) = row.split_at_mut(visible);
    let m = c * fold_lanes(live, T::NEG_INFINITY, |a, b| a.max_v(b), |x| x);
    let sum = fold_lanes(live, T::ZERO, |a, b| a + b, |x| (c * x - m).exp());
    let inv = T::ONE / sum;
    for x in live.iter_mut() {
        *x = (c * *x - m).exp() * inv;
    }
    hidden.fill(T::ZERO);
}

/// The backward pass: given the inputs, the weights `probs` of the forward pass and the output
/// gradient `grad` (`[batch, tq, dv]`, dense), writes `∂Q` (`[batch, tq, d]`), `∂K`
/// (`[batch, tk, d]`) and `∂V` (`[batch, tk, dv]`), all dense and fully written.
///
/// Panics on inconsistent sizes or layouts.
pub fn attention_backward<T: Float, O: Slot<T>>(
    s: &AttentionSizes,
    inputs: &AttentionInputs<'_, T>,
    probs: &[T],
    grad: &[T],
    dq: &mut [O],
    dk: &mut [O],
    dv_out: &mut [O],
) {
    s.check(inputs);
    let (tq, tk, d, dv) = (s.tq, s.tk, s.d, s.dv);
    assert_eq!(probs.len(), s.batch * tq * tk, "attention_backward: probabilities length");
    assert_eq!(grad.len(), s.batch * tq * dv, "attention_backward: gradient length");
    assert_eq!(dq.len(), s.batch * tq * d, "attention_backward: ∂q length");
    assert_eq!(dk.len(), s.batch * tk * d, "attention_backward: ∂k length");
    assert_eq!(dv_out.len(), s.batch * tk * dv, "attention_backward: ∂v length");
    let c = T::from_f64(s.scale);
    // `ds` is scratch for one head's `∂P`, turned into `c·∂S` in place.
    let head = |h: usize, (gq, gk, gv): (&mut [O], &mut [O], &mut [O]), ds: &mut Vec<T>| {
        let p = &probs[h * tq * tk..][..tq * tk];
        let g = &grad[h * tq * dv..][..tq * dv];
        ds.resize(tq * tk, T::ZERO);
        let (qm, km, vm) = (Mat::head(inputs.q, h), Mat::head(inputs.k, h), Mat::head(inputs.v, h));
        let (pm, gm) = (Mat::dense(p, tk), Mat::dense(g, dv));
        // Per block of queries: ∂P = G·Vᵀ, then ∂S (into `ds`), then ∂Q = c·∂S·K.
        for (r0, r1, keys) in s.query_blocks() {
            // SAFETY: rows `r0..r1` of G and the first `keys` rows of V are readable (`check`,
            // and G is this head's dense block); the product writes the first `keys` columns
            // of rows `r0..r1` of `ds` (row stride `tk`).
            unsafe { product(r1 - r0, dv, keys, gm.at(r0, 0), vm.t(), ds[r0 * tk..].as_mut_ptr(), tk) };
            for i in r0..r1 {
                let (dp, pr) = (&mut ds[i * tk..(i + 1) * tk], &p[i * tk..(i + 1) * tk]);
                vectorized(
                    #[inline(always)]
                    || softmax_grad_row(&mut dp[..keys], &pr[..keys], c),
                );
                dp[keys..].fill(T::ZERO);
            }
            // SAFETY: as above for `ds` and K; the output rows `r0..r1` are this head's.
            unsafe {
                let dq_rows = gq[r0 * d..].as_mut_ptr() as *mut T;
                product(r1 - r0, keys, d, Mat::dense(ds, tk).at(r0, 0), km, dq_rows, d);
            }
        }
        // Per block of keys, over the queries that see them: ∂V = Pᵀ·G and ∂K = c·∂Sᵀ·Q.
        let dsm = Mat::dense(ds, tk);
        for (j0, j1, from) in s.key_blocks() {
            let (dk_rows, dv_rows) = (&mut gk[j0 * d..j1 * d], &mut gv[j0 * dv..j1 * dv]);
            if from == tq {
                dk_rows.iter_mut().chain(dv_rows.iter_mut()).for_each(|x| x.set(T::ZERO));
                continue;
            }
            let n = tq - from;
            // SAFETY: columns `j0..j1` of rows `from..tq` of P and ∂S, and those rows of G and
            // Q, are readable; the outputs are these keys' rows of this head's ∂V and ∂K.
            unsafe {
                product(j1 - j0, n, dv, pm.at(from, j0).t(), gm.at(from, 0), dv_rows.as_mut_ptr() as *mut T, dv);
                product(j1 - j0, n, d, dsm.at(from, j0).t(), qm.at(from, 0), dk_rows.as_mut_ptr() as *mut T, d);
            }
        }
    };
    if s.macs() < PAR_MIN_MACS {
        let mut ds = Vec::new();
        let blocks = dq.chunks_mut(tq * d).zip(dk.chunks_mut(tk * d)).zip(dv_out.chunks_mut(tk * dv));
        blocks.enumerate().for_each(|(h, ((a, b), c))| head(h, (a, b, c), &mut ds));
    } else {
        dq.par_chunks_mut(tq * d)
            .zip(dk.par_chunks_mut(tk * d))
            .zip(dv_out.par_chunks_mut(tk * dv))
            .enumerate()
            .for_each_init(Vec::new, |ds, (h, ((a, b), c))| head(h, (a, b, c), ds));
    }
}

/// One row of the softmax rule, in place: `dp ← c·p ⊙ (dp − Σ dp ⊙ p)`.
#[inline(always)]
fn softmax_grad_row<T: Float>(dp: &mut [T], p: &[T], c: T) {
    let dot = row_sum(dp, p, |a, b| a * b);
    for (x, &pv) in dp.iter_mut().zip(p) {
        *x = c * pv * (*x - dot);
    }
}
