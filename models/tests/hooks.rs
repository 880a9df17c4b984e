//! Module hooks and the layer monitor built on them.

use ferrograd_autograd::{DType, Rng, Tensor, Var};
use ferrograd_models::layers::{Linear, Relu, Sequential, Tanh};
use ferrograd_models::monitor::{update_to_data_ratio, Histogram, LayerMonitor, Summary};
use ferrograd_models::Module;
use std::cell::RefCell;
use std::rc::Rc;

fn mlp(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .add(Linear::new(3, 5, true, DType::F64, rng).unwrap())
        .add(Relu)
        .add(Linear::new(5, 2, true, DType::F64, rng).unwrap())
        .add(Tanh)
}

#[test]
fn forward_and_backward_hooks_see_every_layer() {
    let mut rng = Rng::new(11);
    let model = mlp(&mut rng);
    let x = Var::constant(rng.uniform_tensor(&[4, 3], -1.0, 1.0, DType::F64).unwrap());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    model.register_forward_hook(move |i, kind, input, output| {
        log.borrow_mut().push((i, kind, input.shape(), output.clone()));
    });
    let grads = Rc::new(RefCell::new(Vec::new()));
    let glog = grads.clone();
    model.register_backward_hook(move |i, kind, g| glog.borrow_mut().push((i, kind, g.value())));

    let y = model.forward(&x).unwrap();
    let seen = seen.borrow();
    let kinds: Vec<(usize, &str, Vec<usize>)> = seen.iter().map(|(i, k, s, _)| (*i, *k, s.clone())).collect();
    assert_eq!(
        kinds,
        [(0, "Linear", vec![4, 3]), (1, "Relu", vec![4, 5]), (2, "Linear", vec![4, 5]), (3, "Tanh", vec![4, 2])]
    );
    assert_eq!(seen[3].3.value().to_vec::<f64>().unwrap(), y.value().to_vec::<f64>().unwrap());

    // loss = Σ y²: ∂L/∂y = 2y (the last layer's output gradient), and ∂L/∂(pre-tanh) = 2y(1 − y²).
    y.mul(&y).unwrap().sum_all().unwrap().backward().unwrap();
    let grads = grads.borrow();
    let order: Vec<usize> = grads.iter().map(|(i, _, _)| *i).collect();
    assert_eq!(order, [3, 2, 1, 0], "backward visits the last layer first");
    let yv = y.value().to_vec::<f64>().unwrap();
    let g3 = grads[0].2.to_vec::<f64>().unwrap();
    let g2 = grads[1].2.to_vec::<f64>().unwrap();
    for k in 0..yv.len() {
        assert!((g3[k] - 2.0 * yv[k]).abs() < 1e-12);
        assert!((g2[k] - 2.0 * yv[k] * (1.0 - yv[k] * yv[k])).abs() < 1e-12);
    }
    // Cleared hooks no longer run.
    model.clear_hooks();
    model.forward(&x).unwrap();
    assert_eq!(seen.len(), 4);
}

#[test]
fn histograms_and_summaries_count_every_value() {
    let values = [-1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 1.0, f64::NAN];
    let h = Histogram::of(&values, 4);
    assert_eq!((h.lo, h.hi), (-1.0, 1.0));
    assert_eq!(h.counts, vec![1, 1, 2, 3]); // [-1,-.5) [-.5,0) [0,.5) [.5,1]
    let t = Tensor::from_vec(values.to_vec(), &[8]).unwrap();
    let s = Summary::of(&t, 4).unwrap();
    assert_eq!(s.non_finite, 1);
    assert_eq!(s.frac_zero, 2.0 / 8.0);
    assert!((s.mean - 1.0 / 7.0).abs() < 1e-12);
    assert_eq!(h.render(10).lines().count(), 4);
}

#[test]
fn layer_monitor_records_activations_gradients_and_the_update_ratio() {
    let mut rng = Rng::new(12);
    let model = mlp(&mut rng);
    let monitor = LayerMonitor::attach(&model, 8);
    let x = Var::constant(rng.uniform_tensor(&[16, 3], -1.0, 1.0, DType::F64).unwrap());
    let y = model.forward(&x).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    let acts = monitor.activations();
    assert_eq!(acts.iter().map(|r| r.kind).collect::<Vec<_>>(), ["Linear", "Relu", "Linear", "Tanh"]);
    assert!(acts.iter().all(|r| r.summary.histogram.counts.iter().sum::<usize>() == 16 * r.summary.shape[1]));
    assert!(acts[1].summary.min >= 0.0, "ReLU outputs are non-negative");
    assert_eq!(monitor.gradients().len(), 4);

    let w = model.parameters()[0].clone();
    let before = w.value();
    let after = before.add(&before.mul_scalar(0.01).unwrap()).unwrap();
    let ratio = update_to_data_ratio(&before, &after).unwrap();
    assert!((ratio - 0.01).abs() < 1e-12, "{ratio}");
    monitor.clear();
    assert!(monitor.activations().is_empty());
}
