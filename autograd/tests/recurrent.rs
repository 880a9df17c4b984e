//! The fused recurrences (RNN, LSTM, GRU) against their unfused forms, built from elementary
//! ops: values and every input's gradient agree in f32 over random sizes, directions and inputs.
//! Plus a closed-form LSTM step, gradchecks of the fused ops, embeddings and shape errors.

use ferrograd_autograd::{gradcheck, DType, Error, GradcheckOptions, Rng, Tensor, Var};
use proptest::prelude::*;

/// f32 agreement between two computations of the same values (different summation orders in
/// the GEMMs, `exp`/`tanh` kernels vs. the fused pass): rounding of a few dozen f32 operations
/// is ~1e-6 relative, so 1e-5 (relative above 1) leaves a margin while catching any wrong term.
const F32_TOL: f64 = 1e-5;

fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_dtype(DType::F64).unwrap(), want.to_dtype(DType::F64).unwrap());
    for (i, (a, b)) in g.to_vec::<f64>().unwrap().iter().zip(w.to_vec::<f64>().unwrap()).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: fused {a} vs unfused {b}");
    }
}

/// Which recurrence to test.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Rnn,
    Lstm,
    Gru,
}

impl Kind {
    fn gates(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Lstm => 4,
            Kind::Gru => 3,
        }
    }

    /// Random inputs `[xproj, w_hh, (b_hh), h0, (c0)]`.
    fn inputs(self, b: usize, s: usize, h: usize, dtype: DType, rng: &mut Rng) -> Vec<Tensor> {
        let g = self.gates();
        let mut t = |shape: &[usize], scale: f64| rng.uniform_tensor(shape, -scale, scale, dtype).unwrap();
        let (x, w, h0) = (t(&[b, s, g * h], 1.5), t(&[g * h, h], 0.8), t(&[b, h], 1.0));
        match self {
            Kind::Rnn => vec![x, w, h0],
            Kind::Lstm => vec![x, w, h0, t(&[b, h], 1.0)],
            Kind::Gru => vec![x, w, t(&[g * h], 0.5), h0],
        }
    }

    fn run(self, v: &[Var], fused: bool, reverse: bool) -> ferrograd_autograd::Result<Var> {
        match (self, fused) {
            (Kind::Rnn, true) => v[0].rnn_sequence(&v[1], &v[2], reverse),
            (Kind::Rnn, false) => v[0].rnn_sequence_unfused(&v[1], &v[2], reverse),
            (Kind::Lstm, true) => v[0].lstm_sequence(&v[1], &v[2], &v[3], reverse),
            (Kind::Lstm, false) => v[0].lstm_sequence_unfused(&v[1], &v[2], &v[3], reverse),
            (Kind::Gru, true) => v[0].gru_sequence(&v[1], &v[2], &v[3], reverse),
            (Kind::Gru, false) => v[0].gru_sequence_unfused(&v[1], &v[2], &v[3], reverse),
        }
    }
}

/// Output and input gradients of `Σ weights · f(inputs)` (random weights, so that every output
/// element, including the LSTM's cell states, gets a distinct gradient).
fn value_and_grads(
    kind: Kind,
    inputs: &[Tensor],
    weights: &Tensor,
    fused: bool,
    reverse: bool,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let y = kind.run(&vars, fused, reverse).unwrap();
    y.mul(&Var::constant(weights.clone())).unwrap().sum_all().unwrap().backward().unwrap();
    (y.value(), vars.iter().map(|v| v.grad().unwrap()).collect())
}

fn fused_matches_unfused(kind: Kind, b: usize, s: usize, h: usize, reverse: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let inputs = kind.inputs(b, s, h, DType::F32, &mut rng);
    let out_shape = if matches!(kind, Kind::Lstm) { vec![2, b, s, h] } else { vec![b, s, h] };
    let weights = rng.uniform_tensor(&out_shape, -1.0, 1.0, DType::F32).unwrap();
    let (y1, g1) = value_and_grads(kind, &inputs, &weights, true, reverse);
    let (y2, g2) = value_and_grads(kind, &inputs, &weights, false, reverse);
    assert_close(&y1, &y2, F32_TOL, &format!("{kind:?} output"));
    for (i, (a, b)) in g1.iter().zip(&g2).enumerate() {
        assert_close(a, b, F32_TOL, &format!("{kind:?} ∂input{i}"));
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fused_lstm_matches_unfused(b in 1usize..5, s in 1usize..7, h in 1usize..10, reverse: bool, seed: u64) {
        fused_matches_unfused(Kind::Lstm, b, s, h, reverse, seed);
    }

    #[test]
    fn fused_gru_matches_unfused(b in 1usize..5, s in 1usize..7, h in 1usize..10, reverse: bool, seed: u64) {
        fused_matches_unfused(Kind::Gru, b, s, h, reverse, seed);
    }

    #[test]
    fn fused_rnn_matches_unfused(b in 1usize..5, s in 1usize..7, h in 1usize..10, reverse: bool, seed: u64) {
        fused_matches_unfused(Kind::Rnn, b, s, h, reverse, seed);
    }

    /// Central finite differences in f64 on the fused ops themselves (PyTorch's tolerances).
    #[test]
    fn fused_ops_pass_gradcheck(b in 1usize..3, s in 1usize..4, h in 1usize..4, reverse: bool, seed: u64) {
        let mut rng = Rng::new(seed);
        for kind in [Kind::Rnn, Kind::Lstm, Kind::Gru] {
            let inputs = kind.inputs(b, s, h, DType::F64, &mut rng);
            let report = gradcheck("recurrence", |v: &[Var]| kind.run(v, true, reverse), &inputs, GradcheckOptions::default()).unwrap();
            prop_assert!(report.passed, "{kind:?}: {report}");
        }
    }
}

/// Long sequences at a realistic width, once: errors must not build up over 60 steps.
#[test]
fn fused_matches_unfused_over_long_sequences() {
    fused_matches_unfused(Kind::Lstm, 3, 60, 32, false, 7);
    fused_matches_unfused(Kind::Gru, 3, 60, 32, true, 8);
}

/// Batches large enough to be split over threads (each thread runs the time loop for its share
/// of the sequences), with an odd batch so that the shares differ.
#[test]
fn fused_matches_unfused_when_the_batch_is_split_over_threads() {
    for (kind, reverse) in [(Kind::Lstm, false), (Kind::Lstm, true), (Kind::Gru, false), (Kind::Rnn, true)] {
        fused_matches_unfused(kind, 37, 5, 6, reverse, 11);
    }
}

/// Batches and widths at which each thread's per-step products go to the few-rows AVX-512
/// GEMM (8 to 32 sequences per thread, gate widths that end in a ragged 16-lane tail: 4·37 =
/// 148 columns = three 48-column panels and a masked tail of 4).
#[test]
fn fused_matches_unfused_at_the_few_rows_kernels_sizes() {
    for (kind, b, h) in [(Kind::Lstm, 24, 37), (Kind::Gru, 12, 40), (Kind::Rnn, 16, 50), (Kind::Lstm, 64, 16)] {
        fused_matches_unfused(kind, b, 4, h, false, 13);
    }
}

/// Without a graph (`no_grad`) the fused LSTM keeps no gates for backward; its states must be
/// the same, bit for bit, as with the graph.
#[test]
fn the_lstm_without_a_graph_gives_the_same_states() {
    let mut rng = Rng::new(17);
    let inputs = Kind::Lstm.inputs(20, 5, 24, DType::F32, &mut rng);
    let vars: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let with_graph = Kind::Lstm.run(&vars, true, false).unwrap();
    let without = ferrograd_autograd::no_grad(|| Kind::Lstm.run(&vars, true, false)).unwrap();
    assert!(with_graph.requires_grad() && !without.requires_grad());
    assert_eq!(with_graph.value().to_vec::<f32>().unwrap(), without.value().to_vec::<f32>().unwrap());
}

/// One LSTM step with `W_hh = 0`, written out with scalar formulas.
#[test]
fn an_lstm_step_has_the_closed_form() {
    let a = [0.3f64, -1.2, 0.7, 2.0]; // pre-activations i, f, g, o (H = 1)
    let c0 = 0.5;
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let c = sig(a[1]) * c0 + sig(a[0]) * a[2].tanh();
    let h = sig(a[3]) * c.tanh();
    let x = Var::constant(Tensor::from_vec(a.to_vec(), &[1, 1, 4]).unwrap());
    let w = Var::constant(Tensor::zeros(&[4, 1], DType::F64));
    let h0 = Var::constant(Tensor::zeros(&[1, 1], DType::F64));
    let c0v = Var::constant(Tensor::from_vec(vec![c0], &[1, 1]).unwrap());
    let y = x.lstm_sequence(&w, &h0, &c0v, false).unwrap().value().to_vec::<f64>().unwrap();
    assert!((y[0] - h).abs() < 1e-15 && (y[1] - c).abs() < 1e-15, "{y:?} vs [{h}, {c}]");
}

#[test]
fn bad_shapes_are_typed_errors_naming_the_op() {
    let x = Var::constant(Tensor::zeros(&[2, 3, 8], DType::F32));
    let w = Var::constant(Tensor::zeros(&[8, 3], DType::F32)); // not [4·H, H]
    let h0 = Var::constant(Tensor::zeros(&[2, 2], DType::F32));
    match x.lstm_sequence(&w, &h0, &h0, false) {
        Err(Error::ShapeMismatch { op, .. }) => assert_eq!(op, "lstm"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    let w = Var::constant(Tensor::zeros(&[8, 2], DType::F32));
    let h0_bad = Var::constant(Tensor::zeros(&[3, 2], DType::F32));
    assert!(matches!(x.lstm_sequence(&w, &h0_bad, &h0_bad, false), Err(Error::ShapeMismatch { op: "lstm", .. })));
    assert!(matches!(x.gru_sequence(&w, &h0, &h0, false), Err(Error::ShapeMismatch { op: "gru", .. })));
}

#[test]
fn embedding_rows_and_scatter_added_gradients() {
    let table = Var::parameter(Tensor::from_vec((0..8).map(|v| v as f32).collect::<Vec<_>>(), &[4, 2]).unwrap());
    let ids = Tensor::from_vec(vec![3i64, 1, 3, 0], &[2, 2]).unwrap();
    let y = table.embedding(&ids, Some(0)).unwrap();
    assert_eq!(y.shape(), [2, 2, 2]);
    assert_eq!(y.value().to_vec::<f32>().unwrap(), [6., 7., 2., 3., 6., 7., 0., 1.]);
    y.sum_all().unwrap().backward().unwrap();
    // Row 3 was looked up twice, row 1 once; row 0 is padding and gets nothing.
    assert_eq!(table.grad().unwrap().to_vec::<f32>().unwrap(), [0., 0., 1., 1., 0., 0., 2., 2.]);
    let bad = Tensor::from_vec(vec![4i64], &[1]).unwrap();
    assert!(matches!(table.embedding(&bad, None), Err(Error::IndexOutOfRange { index: 4, size: 4, .. })));
}

#[test]
fn one_hot_encodes_and_checks_range() {
    let ids = Tensor::from_vec(vec![2i64, 0], &[2]).unwrap();
    assert_eq!(ids.one_hot(3, DType::F32).unwrap().to_vec::<f32>().unwrap(), [0., 0., 1., 1., 0., 0.]);
    assert!(matches!(ids.one_hot(2, DType::F32), Err(Error::IndexOutOfRange { op: "one_hot", .. })));
}
