//! Scaled dot-product attention fused per head: scores, softmax and mixing in one pass over each
//! head's matrices, and the hand-derived backward pass (see `cpu.rs` for the formulas).

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{attention_backward, attention_forward, AttentionInputs, AttentionSizes};
