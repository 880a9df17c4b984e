//! Layers: [`Linear`], activations, and [`Sequential`] to chain them.

mod activation;
mod linear;
mod sequential;

pub use activation::{Gelu, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use linear::Linear;
pub use sequential::Sequential;
