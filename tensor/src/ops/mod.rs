//! Tensor ops, one file per op family (the same names as in `ferrograd-kernels` and
//! `ferrograd-autograd`). Each op is an inherent method on [`crate::Tensor`].

mod attention;
mod conv;
mod elementwise;
mod index;
mod matmul;
mod norm;
pub mod optim;
mod pool;
mod recurrent;
mod reduce;
mod softmax;
mod view;

pub use attention::{AttentionGrads, AttentionOutput};
pub use conv::Window;
pub use norm::{check_layer_norm_shapes, BatchNormGrads, BatchNormOutput, LayerNormGrads, LayerNormOutput};
pub use recurrent::RecurrentGrads;
