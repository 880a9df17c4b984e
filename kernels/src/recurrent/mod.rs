//! Recurrent layers over whole sequences: the Elman RNN (tanh), the LSTM and the GRU, forward and
//! backward through time.
//!
//! Each layer's input projection `x · W_ihᵀ + b` does not depend on the state, so the caller
//! computes it for every time step at once, as one large matrix product. What is left is the
//! recurrence, which these kernels run step by step: **one GEMM** (`h_{t−1} · W_hhᵀ`, all gates
//! at once), then **one fused elementwise pass** that applies the gate nonlinearities and updates
//! the state, writing the activations it will need in backward. The backward pass is derived by
//! hand (each function's doc comment gives the formulas) and runs the steps in reverse, again
//! one GEMM and one pass per step; the weight gradient `∂W_hh` is one large GEMM at the end.
//!
//! Sequences are batch-first and dense: `[batch, steps, features]`.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{gru_backward, gru_forward, lstm_backward, lstm_forward, rnn_backward, rnn_forward, Recurrence};
