//! Fused optimizer updates: one pass over a parameter, its gradient and its state.
//!
//! Written as separate tensor ops an Adam step reads and writes each buffer several times; fused
//! it is one memory-bound loop. The formulas are PyTorch's (`torch.optim.SGD`, `Adam`, `AdamW`).

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{adam_step, sgd_step, AdamParams, SgdParams};
