//! Shared helpers for the tensor behaviour tests: random inputs, naive index arithmetic, and
//! tolerance-aware comparisons.

#![allow(dead_code)]

use ferrograd_tensor::{DType, Rng, Tensor};
use proptest::prelude::*;

/// 32 cases per property (keeps the whole crate's tests well under a minute in release), and no
/// regression files written next to the sources.
pub fn config() -> ProptestConfig {
    ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() }
}

/// `f32` or `f64`.
pub fn float_dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::F32), Just(DType::F64)]
}

/// A shape of rank `min_rank..=max_rank` with dims `1..=4`.
pub fn shape(min_rank: usize, max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, min_rank..=max_rank)
}

/// Fresh standard-normal values (nonzero with probability 1) of `shape` and `dtype`.
pub fn randn(shape: &[usize], dtype: DType, seed: u64) -> Tensor {
    Rng::new(seed).normal_tensor(shape, 0.0, 1.0, dtype).unwrap()
}

/// Small positive integers `1..=k` as a float tensor: many exact ties, for comparisons and
/// argmax/argmin.
pub fn small_ints(shape: &[usize], k: u64, dtype: DType, seed: u64) -> Tensor {
    Rng::new(seed).randint(shape, k).unwrap().to_dtype(dtype).unwrap().add_scalar(1.0).unwrap()
}

/// The elements of any tensor as `f64` (exact for `f32`, `f64` and small `i64`).
pub fn vals(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().to_vec::<f64>().unwrap()
}

/// Machine epsilon of a float dtype.
pub fn eps(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f32::EPSILON as f64,
        DType::F64 => f64::EPSILON,
        DType::I64 => 0.0,
    }
}

/// Smallest positive normal number of a float dtype (absolute slack where results underflow).
pub fn tiny(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f32::MIN_POSITIVE as f64,
        _ => f64::MIN_POSITIVE,
    }
}

/// Rounds an `f64` to the dtype's precision.
pub fn round_to(v: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        _ => v,
    }
}

/// Row-major strides of `shape`.
pub fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The multi-index of row-major position `i` in `shape`.
pub fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d];
        i /= shape[d];
    }
    idx
}

/// The row-major position of multi-index `idx` in `shape`.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    assert_eq!(idx.len(), shape.len());
    idx.iter().zip(shape).fold(0, |acc, (&i, &d)| {
        assert!(i < d, "index {idx:?} outside {shape:?}");
        acc * d + i
    })
}

/// Where output multi-index `out_idx` reads from an operand of `shape` under NumPy broadcasting
/// (aligned from the right; size-1 dims read index 0), as a row-major position.
pub fn broadcast_source(out_idx: &[usize], shape: &[usize]) -> usize {
    let lead = out_idx.len() - shape.len();
    let idx: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| if d == 1 { 0 } else { out_idx[lead + i] }).collect();
    ravel(&idx, shape)
}

/// The NumPy broadcast of two shapes, computed naively (panics if they do not broadcast).
pub fn naive_broadcast(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            assert!(da == db || da == 1 || db == 1);
            da.max(db)
        })
        .collect()
}

/// A shape strategy plus two operand shapes that broadcast to (at most) it: each operand has some
/// dims set to 1 and possibly some leading dims dropped.
pub fn broadcast_shapes3() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(0, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), prop::collection::vec(any::<bool>(), r), 0..=r, prop::collection::vec(any::<bool>(), r), 0..=r)
            .prop_map(|(s, ma, da, mb, db)| {
                let make = |m: &[bool], drop: usize| -> Vec<usize> {
                    s.iter().zip(m).skip(drop).map(|(&d, &one)| if one { 1 } else { d }).collect()
                };
                (make(&ma, da), make(&mb, db))
            })
    })
}

/// Asserts `|got[i] − want[i]| ≤ tol[i]` elementwise (NaN only matches NaN; infinities must
/// match exactly), with a message naming the context and the first offending position.
pub fn assert_close(ctx: &str, got: &[f64], want: &[f64], tol: &[f64]) {
    assert_eq!(got.len(), want.len(), "{ctx}: lengths differ");
    assert_eq!(tol.len(), want.len(), "{ctx}: tolerance length");
    for i in 0..got.len() {
        let (g, w) = (got[i], want[i]);
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= tol[i]
        };
        assert!(
            ok,
            "{ctx}: element {i}: got {g:e}, want {w:e} (tolerance {:e})\n got: {got:?}\nwant: {want:?}",
            tol[i]
        );
    }
}

/// Asserts exact equality of the elements (bit-for-bit value equality, NaN matching NaN).
pub fn assert_exact(ctx: &str, got: &[f64], want: &[f64]) {
    assert_close(ctx, got, want, &vec![0.0; want.len()]);
}

/// All subsets of `0..rank`, as sorted dimension lists.
pub fn subsets(rank: usize) -> Vec<Vec<usize>> {
    (0..1usize << rank).map(|m| (0..rank).filter(|d| m >> d & 1 == 1).collect()).collect()
}
