//! How much precision an f32 matrix product may trade for speed, set once for the whole
//! process: PyTorch's `torch.set_float32_matmul_precision`, with the same names.

use std::sync::atomic::{AtomicU8, Ordering};

/// The precision f32 matrix products are computed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatmulPrecision {
    /// Full f32 (the default): inputs as they are, sums in f32.
    #[default]
    Highest,
    /// On CPUs with AVX512-BF16, the f32 matrix products (`matmul`, with or without bias) of at
    /// least 2^25 multiply-adds round their inputs to bfloat16 (8 significant bits) and sum the
    /// products in f32, 1.5–1.7× as fast (`matmul::avx512_bf16`); so do the per-step products
    /// of the fused recurrent layers whose `W_hh` has at least 2^18 values
    /// (`matmul::avx512_rows_bf16`). The choice is made once per product (once per pass for a
    /// recurrence), so a product split over threads is computed alike whatever their number.
    /// Smaller products, the ones inside the other fused ops (attention, convolution), f64,
    /// other CPUs and CUDA stay `Highest`. For training, never for gradient checks.
    Medium,
}

impl MatmulPrecision {
    /// The precision named `highest` or `medium` (PyTorch's names), if it is one of those.
    pub fn from_name(name: &str) -> Option<MatmulPrecision> {
        match name {
            "highest" => Some(MatmulPrecision::Highest),
            "medium" => Some(MatmulPrecision::Medium),
            _ => None,
        }
    }
}

/// The process-wide setting, as a `MatmulPrecision` discriminant.
static PRECISION: AtomicU8 = AtomicU8::new(MatmulPrecision::Highest as u8);

/// Sets the precision of every f32 matrix product from now on, on every thread.
pub fn set_matmul_precision(precision: MatmulPrecision) {
    PRECISION.store(precision as u8, Ordering::Relaxed);
}

/// The current setting (`Highest` unless [`set_matmul_precision`] changed it).
pub fn matmul_precision() -> MatmulPrecision {
    match PRECISION.load(Ordering::Relaxed) {
        x if x == MatmulPrecision::Medium as u8 => MatmulPrecision::Medium,
        _ => MatmulPrecision::Highest,
    }
}
