//! Layers: [`Linear`], [`Conv2d`], pooling, [`Flatten`], [`Dropout`], activations, and
//! [`Sequential`] to chain them.

mod activation;
mod conv;
mod dropout;
mod linear;
mod norm;
mod sequential;

pub use activation::{Gelu, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use conv::{AvgPool2d, Conv2d, ConvTranspose2d, Flatten, MaxPool2d};
pub use dropout::Dropout;
pub use linear::Linear;
pub use norm::{BatchNorm, LayerNorm};
pub use sequential::Sequential;
