//! The MNIST convolutional classifier of the `mnist_cnn` example.

use crate::layers::{Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential};
use ferrograd_autograd::{DType, Result, Rng, Window};

/// Conv(1→32, 3×3) + ReLU + MaxPool 2 → Conv(32→64, 3×3) + ReLU + MaxPool 2 → Flatten →
/// Dense(1600→`hidden`) + ReLU + Dropout(`dropout`) → Dense(`hidden`→10), on `[N, 1, 28, 28]`
/// standardised images; outputs class logits `[N, 10]`. ~99.3% test accuracy after 5 epochs.
pub fn mnist_cnn(hidden: usize, dropout: f64, dropout_seed: u64, rng: &mut Rng) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(Conv2d::new(1, 32, [3, 3], Window::default(), 1, true, DType::F32, rng)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, [3, 3], Window::default(), 1, true, DType::F32, rng)?)
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(Linear::new(1600, hidden, true, DType::F32, rng)?)
        .add(Relu)
        .add(Dropout::new(dropout, dropout_seed)?)
        .add(Linear::new(hidden, 10, true, DType::F32, rng)?))
}
