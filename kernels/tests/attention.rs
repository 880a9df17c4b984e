//! The fused attention kernels against the formulas written as plain f64 loops, over random
//! sizes, scales, causal and full attention, and operands in three memory layouts (dense,
//! transposed, and heads interleaved as in `[B, T, H, d]` projections); one case large enough
//! for the parallel path.

mod common;

use common::{close, gamma, to_f64, uniform, unit_roundoff, Rng, U64};
use ferrograd_kernels::attention::{attention_backward, attention_forward, AttentionInputs, AttentionSizes};
use ferrograd_kernels::matmul::MatrixLayout;
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// An operand of `batch` matrices `rows × cols` in a buffer, read through `layout`.
struct Operand<T> {
    data: Vec<T>,
    layout: MatrixLayout,
}

impl<T: Float> Operand<T> {
    /// Random values in [−1, 1) stored in layout `kind`: 0 dense, 1 each matrix transposed
    /// (column-major), 2 heads interleaved (`[B, rows, H, cols]` with `H = batch` and one
    /// unused head of padding, so the row stride exceeds the matrix width).
    fn random(kind: usize, batch: usize, rows: usize, cols: usize, seed: u64) -> Operand<T> {
        let (len, layout) = match kind {
            0 => (
                batch * rows * cols,
                MatrixLayout {
                    offsets: (0..batch).map(|b| b * rows * cols).collect(),
                    row_stride: cols,
                    col_stride: 1,
                },
            ),
            1 => (
                batch * rows * cols,
                MatrixLayout {
                    offsets: (0..batch).map(|b| b * rows * cols).collect(),
                    row_stride: 1,
                    col_stride: rows,
                },
            ),
            _ => (
                rows * (batch + 1) * cols,
                MatrixLayout {
                    offsets: (0..batch).map(|b| b * cols).collect(),
                    row_stride: (batch + 1) * cols,
                    col_stride: 1,
                },
            ),
        };
        Operand { data: uniform(seed, len, -1.0, 1.0), layout }
    }

    /// Element `[r, c]` of matrix `b`, in f64.
    fn at(&self, b: usize, r: usize, c: usize) -> f64 {
        self.data[self.layout.offsets[b] + r * self.layout.row_stride + c * self.layout.col_stride].to_f64()
    }
}

/// The reference in f64 for one head, with the scale of each result for the error bounds.
struct Reference {
    p: Vec<f64>,
    out: Vec<f64>,
    dq: Vec<f64>,
    dk: Vec<f64>,
    dv: Vec<f64>,
}

/// The per-element error bounds: `tol_*[i] = bound(u)`, first order in the unit roundoff `u`.
///
/// With `A_ij = Σ_l |q_il k_jl|`, the exponent `c·s_ij − m` of row `i` is off by at most
/// `δ_ij = c·γ_{d+2}·A_ij + γ_3·(|c·s_ij| + |c·s_ij − m|) + γ_5` relative to its `exp` (the
/// product, the scale, the subtraction, then `exp` itself within 2 ulp). `p = e/Σe` is then off
/// by `ε_i = 2·max_j δ_ij + γ_{tk+2}` relative. Each later product adds a `γ_n` over its
/// length, applied to the sum of the absolute values of its terms:
/// - `o = P·V`: `(ε_i + γ_tk)·Σ_j p_ij|v_jl|`;
/// - `∂V = Pᵀ·G`: `(ε + γ_tq)·Σ_i p_ij|g_il|`;
/// - `∂S_ij = c·p_ij·(∂P_ij − Σ_j ∂P_ij p_ij)` with `∂P = G·Vᵀ`: `(ε_i + γ_{dv+tk+4})·B_ij` with
///   `B_ij = c·p_ij·(Σ_l|g_il v_jl| + Σ_j' p_ij' Σ_l|g_il v_j'l|)`;
/// - `∂Q = ∂S·K` and `∂K = ∂Sᵀ·Q`: `(ε + γ_{dv+tk+4} + γ_t)·Σ B|k|` and `Σ B|q|`.
struct Bounds {
    p: Vec<f64>,
    out: Vec<f64>,
    dq: Vec<f64>,
    dk: Vec<f64>,
    dv: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn reference<T: Float>(
    s: &AttentionSizes,
    q: &Operand<T>,
    k: &Operand<T>,
    v: &Operand<T>,
    g: &[f64],
    u: f64,
) -> (Reference, Bounds) {
    let AttentionSizes { batch, tq, tk, d, dv, scale: c, causal } = *s;
    let visible = |i: usize| if causal { (i + tk.saturating_sub(tq) + 1).min(tk) } else { tk };
    let mut r = Reference {
        p: vec![0.0; batch * tq * tk],
        out: vec![0.0; batch * tq * dv],
        dq: vec![0.0; batch * tq * d],
        dk: vec![0.0; batch * tk * d],
        dv: vec![0.0; batch * tk * dv],
    };
    let mut b = Bounds { p: r.p.clone(), out: r.out.clone(), dq: r.dq.clone(), dk: r.dk.clone(), dv: r.dv.clone() };
    for h in 0..batch {
        let mut eps = vec![0.0; tq];
        let mut big_b = vec![0.0; tq * tk];
        let mut dsv = vec![0.0; tq * tk];
        for i in 0..tq {
            let vis = visible(i);
            let scores: Vec<f64> =
                (0..vis).map(|j| c * (0..d).map(|l| q.at(h, i, l) * k.at(h, j, l)).sum::<f64>()).collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
            let total: f64 = e.iter().sum();
            let mut worst = 0.0f64;
            for j in 0..vis {
                let a: f64 = (0..d).map(|l| (q.at(h, i, l) * k.at(h, j, l)).abs()).sum();
                let delta =
                    c * gamma(d + 2, u) * a + gamma(3, u) * (scores[j].abs() + (scores[j] - m).abs()) + gamma(5, u);
                worst = worst.max(delta);
                r.p[(h * tq + i) * tk + j] = e[j] / total;
            }
            eps[i] = 2.0 * worst + gamma(tk + 2, u);
            let p = |j: usize| r.p[(h * tq + i) * tk + j];
            for j in 0..tk {
                b.p[(h * tq + i) * tk + j] = eps[i] * p(j);
            }
            for l in 0..dv {
                r.out[(h * tq + i) * dv + l] = (0..tk).map(|j| p(j) * v.at(h, j, l)).sum();
                b.out[(h * tq + i) * dv + l] =
                    (eps[i] + gamma(tk, u)) * (0..tk).map(|j| p(j) * v.at(h, j, l).abs()).sum::<f64>();
            }
            // Backward through the softmax row.
            let gi = |l: usize| g[(h * tq + i) * dv + l];
            let dp: Vec<f64> = (0..tk).map(|j| (0..dv).map(|l| gi(l) * v.at(h, j, l)).sum()).collect();
            let dp_abs: Vec<f64> = (0..tk).map(|j| (0..dv).map(|l| (gi(l) * v.at(h, j, l)).abs()).sum()).collect();
            let dot: f64 = (0..tk).map(|j| dp[j] * p(j)).sum();
            let dot_abs: f64 = (0..tk).map(|j| dp_abs[j] * p(j)).sum();
            for j in 0..tk {
                dsv[i * tk + j] = c * p(j) * (dp[j] - dot);
                big_b[i * tk + j] = c * p(j) * (dp_abs[j] + dot_abs);
            }
        }
        let inner = |t: usize| gamma(dv + tk + 4, u) + gamma(t, u);
        for i in 0..tq {
            for l in 0..d {
                let at = (h * tq + i) * d + l;
                r.dq[at] = (0..tk).map(|j| dsv[i * tk + j] * k.at(h, j, l)).sum();
                b.dq[at] = (eps[i] + inner(tk)) * (0..tk).map(|j| big_b[i * tk + j] * k.at(h, j, l).abs()).sum::<f64>();
            }
        }
        let eps_max = eps.iter().cloned().fold(0.0, f64::max);
        for j in 0..tk {
            for l in 0..d {
                let at = (h * tk + j) * d + l;
                r.dk[at] = (0..tq).map(|i| dsv[i * tk + j] * q.at(h, i, l)).sum();
                b.dk[at] =
                    (eps_max + inner(tq)) * (0..tq).map(|i| big_b[i * tk + j] * q.at(h, i, l).abs()).sum::<f64>();
            }
            for l in 0..dv {
                let at = (h * tk + j) * dv + l;
                let p = |i: usize| r.p[(h * tq + i) * tk + j];
                r.dv[at] = (0..tq).map(|i| p(i) * g[(h * tq + i) * dv + l]).sum();
                b.dv[at] =
                    (eps_max + gamma(tq, u)) * (0..tq).map(|i| p(i) * g[(h * tq + i) * dv + l].abs()).sum::<f64>();
            }
        }
    }
    (r, b)
}

fn compare(name: &str, got: &[f64], want: &[f64], tol_t: &[f64], tol_64: &[f64]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = tol_t[i] + tol_64[i];
        prop_assert!(close(g, w, tol), "{}[{}] = {:e}, want {:e} (tol {:e})", name, i, g, w, tol);
    }
    Ok(())
}

fn check<T: Float>(s: AttentionSizes, kinds: [usize; 3], seed: u64) -> Result<(), TestCaseError> {
    let q = Operand::<T>::random(kinds[0], s.batch, s.tq, s.d, seed);
    let k = Operand::<T>::random(kinds[1], s.batch, s.tk, s.d, seed + 1);
    let v = Operand::<T>::random(kinds[2], s.batch, s.tk, s.dv, seed + 2);
    let g: Vec<T> = uniform(seed + 3, s.batch * s.tq * s.dv, -1.0, 1.0);
    let nan = T::from_f64(f64::NAN);
    let (mut out, mut p) = (vec![nan; s.batch * s.tq * s.dv], vec![nan; s.batch * s.tq * s.tk]);
    let inputs = AttentionInputs { q: (&q.data, &q.layout), k: (&k.data, &k.layout), v: (&v.data, &v.layout) };
    attention_forward(&s, &inputs, &mut out, &mut p);
    let (mut dq, mut dk, mut dv) =
        (vec![nan; s.batch * s.tq * s.d], vec![nan; s.batch * s.tk * s.d], vec![nan; s.batch * s.tk * s.dv]);
    attention_backward(&s, &inputs, &p, &g, &mut dq, &mut dk, &mut dv);
    let gf = to_f64(&g);
    let (want, tol) = reference(&s, &q, &k, &v, &gf, unit_roundoff::<T>());
    let (_, tol64) = reference(&s, &q, &k, &v, &gf, U64);
    compare("p", &to_f64(&p), &want.p, &tol.p, &tol64.p)?;
    compare("out", &to_f64(&out), &want.out, &tol.out, &tol64.out)?;
    compare("dq", &to_f64(&dq), &want.dq, &tol.dq, &tol64.dq)?;
    compare("dk", &to_f64(&dk), &want.dk, &tol.dk, &tol64.dk)?;
    compare("dv", &to_f64(&dv), &want.dv, &tol.dv, &tol64.dv)?;
    // Hidden keys get exactly zero weight.
    for h in 0..s.batch {
        for i in 0..s.tq {
            let vis = if s.causal { (i + s.tk.saturating_sub(s.tq) + 1).min(s.tk) } else { s.tk };
            for j in vis..s.tk {
                prop_assert_eq!(p[(h * s.tq + i) * s.tk + j].to_f64(), 0.0);
            }
        }
    }
    Ok(())
}

fn sizes() -> impl Strategy<Value = AttentionSizes> {
    // Up to 80 queries and keys: causal heads work in blocks of 32 rows, so this covers one
    // block, several, and ragged last blocks, with more keys than queries and fewer.
    let len = || prop_oneof![1..20usize, 20..80usize];
    (
        1..4usize,
        len(),
        len(),
        1..12usize,
        1..12usize,
        any::<bool>(),
        prop_oneof![Just(None), (0.1..2.0f64).prop_map(Some)],
    )
        .prop_map(|(batch, tq, tk, d, dv, causal, scale)| AttentionSizes {
            batch,
            tq,
            tk,
            d,
            dv,
            scale: scale.unwrap_or(1.0 / (d as f64).sqrt()),
            causal,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn attention_matches_the_formulas(s in sizes(), kinds in [0..3usize, 0..3usize, 0..3usize], seed in any::<u64>()) {
        check::<f32>(s, kinds, seed)?;
        check::<f64>(s, kinds, seed)?;
    }
}

/// Enough multiply-adds (20·70·70·64 ≈ 6.3M) for the heads to split over threads.
#[test]
fn attention_parallel_path() {
    let mut rng = Rng::new(7);
    for causal in [false, true] {
        let s = AttentionSizes { batch: 20, tq: 70, tk: 70, d: 33, dv: 31, scale: 0.17, causal };
        let kinds = [rng.below(3), rng.below(3), rng.below(3)];
        check::<f32>(s, kinds, rng.next_u64()).unwrap();
    }
}
