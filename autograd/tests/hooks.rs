//! Gradient hooks: inspecting, replacing and removing.

use ferrograd_autograd::{DType, Rng, Tensor, Var};
use std::cell::RefCell;
use std::rc::Rc;

fn random(shape: &[usize], seed: u64) -> Tensor {
    Rng::new(seed).uniform_tensor(shape, -1.0, 1.0, DType::F64).unwrap()
}

#[test]
fn a_hook_sees_the_complete_gradient_of_an_intermediate() {
    // h is used twice; the hook runs once, on the sum of both contributions.
    let x = Var::parameter(random(&[3, 2], 1));
    let h = x.tanh().unwrap();
    h.retain_grad();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let _handle = h
        .register_hook(move |g| {
            log.borrow_mut().push(g.value());
            Ok(None)
        })
        .unwrap();
    let loss = h.mul(&h).unwrap().sum_all().unwrap().add(&h.sum_all().unwrap()).unwrap();
    loss.backward().unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].to_vec::<f64>().unwrap(), h.grad().unwrap().to_vec::<f64>().unwrap());
}

#[test]
fn a_hook_can_replace_the_gradient_for_everything_upstream() {
    let x = Var::parameter(random(&[4], 2));
    let w = Var::parameter(random(&[4], 3));
    let h = x.mul(&w).unwrap();
    let _h = h.register_hook(|g| Ok(Some(g.mul_scalar(3.0)?))).unwrap();
    h.sum_all().unwrap().backward().unwrap();
    // Without the hook ∂/∂x Σ x·w = w; the tripled gradient flows on into x.
    let expected: Vec<f64> = w.value().to_vec::<f64>().unwrap().iter().map(|v| 3.0 * v).collect();
    assert_eq!(x.grad().unwrap().to_vec::<f64>().unwrap(), expected);
    // A hook on a leaf changes what is stored in its .grad.
    let y = Var::parameter(random(&[2], 4));
    let _y = y.register_hook(|g| Ok(Some(g.clamp(-0.5, 0.5)?))).unwrap();
    y.mul_scalar(10.0).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(y.grad().unwrap().to_vec::<f64>().unwrap(), vec![0.5, 0.5]);
}

#[test]
fn removed_hooks_do_not_run_and_bad_hooks_are_errors() {
    let x = Var::parameter(random(&[2], 5));
    let calls = Rc::new(RefCell::new(0));
    let count = calls.clone();
    let handle = x
        .register_hook(move |_| {
            *count.borrow_mut() += 1;
            Ok(None)
        })
        .unwrap();
    x.sum_all().unwrap().backward().unwrap();
    handle.remove();
    x.sum_all().unwrap().backward().unwrap();
    assert_eq!(*calls.borrow(), 1);

    let _bad = x.register_hook(|_| Ok(Some(Var::constant(Tensor::zeros(&[3], DType::F64))))).unwrap();
    let err = x.sum_all().unwrap().backward().unwrap_err();
    assert!(err.to_string().contains("another shape"), "{err}");

    let c = Var::constant(random(&[2], 6));
    assert!(c.register_hook(|_| Ok(None)).is_err());
}
