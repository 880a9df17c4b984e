//! Softmax and log-softmax along the last axis of dense rows.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::softmax_rows;
