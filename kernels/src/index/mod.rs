//! Indexing: `index_select` / `index_add` along one axis, and `gather` / `scatter_add`.
//!
//! Indices arrive already checked (in range, non-negative) and converted to `usize` by the
//! tensor layer, which reports a bad index as a typed error naming the op. The kernels assert
//! the same bounds again so that a bug can never become an out-of-bounds access.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{gather, index_add, index_select, scatter_add};
