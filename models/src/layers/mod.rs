//! Layers: [`Linear`], [`Conv2d`], pooling, [`Flatten`], [`Dropout`], activations, [`Embedding`],
//! recurrent layers ([`Recurrent`]: RNN, LSTM, GRU), attention and the [`TransformerBlock`], and
//! [`Sequential`] to chain them.

mod activation;
mod attention;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod norm;
mod recurrent;
mod sequential;
mod transformer;

pub use activation::{Gelu, LeakyRelu, Relu, Sigmoid, Softplus, Tanh};
pub use attention::{LearnedPositionalEmbedding, MultiHeadAttention, RotaryEmbedding, SinusoidalPositionalEncoding};
pub use conv::{AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, Flatten, MaxPool2d, Unflatten};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use norm::{BatchNorm, LayerNorm};
pub use recurrent::{CellKind, Recurrent, RecurrentConfig, RecurrentState};
pub use sequential::Sequential;
pub use transformer::{TransformerBlock, TransformerConfig};

use ferrograd_autograd::Var;

/// The named parameters of a layer with a weight and an optional bias (`Linear`, `Conv2d`,
/// `ConvTranspose2d`).
fn weight_and_bias(weight: &Var, bias: Option<&Var>) -> Vec<(String, Var)> {
    let mut p = vec![("weight".to_string(), weight.clone())];
    if let Some(b) = bias {
        p.push(("bias".to_string(), b.clone()));
    }
    p
}
