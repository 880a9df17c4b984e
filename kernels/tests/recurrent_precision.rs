//! Medium matmul precision in the LSTM's per-step products (`h_{t−1} · W_hhᵀ` forward, `∂a · W_hh`
//! backward), in its own test binary: the switch is process-wide, so no other test may run
//! beside this one.

mod common;

use ferrograd_kernels::matmul::avx512_bf16::{self, round_to_bf16};
use ferrograd_kernels::matmul::{matmul_precision, set_matmul_precision, MatmulPrecision};
use ferrograd_kernels::recurrent::{lstm_backward, lstm_forward, Recurrence};

/// `n` fresh values in [−scale, scale).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    common::uniform(seed, n, -scale as f64, scale as f64)
}

/// One step of an LSTM forward and backward: the activated gates `[B, 4H]`, `∂a` (`dxproj`) and
/// `∂h0`.
struct Step {
    gates: Vec<f32>,
    dxproj: Vec<f32>,
    dh0: Vec<f32>,
}

/// `h · W` summed exactly (f64) over `k` terms, after mapping every input by `round`, and the
/// f32 summation bound `(k + 1)·2⁻²⁴·Σ|terms|` of computing it in f32.
fn dot(terms: impl Iterator<Item = (f32, f32)>, round: fn(f32) -> f32) -> (f64, f64) {
    let (mut sum, mut scale, mut k) = (0.0f64, 0.0f64, 0usize);
    for (x, y) in terms {
        let t = round(x) as f64 * round(y) as f64;
        sum += t;
        scale += t.abs();
        k += 1;
    }
    (sum, (k as f64 + 1.0) * f32::EPSILON as f64 / 2.0 * scale)
}

#[test]
fn medium_precision_rounds_the_lstm_step_products_to_bf16() {
    // W_hh is [2048, 512], 2^20 values: large enough to be rounded. 25 sequences: three threads
    // take 8, 8 and 9 of them (at least 8 each), so the step products have 8-row blocks and a
    // single row.
    let (b, h) = (25, 512);
    let g4 = 4 * h;
    let r = Recurrence { batch: b, steps: 1, hidden: h, reverse: false };
    let xproj = values(b * g4, 1, 1.0);
    let w = values(g4 * h, 2, 1.0 / (h as f32).sqrt());
    let (h0, c0) = (values(b * h, 3, 1.0), values(b * h, 4, 1.0));
    let upstream = values(2 * b * h, 5, 1.0);
    let step = || {
        let (mut states, mut gates) = (vec![0.0; 2 * b * h], vec![0.0; b * g4]);
        lstm_forward(r, &xproj, &w, &h0, &c0, &mut states, Some(&mut gates));
        let (mut dxproj, mut dw, mut dh0, mut dc0) =
            (vec![0.0; b * g4], vec![0.0; g4 * h], vec![0.0; b * h], vec![0.0; b * h]);
        lstm_backward(r, &w, &h0, &c0, &states, &gates, &upstream, &mut dxproj, &mut dw, &mut dh0, &mut dc0);
        Step { gates, dxproj, dh0 }
    };
    let pool = |threads| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    assert_eq!(matmul_precision(), MatmulPrecision::Highest);
    let full = step();
    set_matmul_precision(MatmulPrecision::Medium);
    let (medium, on_three) = (pool(1).install(step), pool(3).install(step));
    set_matmul_precision(MatmulPrecision::Highest);
    assert_eq!(medium.gates, on_three.gates, "the same bits on one thread as on three");
    assert_eq!(medium.dh0, on_three.dh0, "the same bits on one thread as on three");
    assert_eq!(step().gates, full.gates, "back to full precision");
    if !avx512_bf16::available() {
        eprintln!("no AVX512-BF16: medium precision must leave the recurrent products in f32");
        assert_eq!((medium.gates, medium.dh0), (full.gates, full.dh0));
        return;
    }
    let identity = |x: f32| x;
    // Each check: the kernel's value within the f32 bound of the exact product of the rounded
    // inputs (rigorous), and on average at least ten times closer to it than to the product of
    // the unrounded ones (bfloat16 keeps 8 of 24 bits: had nothing been rounded, the two
    // distances would be alike).
    let mut distance = [0.0f64; 2];
    // Forward: the g gate is tanh(a_g), a_g = xproj + h0 · W_hhᵀ; tanh has slope ≤ 1, and the
    // kernel's tanh errs by less than 1e-6.
    for bi in 0..b {
        for j in 2 * h..3 * h {
            let got = medium.gates[bi * g4 + j] as f64;
            let h_row = &h0[bi * h..][..h];
            let w_row = &w[j * h..][..h];
            for (slot, round) in [round_to_bf16 as fn(f32) -> f32, identity].into_iter().enumerate() {
                let (product, bound) = dot(h_row.iter().copied().zip(w_row.iter().copied()), round);
                let want = (xproj[bi * g4 + j] as f64 + product).tanh();
                if slot == 0 {
                    let bound = bound + 2.0 * f32::EPSILON as f64 * (xproj[bi * g4 + j].abs() as f64 + 1.0) + 1e-6;
                    assert!((got - want).abs() <= bound, "g gate ({bi}, {j}): {got} vs {want}, bound {bound}");
                }
                distance[slot] += (got - want).abs();
            }
        }
    }
    assert!(distance[0] * 10.0 < distance[1], "forward: {distance:?}");
    // Backward: ∂h0 = ∂a · W_hh, with the kernel's own ∂a (dxproj) as A.
    let mut distance = [0.0f64; 2];
    for bi in 0..b {
        for p in 0..h {
            let got = medium.dh0[bi * h + p] as f64;
            let terms = || (0..g4).map(|j| (medium.dxproj[bi * g4 + j], w[j * h + p]));
            for (slot, round) in [round_to_bf16 as fn(f32) -> f32, identity].into_iter().enumerate() {
                let (want, bound) = dot(terms(), round);
                if slot == 0 {
                    assert!((got - want).abs() <= bound + 1e-30, "∂h0 ({bi}, {p}): {got} vs {want}, bound {bound}");
                }
                distance[slot] += (got - want).abs();
            }
        }
    }
    assert!(distance[0] * 10.0 < distance[1], "backward: {distance:?}");
}
