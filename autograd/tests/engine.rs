//! The semantics of the backward pass: accumulation, zero_grad, no_grad, detach, retain_grad,
//! grad() leaving .grad alone, shared sub-expressions, deep graphs, and double backward.

use ferrograd_autograd::{grad, no_grad, Tensor, Var};

fn vec1(v: &[f64]) -> Var {
    Var::parameter(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

fn values(t: Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

#[test]
fn repeated_backward_accumulates_and_zero_grad_clears() {
    let x = vec1(&[1.0, 2.0]);
    let y = x.mul(&x).unwrap().sum_all().unwrap();
    let one = Tensor::scalar(1.0f64);
    y.backward_with(&one, false, true).unwrap(); // keep the graph for a second pass
    y.backward().unwrap(); // ... which frees it
    assert_eq!(values(x.grad().unwrap()), vec![4.0, 8.0]); // 2 · 2x
    x.zero_grad();
    assert!(x.grad().is_none());
    // A third pass through the freed graph is an error naming the op, not a silent zero.
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("sum") && e.contains("retain_graph"), "{e}");
}

#[test]
fn backward_frees_saved_inputs_so_parameters_are_no_longer_shared() {
    let w = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0], &[2, 2]).unwrap());
    let y = w.t().unwrap().mul_scalar(2.0).unwrap().sum_all().unwrap();
    // Before backward, the graph holds the transposed view of w (it shares w's buffer).
    let view = &y.inputs()[0].inputs()[0].inputs()[0];
    assert!(view.value().shares_storage(&w.value()));
    y.backward().unwrap();
    assert!(y.inputs().is_empty(), "the graph below y was freed");
    assert_eq!(values(w.grad().unwrap()), vec![2.0; 4]);
}

#[test]
fn shared_subexpression_sums_both_paths() {
    // y = x·x + x  ⇒ dy/dx = 2x + 1, with x used three times.
    let x = vec1(&[3.0]);
    let y = x.mul(&x).unwrap().add(&x).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    assert_eq!(values(x.grad().unwrap()), vec![7.0]);
}

#[test]
fn no_grad_records_nothing_and_detach_stops_gradients() {
    let x = vec1(&[1.0, 2.0]);
    let y = no_grad(|| x.exp().unwrap());
    assert!(!y.requires_grad() && y.is_leaf());
    let z = x.detach().mul(&x).unwrap().sum_all().unwrap(); // d/dx (c·x) = c
    z.backward().unwrap();
    assert_eq!(values(x.grad().unwrap()), vec![1.0, 2.0]);
}

#[test]
fn intermediate_gradients_only_when_retained() {
    let x = vec1(&[1.0, 2.0]);
    let h = x.mul_scalar(3.0).unwrap();
    let k = h.exp().unwrap();
    h.retain_grad();
    k.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(h.grad().unwrap()), values(k.value()));
    assert!(k.grad().is_none());
}

#[test]
fn grad_returns_gradients_without_touching_dot_grad() {
    let x = vec1(&[1.0, 2.0]);
    let unused = vec1(&[5.0]);
    let y = x.powf(3.0).unwrap().sum_all().unwrap();
    let one = Var::constant(Tensor::scalar(1.0f64));
    let g = grad(&[&y], &[&x, &unused], &[&one], false).unwrap();
    assert_eq!(values(g[0].as_ref().unwrap().value()), vec![3.0, 12.0]);
    assert!(g[1].is_none());
    assert!(x.grad().is_none());
}

#[test]
fn hessian_vector_product() {
    // f = Σ x³: ∇f = 3x², H = diag(6x), so H·v = 6x·v.
    let x = vec1(&[1.0, -2.0, 0.5]);
    let v = Var::constant(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]).unwrap());
    let f = x.powf(3.0).unwrap().sum_all().unwrap();
    let one = Var::constant(Tensor::scalar(1.0f64));
    let g = grad(&[&f], &[&x], &[&one], true).unwrap()[0].clone().unwrap();
    assert!(g.requires_grad(), "create_graph gives a differentiable gradient");
    let gv = g.mul(&v).unwrap().sum_all().unwrap();
    let hv = grad(&[&gv], &[&x], &[&one], false).unwrap()[0].clone().unwrap();
    assert_eq!(values(hv.value()), vec![6.0, -24.0, 9.0]);
}

#[test]
fn backward_with_create_graph_stores_differentiable_grads() {
    let x = vec1(&[2.0]);
    let y = x.powf(3.0).unwrap().sum_all().unwrap();
    y.backward_with(&Tensor::scalar(1.0f64), true, false).unwrap();
    let g = x.grad_var().unwrap(); // 3x²
    assert!(g.requires_grad());
    let one = Var::constant(Tensor::scalar(1.0f64));
    let second = grad(&[&g.sum_all().unwrap()], &[&x], &[&one], false).unwrap();
    assert_eq!(values(second[0].as_ref().unwrap().value()), vec![12.0]); // 6x
}

#[test]
fn very_deep_graph_does_not_overflow_the_stack() {
    let x = vec1(&[0.5]);
    let mut h = x.clone();
    for _ in 0..20_000 {
        h = h.mul_scalar(1.0).unwrap().add_scalar(0.0).unwrap();
    }
    h.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(x.grad().unwrap()), vec![1.0]);
}

#[test]
fn backward_needs_a_scalar_and_matching_seed_shape() {
    let x = vec1(&[1.0, 2.0]);
    let y = x.exp().unwrap();
    let e = y.backward().unwrap_err().to_string();
    assert!(e.contains("backward") && e.contains("[2]"), "{e}");
    let e = y.backward_with(&Tensor::ones(&[3], ferrograd_autograd::DType::F64), false, false).unwrap_err();
    assert!(e.to_string().contains("[2], [3]"), "{e}");
}

#[test]
fn broadcast_gradients_are_summed_back_to_the_input_shape() {
    // y = Σ (a[2,3] + b[3]) ⇒ ∂b = 2 for every entry (it was used by both rows).
    let a = Var::parameter(Tensor::ones(&[2, 3], ferrograd_autograd::DType::F64));
    let b = vec1(&[1.0, 2.0, 3.0]);
    a.add(&b).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(values(b.grad().unwrap()), vec![2.0, 2.0, 2.0]);
    assert_eq!(a.grad().unwrap().shape(), &[2, 3]);
}

#[test]
fn gradcheck_catches_a_wrong_rule() {
    // A deliberately wrong "gradient": stop the gradient through half of the expression.
    let x = Tensor::from_vec(vec![0.3f64, -0.7], &[2]).unwrap();
    let wrong = |v: &[Var]| v[0].mul(&v[0].detach());
    let r = ferrograd_autograd::gradcheck("x·x with a detached factor", wrong, &[x], Default::default()).unwrap();
    assert!(!r.passed, "{r}");
}

#[test]
fn modifying_an_input_in_place_before_backward_is_an_error() {
    // Rules read their inputs' current values: changing w after the forward pass would make
    // ∂(w·x)/∂x = w silently wrong, so backward refuses (as PyTorch does).
    let w = vec1(&[2.0]);
    let x = vec1(&[3.0]);
    let loss = w.mul(&x).unwrap().sum_all().unwrap();
    w.set_value(Tensor::from_vec(vec![10.0f64], &[1]).unwrap()).unwrap();
    let e = loss.backward().unwrap_err().to_string();
    assert!(e.contains("mul") && e.contains("modified in place"), "{e}");
}

#[test]
fn backward_from_an_output_without_a_graph_is_an_error() {
    let c = Var::constant(Tensor::from_vec(vec![1.0f64, 2.0], &[2]).unwrap());
    let loss = c.mul(&c).unwrap().sum_all().unwrap();
    assert!(loss.backward().unwrap_err().to_string().contains("does not require a gradient"));
}

#[test]
fn pow_gradients_at_zero_are_zero_not_nan() {
    // d/dx x^0 = 0 everywhere (the formula 0·x^-1 is NaN at x = 0).
    let x = vec1(&[0.0, 2.0]);
    x.powf(0.0).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(values(x.grad().unwrap()), vec![0.0, 0.0]);
    // d/db a^b = a^b·ln a, taken as 0 at a = 0 (the formula is 0·(−∞)).
    let a = vec1(&[0.0, 2.0]);
    let b = vec1(&[2.0, 3.0]);
    a.pow(&b).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(values(a.grad().unwrap()), vec![0.0, 12.0]); // b·a^(b−1)
    let gb = values(b.grad().unwrap());
    assert_eq!(gb[0], 0.0);
    assert!((gb[1] - 8.0 * 2f64.ln()).abs() < 1e-12);
}

#[test]
fn softmax_of_a_scalar() {
    let x = Var::parameter(Tensor::scalar(3.0f64));
    let y = x.softmax(-1).unwrap();
    assert_eq!(y.value().item().unwrap(), 1.0);
    assert!(x.softmax(1).is_err());
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().item().unwrap(), 0.0);
}
