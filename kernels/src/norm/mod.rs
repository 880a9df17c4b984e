//! Normalisation, fused, with gradients derived by hand:
//! - batch norm (`cpu.rs`) over the channels of `[N, C, S]` data (`S = H·W` for images, 1 for
//!   `[N, C]` features): per-channel statistics and affine map;
//! - layer norm (`layer.rs`) over the last dims: per-row statistics, per-column affine map.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod layer;

pub use cpu::{batch_norm_backward, batch_norm_forward, ChannelLayout};
pub use layer::{layer_norm_backward, layer_norm_forward};
