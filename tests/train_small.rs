//! End to end: a small MLP learns a slice of real MNIST in a few seconds. The full 5-epoch run
//! (≥ 97.5%) is the `mnist_mlp` example; this only proves the pieces fit and learning happens.

use ferrograd::models::data::mnist::{self, Split};
use ferrograd::models::data::{DataLoader, TensorDataset};
use ferrograd::models::layers::{Linear, Relu, Sequential};
use ferrograd::models::loss::cross_entropy;
use ferrograd::models::metrics::accuracy;
use ferrograd::models::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use ferrograd::{no_grad, DType, Module, Rng, Var};
use std::path::Path;

fn data() -> (TensorDataset, TensorDataset) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let test = mnist::load(&dir, Split::Test).unwrap();
    // 8,000 test images to train on and the other 2,000 to evaluate: fast to load and decode.
    let (a, b) = test.split(0.2, 0).unwrap();
    (a, b)
}

fn train(opt: &mut dyn Optimizer, model: &Sequential, train: &TensorDataset, epochs: usize) {
    let mut loader = DataLoader::new(train.clone(), 64, true, true, 1).unwrap();
    for _ in 0..epochs {
        for batch in loader.epoch() {
            let (x, y) = batch.unwrap();
            let loss = cross_entropy(&model.forward(&Var::constant(x)).unwrap(), &y).unwrap();
            opt.zero_grad();
            loss.backward().unwrap();
            opt.step().unwrap();
        }
    }
}

fn model(seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new()
        .add(Linear::new(784, 64, true, DType::F32, &mut rng).unwrap())
        .add(Relu)
        .add(Linear::new(64, 10, true, DType::F32, &mut rng).unwrap())
}

fn eval(model: &Sequential, data: &TensorDataset) -> f64 {
    no_grad(|| accuracy(&model.forward(&Var::constant(data.inputs.clone())).unwrap().value(), &data.targets).unwrap())
}

#[test]
fn adam_learns_mnist_digits() {
    let (tr, te) = data();
    let m = model(0);
    let before = eval(&m, &te);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
    train(&mut opt, &m, &tr, 2);
    let after = eval(&m, &te);
    // Chance is 10%; two epochs over 8k digits reliably give > 90% on held-out ones.
    assert!(before < 0.3 && after > 0.9, "accuracy {before} -> {after}");
}

#[test]
fn sgd_with_momentum_learns_mnist_digits() {
    let (tr, te) = data();
    let m = model(1);
    let cfg = SgdConfig { lr: 0.05, momentum: 0.9, nesterov: true, ..Default::default() };
    let mut opt = Sgd::new(m.parameters(), cfg).unwrap();
    train(&mut opt, &m, &tr, 2);
    let after = eval(&m, &te);
    assert!(after > 0.9, "accuracy {after}");
}

#[test]
fn training_is_reproducible_from_the_seed() {
    let (tr, te) = data();
    let run = || {
        let m = model(3);
        let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
        train(&mut opt, &m, &tr, 1);
        m.parameters()[0].value().to_vec::<f32>().unwrap()
    };
    let _ = te;
    assert_eq!(run(), run());
}
