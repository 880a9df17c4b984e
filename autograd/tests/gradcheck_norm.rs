//! Normalisation: values against a naive reference, gradcheck + gradgradcheck over random shapes.

mod common;

use common::*;
use ferrograd_autograd::Var;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn layer_norm_values_and_gradients(lead in 1usize..=3, last in 2usize..=5, seed in any::<u64>(), affine in any::<bool>()) {
        let x = uniform(&[lead, last], seed, -2.0, 2.0);
        let y = Var::constant(x.clone()).layer_norm(&[last], None, None, 1e-5).unwrap().value().to_vec::<f64>().unwrap();
        let xv = x.to_vec::<f64>().unwrap();
        for r in 0..lead {
            let row = &xv[r * last..(r + 1) * last];
            let mean = row.iter().sum::<f64>() / last as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / last as f64;
            for (j, v) in row.iter().enumerate() {
                prop_assert!((y[r * last + j] - (v - mean) / (var + 1e-5).sqrt()).abs() < 1e-12);
            }
        }
        if affine {
            let (w, b) = (uniform(&[last], seed ^ 1, 0.5, 1.5), uniform(&[last], seed ^ 2, -1.0, 1.0));
            check("layer_norm", move |v| v[0].layer_norm(&[last], Some(&v[1]), Some(&v[2]), 1e-5), &[x, w, b], seed);
        } else {
            check("layer_norm", move |v| v[0].layer_norm(&[last], None, None, 1e-5), &[x], seed);
        }
    }

    #[test]
    fn batch_statistics_standardisation_gradients(n in 2usize..=4, c in 1usize..=3, hw in 1usize..=3, seed in any::<u64>()) {
        // Batch norm in training mode: standardise over every dim but the channel's.
        let x = uniform(&[n, c, hw, hw], seed, -2.0, 2.0);
        check("batch_norm (train)", |v| v[0].standardize(&[0, 2, 3], 1e-5), &[x], seed);
    }
}

/// The fused layer norm and its composed form reject the same bad shapes with the same typed
/// error, and an empty batch (no rows) gives an empty result rather than an error.
#[test]
fn layer_norm_shape_errors_and_empty_batches() {
    let x = Var::constant(uniform(&[2, 3], 1, -1.0, 1.0));
    let (w, b) = (Var::constant(uniform(&[3], 2, 0.5, 1.5)), Var::constant(uniform(&[3], 3, -1.0, 1.0)));
    let bad_w = Var::constant(uniform(&[2], 4, 0.5, 1.5));
    for fused in [true, false] {
        let run = |norm: &[usize], w: &Var| {
            if fused {
                x.layer_norm(norm, Some(w), Some(&b), 1e-5)
            } else {
                x.layer_norm_composed(norm, Some(w), Some(&b), 1e-5)
            }
        };
        for (norm, w) in [(&[2usize][..], &w), (&[3][..], &bad_w)] {
            let err = run(norm, w).unwrap_err().to_string();
            assert!(err.contains("layer_norm"), "fused {fused}: {err}");
        }
    }
    let empty = Var::constant(uniform(&[0, 3], 5, -1.0, 1.0));
    let y = empty.layer_norm(&[3], Some(&w), Some(&b), 1e-5).unwrap();
    assert_eq!(y.shape(), [0, 3]);
    // Rows of no values (the fused kernel needs at least one): the composed form answers.
    let no_values = Var::constant(uniform(&[2, 0], 6, -1.0, 1.0));
    let (w0, b0) = (Var::constant(uniform(&[0], 7, 0.5, 1.5)), Var::constant(uniform(&[0], 8, -1.0, 1.0)));
    let y = no_values.layer_norm(&[0], Some(&w0), Some(&b0), 1e-5).unwrap();
    assert_eq!(y.shape(), [2, 0]);
}
