//! Batch normalisation over the channels of `[N, C, S]` data (`S = H·W` for images, 1 for
//! `[N, C]` features): the per-channel statistics, the normalising affine map, and its gradient
//! derived by hand.

mod cpu;

pub use cpu::{batch_norm_backward, batch_norm_forward, ChannelLayout};
