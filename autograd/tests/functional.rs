//! Jacobians, vector–Jacobian products, Hessians and Hessian–vector products against their
//! closed forms, in f64 on random points.

use ferrograd_autograd::functional::{hessian, hvp, jacobian, vjp};
use ferrograd_autograd::{DType, Rng, Tensor, Var};

/// Results are a few f64 operations away from the closed form: 1e-12 leaves a wide margin
/// above rounding (~1e-15 relative) while catching any wrong entry.
const TOL: f64 = 1e-12;

fn assert_close(got: &Tensor, want: &[f64], what: &str) {
    let got = got.to_vec::<f64>().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= TOL * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn jacobian_of_a_matrix_vector_product() {
    let mut rng = Rng::new(1);
    let a = rng.uniform_tensor(&[3, 4], -1.0, 1.0, DType::F64).unwrap();
    let x = rng.uniform_tensor(&[4, 1], -1.0, 1.0, DType::F64).unwrap();
    // y = A x: ∂y/∂x = A, and ∂y[i]/∂A[r, c] = δ_ir · x[c].
    let j = jacobian(|v| v[0].matmul(&v[1]), &[a.clone(), x.clone()]).unwrap();
    assert_eq!(j[0].shape(), [3, 1, 3, 4]);
    assert_eq!(j[1].shape(), [3, 1, 4, 1]);
    assert_close(&j[1], &a.to_vec::<f64>().unwrap(), "∂(Ax)/∂x");
    let xv = x.to_vec::<f64>().unwrap();
    let mut want = vec![0.0; 3 * 12];
    for i in 0..3 {
        for c in 0..4 {
            want[i * 12 + i * 4 + c] = xv[c];
        }
    }
    assert_close(&j[0], &want, "∂(Ax)/∂A");
}

#[test]
fn jacobian_of_softmax_is_diag_minus_outer_product() {
    let x = Rng::new(2).uniform_tensor(&[5], -2.0, 2.0, DType::F64).unwrap();
    let j = jacobian(|v| v[0].softmax(0), std::slice::from_ref(&x)).unwrap().remove(0);
    let xv = x.to_vec::<f64>().unwrap();
    let z: f64 = xv.iter().map(|v| v.exp()).sum();
    let s: Vec<f64> = xv.iter().map(|v| v.exp() / z).collect();
    let want: Vec<f64> =
        (0..25).map(|k| (k / 5, k % 5)).map(|(i, j)| if i == j { s[i] - s[i] * s[j] } else { -s[i] * s[j] }).collect();
    assert_close(&j, &want, "softmax Jacobian");
}

#[test]
fn vjp_is_one_row_combination_of_the_jacobian() {
    let mut rng = Rng::new(3);
    let x = rng.uniform_tensor(&[2, 3], -1.0, 1.0, DType::F64).unwrap();
    let v = rng.uniform_tensor(&[2, 3], -1.0, 1.0, DType::F64).unwrap();
    // y = tanh(x) elementwise: vᵀJ = v · (1 − tanh²x).
    let (y, g) = vjp(|v| v[0].tanh(), std::slice::from_ref(&x), &v).unwrap();
    let (xv, vv) = (x.to_vec::<f64>().unwrap(), v.to_vec::<f64>().unwrap());
    assert_close(&y, &xv.iter().map(|x| x.tanh()).collect::<Vec<_>>(), "tanh");
    let want: Vec<f64> = xv.iter().zip(&vv).map(|(x, v)| v * (1.0 - x.tanh().powi(2))).collect();
    assert_close(&g[0], &want, "vjp");
    assert!(vjp(|v| v[0].tanh(), &[x], &Tensor::zeros(&[3], DType::F64)).is_err());
}

#[test]
fn hessian_of_a_cubic_with_a_cross_term() {
    // f(x) = Σ xᵢ³ + x₀x₁ : H = diag(6x) + (e₀e₁ᵀ + e₁e₀ᵀ).
    let x = Rng::new(4).uniform_tensor(&[4], -1.0, 1.0, DType::F64).unwrap();
    let f = |x: &Var| -> ferrograd_autograd::Result<Var> {
        let cubes = x.powf(3.0)?.sum_all()?;
        let cross = x.narrow(0, 0, 1)?.mul(&x.narrow(0, 1, 1)?)?.sum_all()?;
        cubes.add(&cross)
    };
    let h = hessian(f, &x).unwrap();
    assert_eq!(h.shape(), [4, 4]);
    let xv = x.to_vec::<f64>().unwrap();
    let mut want = vec![0.0; 16];
    for i in 0..4 {
        want[i * 5] = 6.0 * xv[i];
    }
    want[1] = 1.0;
    want[4] = 1.0;
    assert_close(&h, &want, "Hessian");
}

#[test]
fn hessian_of_a_quadratic_form_is_its_matrix_and_hvp_agrees() {
    let mut rng = Rng::new(5);
    // f(x) = ½ xᵀ A x with A symmetric: H = A, and H v = A v.
    let m = rng.uniform_tensor(&[4, 4], -1.0, 1.0, DType::F64).unwrap();
    let a = m.add(&m.t().unwrap()).unwrap();
    let x = rng.uniform_tensor(&[4, 1], -1.0, 1.0, DType::F64).unwrap();
    let v = rng.uniform_tensor(&[4, 1], -1.0, 1.0, DType::F64).unwrap();
    let av = Var::constant(a.clone());
    let f = |x: &Var| x.t()?.matmul(&av)?.matmul(x)?.mul_scalar(0.5)?.sum_all();
    let h = hessian(f, &x).unwrap();
    assert_eq!(h.shape(), [4, 1, 4, 1]);
    assert_close(&h, &a.to_vec::<f64>().unwrap(), "Hessian of ½xᵀAx");
    let (y, hv) = hvp(f, &x, &v).unwrap();
    assert_close(&hv, &a.matmul(&v).unwrap().to_vec::<f64>().unwrap(), "H v");
    let xa = x.t().unwrap().matmul(&a).unwrap().matmul(&x).unwrap().to_vec::<f64>().unwrap()[0];
    assert_close(&y, &[0.5 * xa], "f(x)");
}

#[test]
fn hvp_matches_the_hessian_on_a_non_polynomial_function() {
    let mut rng = Rng::new(6);
    let x = rng.uniform_tensor(&[3, 2], -1.0, 1.0, DType::F64).unwrap();
    let v = rng.uniform_tensor(&[3, 2], -1.0, 1.0, DType::F64).unwrap();
    // f(x) = Σ tanh(x) · x² + logsumexp over all entries: dense Hessian.
    let f = |x: &Var| x.tanh()?.mul(&x.powf(2.0)?)?.sum_all()?.add(&x.reshape(&[6])?.logsumexp([0], false)?);
    let h = hessian(f, &x).unwrap().reshape(&[6, 6]).unwrap();
    let (_, hv) = hvp(f, &x, &v).unwrap();
    let want = h.matmul(&v.reshape(&[6, 1]).unwrap()).unwrap().to_vec::<f64>().unwrap();
    assert_close(&hv, &want, "H v vs H · v");
    // The Hessian is symmetric.
    assert_close(&h, &h.t().unwrap().contiguous().unwrap().to_vec::<f64>().unwrap(), "Hᵀ");
}

#[test]
fn constant_and_linear_functions_and_bad_arguments() {
    let x = Rng::new(7).uniform_tensor(&[3], -1.0, 1.0, DType::F64).unwrap();
    // Linear: zero Hessian (the gradient has no graph left to differentiate).
    let h = hessian(|x| x.mul_scalar(2.0)?.sum_all(), &x).unwrap();
    assert_close(&h, &[0.0; 9], "Hessian of a linear function");
    // An output that does not depend on the input: zero Jacobian.
    let c = Var::constant(Tensor::ones(&[2], DType::F64));
    let j = jacobian(|_| Ok(c.clone()), std::slice::from_ref(&x)).unwrap().remove(0);
    assert_eq!(j.shape(), [2, 3]);
    assert_close(&j, &[0.0; 6], "Jacobian of a constant");
    let e = hessian(|x| x.mul_scalar(2.0), &x).unwrap_err().to_string();
    assert!(e.starts_with("hessian"), "{e}");
    assert!(hvp(|x| x.sum_all(), &x, &Tensor::zeros(&[4], DType::F64)).is_err());
}

#[test]
fn a_hand_derived_gradient_compares_with_autograd() {
    use ferrograd_autograd::compare_gradient;
    let mut rng = Rng::new(8);
    // L = Σ tanh(x · W): ∂L/∂W = xᵀ · (1 − tanh²(x · W)), derived by hand.
    let x = rng.uniform_tensor(&[5, 3], -1.0, 1.0, DType::F32).unwrap();
    let w = Var::parameter(rng.uniform_tensor(&[3, 4], -1.0, 1.0, DType::F32).unwrap());
    let h = Var::constant(x.clone()).matmul(&w).unwrap().tanh().unwrap();
    h.sum_all().unwrap().backward().unwrap();
    let t = h.value();
    let local = t.mul(&t).unwrap().neg().unwrap().add_scalar(1.0).unwrap();
    let manual = x.t().unwrap().matmul(&local).unwrap();
    let c = compare_gradient("dW", &manual, &w).unwrap();
    assert!(c.approximate, "{c}");
    assert!(c.max_abs_diff < 1e-5, "{c}");
    assert!(c.to_string().starts_with("dW              | exact: "), "{c}");
    // A classic mistake: forgetting the tanh' factor.
    let wrong = x.t().unwrap().matmul(&Tensor::ones(&[5, 4], DType::F32)).unwrap();
    let c = compare_gradient("dW (no tanh')", &wrong, &w).unwrap();
    assert!(!c.exact && !c.approximate && c.max_abs_diff > 1e-3, "{c}");
    // Bad arguments.
    assert!(compare_gradient("dW", &Tensor::zeros(&[4, 3], DType::F32), &w).is_err());
    let fresh = Var::parameter(Tensor::zeros(&[2], DType::F32));
    assert!(compare_gradient("fresh", &Tensor::zeros(&[2], DType::F32), &fresh)
        .unwrap_err()
        .to_string()
        .contains("backward"));
}
