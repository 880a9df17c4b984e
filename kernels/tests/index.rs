//! Property tests for the indexing kernels: `index_select` and its adjoint `index_add` along one
//! axis of a dense `[outer, n, inner]` buffer, and `gather` and its adjoint `scatter_add`
//! (`torch.gather` / `torch.scatter_add`), against loops over explicit coordinates. Indices
//! repeat freely, so the adjoints must add up every contribution.

mod common;

use common::{gamma, numel, unit_roundoff, Rng, U64};
use ferrograd_kernels::index::{gather, index_add, index_select, scatter_add};
use ferrograd_kernels::Float;
use proptest::prelude::*;

/// `(outer, n, inner, idx)` with every index below `n`; the index list may be empty and usually
/// repeats entries.
fn axis_case() -> impl Strategy<Value = (usize, usize, usize, Vec<usize>, u64)> {
    (1..5usize, 1..8usize, 0..6usize, 0..12usize).prop_flat_map(|(outer, n, inner, k)| {
        (Just(outer), Just(n), Just(inner), prop::collection::vec(0..n, k), any::<u64>())
    })
}

/// A source shape of rank 1–3, a dimension, and an index tensor whose shape fits inside the
/// source on every other dimension (any length along `dim`), with its values below
/// `src_shape[dim]`.
fn gather_case() -> impl Strategy<Value = (Vec<usize>, usize, Vec<usize>, Vec<usize>, u64)> {
    prop::collection::vec(1..6usize, 1..=3)
        .prop_flat_map(|src| {
            let rank = src.len();
            let idx_shape: Vec<BoxedStrategy<usize>> = src.iter().map(|&d| (1..=d).boxed()).collect::<Vec<_>>();
            (Just(src), 0..rank, idx_shape, 1..7usize)
        })
        .prop_flat_map(|(src, dim, mut idx_shape, along)| {
            idx_shape[dim] = along;
            let n = numel(&idx_shape);
            (Just(src.clone()), Just(dim), Just(idx_shape), prop::collection::vec(0..src[dim], n), any::<u64>())
        })
}

/// Coordinates of flat position `p` in a row-major `shape`.
fn coords(mut p: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = p % shape[d];
        p /= shape[d];
    }
    c
}

/// Row-major flat position of `c` in `shape`.
fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i)
}

/// Checks accumulated sums: `got[i]` against `want[i]` where the sum had `count[i]` terms of
/// total magnitude `scale[i]` (the starting value included). Adding `count` terms in any order
/// is within γ_count·Σ|terms| (Higham §4.2) in `T`, and the f64 reference within the same at
/// f64 precision.
fn check_sums<T: Float>(
    what: &str,
    got: &[T],
    want: &[f64],
    count: &[usize],
    scale: &[f64],
) -> Result<(), TestCaseError> {
    for i in 0..got.len() {
        let tol = (gamma(count[i], unit_roundoff::<T>()) + gamma(count[i], U64)) * scale[i];
        let g = got[i].to_f64();
        prop_assert!((g - want[i]).abs() <= tol, "{}: {what}: dst[{i}] = {g}, want {} (tol {tol:e})", T::NAME, want[i]);
    }
    Ok(())
}

fn check_index_add<T: Float>(
    outer: usize,
    n: usize,
    inner: usize,
    idx: &[usize],
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut dst: Vec<T> = common::uniform(seed, outer * n * inner, -3.0, 3.0);
    let src: Vec<T> = common::uniform(!seed, outer * idx.len() * inner, -3.0, 3.0);
    let mut want = common::to_f64(&dst);
    let mut scale: Vec<f64> = want.iter().map(|v| v.abs()).collect();
    let mut count = vec![0usize; want.len()];
    for o in 0..outer {
        for (j, &i) in idx.iter().enumerate() {
            for k in 0..inner {
                let (to, from) = ((o * n + i) * inner + k, (o * idx.len() + j) * inner + k);
                let v = src[from].to_f64();
                want[to] += v;
                scale[to] += v.abs();
                count[to] += 1;
            }
        }
    }
    index_add(&mut dst, outer, n, inner, idx, &src);
    check_sums(&format!("index_add over [{outer}, {n}, {inner}] with {idx:?}"), &dst, &want, &count, &scale)
}

fn check_scatter_add<T: Float>(
    shape: &[usize],
    dim: usize,
    idx_shape: &[usize],
    idx: &[usize],
    seed: u64,
) -> Result<(), TestCaseError> {
    let mut dst: Vec<T> = common::uniform(seed, numel(shape), -3.0, 3.0);
    let src: Vec<T> = common::uniform(!seed, idx.len(), -3.0, 3.0);
    let mut want = common::to_f64(&dst);
    let mut scale: Vec<f64> = want.iter().map(|v| v.abs()).collect();
    let mut count = vec![0usize; want.len()];
    for (p, &i) in idx.iter().enumerate() {
        let mut c = coords(p, idx_shape);
        c[dim] = i;
        let to = flat(&c, shape);
        let v = src[p].to_f64();
        want[to] += v;
        scale[to] += v.abs();
        count[to] += 1;
    }
    scatter_add(&mut dst, shape, dim, idx, idx_shape, &src);
    check_sums(
        &format!("scatter_add into {shape:?} along {dim} with {idx_shape:?} {idx:?}"),
        &dst,
        &want,
        &count,
        &scale,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A pure copy: checked exactly, on integers (any `T: Copy`) and floats.
    #[test]
    fn index_select_copies_the_indexed_slices((outer, n, inner, idx, seed) in axis_case()) {
        let src: Vec<f64> = common::uniform(seed, outer * n * inner, -3.0, 3.0);
        let src_i: Vec<i64> = (0..src.len() as i64).collect();
        let mut out = vec![f64::NAN; outer * idx.len() * inner];
        let mut out_i = vec![-1i64; out.len()];
        index_select(&src, outer, n, inner, &idx, &mut out);
        index_select(&src_i, outer, n, inner, &idx, &mut out_i);
        for o in 0..outer {
            for (j, &i) in idx.iter().enumerate() {
                for k in 0..inner {
                    let (at, from) = ((o * idx.len() + j) * inner + k, (o * n + i) * inner + k);
                    prop_assert_eq!(out[at], src[from], "out[{}, {}, {}]", o, j, k);
                    prop_assert_eq!(out_i[at], src_i[from]);
                }
            }
        }
    }

    #[test]
    fn index_add_accumulates_into_the_indexed_slices((outer, n, inner, idx, seed) in axis_case()) {
        check_index_add::<f32>(outer, n, inner, &idx, seed)?;
        check_index_add::<f64>(outer, n, inner, &idx, seed)?;
    }

    #[test]
    fn gather_reads_the_indexed_coordinate((shape, dim, idx_shape, idx, seed) in gather_case()) {
        let src: Vec<f32> = common::uniform(seed, numel(&shape), -3.0, 3.0);
        let mut out = vec![f32::NAN; idx.len()];
        gather(&src, &shape, dim, &idx, &idx_shape, &mut out);
        for (p, &i) in idx.iter().enumerate() {
            let mut c = coords(p, &idx_shape);
            c[dim] = i;
            prop_assert_eq!(out[p], src[flat(&c, &shape)], "position {:?} of index shape {:?}", coords(p, &idx_shape), idx_shape);
        }
    }

    #[test]
    fn scatter_add_accumulates_into_the_indexed_coordinate((shape, dim, idx_shape, idx, seed) in gather_case()) {
        check_scatter_add::<f32>(&shape, dim, &idx_shape, &idx, seed)?;
        check_scatter_add::<f64>(&shape, dim, &idx_shape, &idx, seed)?;
    }
}

/// `scatter_add` is the adjoint of `gather`: ⟨gather(x), y⟩ = ⟨x, scatter_add(0, y)⟩ for all x, y
/// (checked here with small integers, where both sides are exact).
#[test]
fn scatter_add_is_the_adjoint_of_gather() {
    let mut rng = Rng::new(7);
    let (shape, dim, idx_shape) = ([3usize, 4, 2], 1, [3usize, 5, 2]);
    let idx: Vec<usize> = (0..numel(&idx_shape)).map(|_| rng.below(shape[dim])).collect();
    let x: Vec<f64> = (0..numel(&shape)).map(|_| rng.below(9) as f64 - 4.0).collect();
    let y: Vec<f64> = (0..idx.len()).map(|_| rng.below(9) as f64 - 4.0).collect();
    let mut gx = vec![0.0; idx.len()];
    gather(&x, &shape, dim, &idx, &idx_shape, &mut gx);
    let mut sy = vec![0.0; x.len()];
    scatter_add(&mut sy, &shape, dim, &idx, &idx_shape, &y);
    let lhs: f64 = gx.iter().zip(&y).map(|(a, b)| a * b).sum();
    let rhs: f64 = x.iter().zip(&sy).map(|(a, b)| a * b).sum();
    assert_eq!(lhs, rhs);
}

/// An index past the axis is a caller bug: it must panic, never touch memory out of bounds.
#[test]
#[should_panic(expected = "index out of range")]
fn index_select_rejects_an_out_of_range_index() {
    let mut out = [0.0f32; 2];
    index_select(&[1.0f32, 2.0, 3.0], 1, 3, 1, &[0, 3], &mut out);
}
