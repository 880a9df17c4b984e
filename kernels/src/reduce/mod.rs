//! Reductions over one axis of a dense `[outer, len, inner]` buffer.
//!
//! The tensor layer brings any set of reduced dimensions to this form: when the reduced
//! dimensions are adjacent in a dense tensor they already are one `len` axis; otherwise it moves
//! them last and copies, so `inner = 1`.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{arg_reduce, reduce};

/// What to fold along the reduced axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// Σ
    Sum,
    /// max (NaN propagates)
    Max,
    /// min (NaN propagates)
    Min,
}

/// Which index to find along the reduced axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgReduceOp {
    /// Index of the largest value (the first one on ties, NaN counts as largest).
    ArgMax,
    /// Index of the smallest value (the first one on ties, NaN counts as smallest).
    ArgMin,
}
