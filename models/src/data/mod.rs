//! Data: an in-memory [`TensorDataset`], a shuffling, batching [`DataLoader`], and the
//! [`mnist`] loader for the IDX files.

mod loader;
pub mod mnist;

pub use loader::{DataLoader, TensorDataset};
