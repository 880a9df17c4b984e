//! Layers: `Linear` shapes, initialisation and values; `Sequential` naming and composition;
//! activation modules.

mod common;

use common::*;
use ferrograd_autograd::{DType, Error, Rng, Tensor, Var};
use ferrograd_models::layers::{Gelu, LeakyRelu, Linear, Relu, Sequential, Sigmoid, Softplus, Tanh};
use ferrograd_models::Module;
use proptest::prelude::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn linear_shapes_init_bounds_and_values(
        lead in prop::collection::vec(1usize..=4, 1..=3), fan_in in 1usize..=5, fan_out in 1usize..=5,
        bias in any::<bool>(), dt in float_dtype(), seed in any::<u64>()
    ) {
        let mut rng = Rng::new(seed);
        let layer = Linear::new(fan_in, fan_out, bias, dt, &mut rng).unwrap();
        prop_assert_eq!(layer.weight.shape(), vec![fan_out, fan_in]);
        prop_assert_eq!(layer.in_features(), fan_in);
        prop_assert_eq!(layer.out_features(), fan_out);
        prop_assert_eq!(layer.weight.dtype(), dt);
        prop_assert!(layer.weight.requires_grad());
        // PyTorch's default: U(−1/√in, 1/√in) for weight and bias (bound rounded to the dtype).
        let bound = 1.0 / (fan_in as f64).sqrt();
        let b_dt = if dt == DType::F32 { bound as f32 as f64 } else { bound };
        let w = vals(&layer.weight.value());
        prop_assert!(w.iter().all(|v| v.abs() <= b_dt), "weights {:?} beyond ±{}", w, bound);
        let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
        if bias {
            let b = layer.bias.as_ref().unwrap();
            prop_assert_eq!(b.shape(), vec![fan_out]);
            prop_assert!(vals(&b.value()).iter().all(|v| v.abs() <= b_dt));
            prop_assert_eq!(names, vec!["weight".to_string(), "bias".to_string()]);
            prop_assert_eq!(layer.num_parameters(), fan_out * fan_in + fan_out);
        } else {
            prop_assert!(layer.bias.is_none());
            prop_assert_eq!(names, vec!["weight".to_string()]);
            prop_assert_eq!(layer.num_parameters(), fan_out * fan_in);
        }

        // Forward on [.., in] gives [.., out] = x·Wᵀ + b, checked against a naive loop.
        let mut xs = lead.clone();
        xs.push(fan_in);
        let x = rng.normal_tensor(&xs, 0.0, 1.0, dt).unwrap();
        let y = layer.forward(&Var::constant(x.clone())).unwrap();
        let mut ys = lead.clone();
        ys.push(fan_out);
        prop_assert_eq!(y.shape(), ys.clone());
        let (xv, bv) = (vals(&x), layer.bias.as_ref().map(|b| vals(&b.value())));
        let rows: usize = lead.iter().product();
        let (mut want, mut tol) = (Vec::new(), Vec::new());
        for r in 0..rows {
            for o in 0..fan_out {
                let mut acc = bv.as_ref().map_or(0.0, |b| b[o]);
                let mut abs = acc.abs();
                for i in 0..fan_in {
                    let t = xv[r * fan_in + i] * w[o * fan_in + i];
                    acc += t;
                    abs += t.abs();
                }
                want.push(acc);
                // A (k+1)-term sum of products (k products and the bias): within
                // (k+1)·eps·Σ|terms| (the dot-product bound γ_{k+1}), plus the f64 reference's
                // own (k+1)·eps64·Σ|terms|.
                tol.push((fan_in + 1) as f64 * (eps(dt) + f64::EPSILON) * abs);
            }
        }
        let got = vals(&y.value());
        for j in 0..want.len() {
            prop_assert!((got[j] - want[j]).abs() <= tol[j], "y[{}] = {}, want {} ± {}", j, got[j], want[j], tol[j]);
        }
    }
}

#[test]
fn linear_gradients_are_sums_of_inputs() {
    // L = Σ y with y = x·Wᵀ + b: ∂L/∂W[o][i] = Σ_r x[r][i], ∂L/∂b[o] = rows.
    let mut rng = Rng::new(4);
    let layer = Linear::new(3, 2, true, DType::F64, &mut rng).unwrap();
    let x = rng.normal_tensor(&[5, 3], 0.0, 1.0, DType::F64).unwrap();
    layer.forward(&Var::constant(x.clone())).unwrap().sum_all().unwrap().backward().unwrap();
    let col_sums = vals(&x.sum([0], false).unwrap());
    let gw = vals(&layer.weight.grad().unwrap());
    for o in 0..2 {
        for i in 0..3 {
            // Two 5-term sums in f64, possibly in different orders: 2·5·eps·Σ|x|.
            let tol = 10.0 * f64::EPSILON * vals(&x.abs().unwrap().sum([0], false).unwrap())[i];
            assert!((gw[o * 3 + i] - col_sums[i]).abs() <= tol, "dW[{o}][{i}]");
        }
    }
    assert_eq!(vals(&layer.bias.as_ref().unwrap().grad().unwrap()), vec![5.0, 5.0]);
    layer.zero_grad();
    assert!(layer.weight.grad().is_none() && layer.bias.as_ref().unwrap().grad().is_none());
}

#[test]
fn linear_rejects_wrong_input_width() {
    let layer = Linear::new(3, 2, true, DType::F32, &mut Rng::new(0)).unwrap();
    let e = layer.forward(&Var::constant(Tensor::ones(&[4, 5], DType::F32))).unwrap_err();
    match &e {
        Error::ShapeMismatch { op, shapes, .. } => {
            assert_eq!(*op, "Linear");
            assert_eq!(shapes, &vec![vec![4, 5], vec![2, 3]]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert!(e.to_string().starts_with("Linear: [4, 5], [2, 3]: "), "{e}");
    assert!(layer.forward(&Var::constant(Tensor::ones(&[], DType::F32))).is_err());
}

#[test]
fn sequential_names_parameters_by_index_and_composes() {
    let mut rng = Rng::new(11);
    let (l0, l2) = (
        Linear::new(3, 4, true, DType::F64, &mut rng).unwrap(),
        Linear::new(4, 2, true, DType::F64, &mut rng).unwrap(),
    );
    let (w0, w2) = (l0.weight.clone(), l2.weight.clone());
    let net = Sequential::new().add(l0).add(Relu).add(l2).add(Tanh);
    assert_eq!(net.len(), 4);
    assert!(!net.is_empty() && Sequential::new().is_empty());
    let named = net.named_parameters();
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
    // The named parameters are the layers' own Vars (same nodes), not copies.
    assert_eq!(named[0].1.id(), w0.id());
    assert_eq!(named[2].1.id(), w2.id());
    assert_eq!(net.num_parameters(), 3 * 4 + 4 + 4 * 2 + 2);
    assert_eq!(net.parameters().len(), 4);

    // Forward = the layers applied in order.
    let x = Var::constant(rng.normal_tensor(&[5, 3], 0.0, 1.0, DType::F64).unwrap());
    let h = x.matmul(&w0.t().unwrap()).unwrap().add(&named[1].1).unwrap().relu().unwrap();
    let want = h.matmul(&w2.t().unwrap()).unwrap().add(&named[3].1).unwrap().tanh().unwrap();
    assert_eq!(vals(&net.forward(&x).unwrap().value()), vals(&want.value()));

    // zero_grad clears every parameter's gradient.
    net.forward(&x).unwrap().sum_all().unwrap().backward().unwrap();
    assert!(net.parameters().iter().all(|p| p.grad().is_some()));
    net.zero_grad();
    assert!(net.parameters().iter().all(|p| p.grad().is_none()));

    // Nested chains prefix the names again, as PyTorch does.
    let inner = Sequential::new().add(Linear::new(2, 2, false, DType::F32, &mut rng).unwrap());
    let outer = Sequential::new().add(Relu).add(inner);
    let names: Vec<String> = outer.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["1.0.weight"]);
}

#[test]
fn activation_modules_match_formulas_and_have_no_parameters() {
    let xs = [-3.0, -0.5, 0.25, 2.0];
    let x = Var::constant(Tensor::from_vec(xs.to_vec(), &[4]).unwrap());
    type Case = (&'static str, Box<dyn Module>, fn(f64) -> f64);
    let phi = |v: f64| 0.5 * (1.0 + erf(v / std::f64::consts::SQRT_2));
    let cases: Vec<Case> = vec![
        ("relu", Box::new(Relu), |v| v.max(0.0)),
        ("sigmoid", Box::new(Sigmoid), |v| 1.0 / (1.0 + (-v).exp())),
        ("tanh", Box::new(Tanh), f64::tanh),
        ("softplus", Box::new(Softplus), |v| (1.0 + v.exp()).ln()),
        ("leaky_relu", Box::new(LeakyRelu::default()), |v| if v > 0.0 { v } else { 0.01 * v }),
    ];
    for (name, m, f) in cases {
        assert!(m.named_parameters().is_empty(), "{name}");
        assert_eq!(m.num_parameters(), 0);
        let got = vals(&m.forward(&x).unwrap().value());
        for (g, &v) in got.iter().zip(&xs) {
            // f64 evaluations of the same function by different formulas: a few ulp apart.
            assert!((g - f(v)).abs() <= 8.0 * f64::EPSILON * f(v).abs().max(1.0), "{name}({v}) = {g}");
        }
    }
    let got = vals(&Gelu.forward(&x).unwrap().value());
    for (g, &v) in got.iter().zip(&xs) {
        // The reference erf below is accurate to 1.5e-7 (Abramowitz & Stegun 7.1.26), times |x|.
        assert!((g - v * phi(v)).abs() <= 1.5e-7 * v.abs() + 1e-15, "gelu({v}) = {g}");
    }
    assert_eq!(vals(&LeakyRelu(0.5).forward(&x).unwrap().value()), vec![-1.5, -0.25, 0.25, 2.0]);
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7): an independent reference.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

#[test]
fn linear_accepts_a_single_vector() {
    // [in] → [out], as torch.nn.Linear.
    let layer = Linear::new(3, 2, true, DType::F64, &mut Rng::new(8)).unwrap();
    let x = Tensor::from_vec(vec![1.0, -2.0, 0.5], &[3]).unwrap();
    let y = layer.forward(&Var::constant(x.clone())).unwrap();
    assert_eq!(y.shape(), vec![2]);
    let batched = layer.forward(&Var::constant(x.reshape(&[1, 3]).unwrap())).unwrap();
    assert_eq!(vals(&y.value()), vals(&batched.value()));
    // An empty Sequential is the identity.
    assert_eq!(vals(&Sequential::new().forward(&Var::constant(x.clone())).unwrap().value()), vals(&x));
}
