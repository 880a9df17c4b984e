//! Helpers shared by the models tests.

#![allow(dead_code)]

use ferrograd_autograd::{DType, Tensor};
use proptest::prelude::*;

/// 32 random cases per property; no regression files.
pub fn config() -> ProptestConfig {
    ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() }
}

/// A tensor's values as `f64`, in row-major order.
pub fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Machine epsilon of a float dtype.
pub fn eps(dt: DType) -> f64 {
    if dt == DType::F32 {
        f32::EPSILON as f64
    } else {
        f64::EPSILON
    }
}

/// Either float dtype.
pub fn float_dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F64)]
}
