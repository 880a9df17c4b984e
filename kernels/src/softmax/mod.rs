//! Softmax and log-softmax along the last axis of dense rows.

mod cpu;

pub use cpu::softmax_rows;
