//! Dimension arguments and broadcasting rules.

use crate::{Error, Result};

/// A dimension argument: a `usize` counts from the front, a negative `i32`/`i64`/`isize` from
/// the back (`-1` is the last dimension), as in PyTorch.
pub trait Dim: Copy {
    /// The dimension as an index into a shape of `rank` dimensions.
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize>;
}

fn resolve_signed(d: i64, rank: usize, op: &'static str) -> Result<usize> {
    let r = rank as i64;
    let i = if d < 0 { d + r } else { d };
    if (0..r).contains(&i) {
        Ok(i as usize)
    } else {
        Err(Error::DimOutOfRange { op, dim: d, rank })
    }
}

impl Dim for usize {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        // A usize above i64::MAX is out of range, not a negative index.
        resolve_signed(i64::try_from(self).unwrap_or(i64::MAX), rank, op)
    }
}
impl Dim for i32 {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        resolve_signed(self as i64, rank, op)
    }
}
impl Dim for i64 {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        resolve_signed(self, rank, op)
    }
}
impl Dim for isize {
    fn resolve(self, rank: usize, op: &'static str) -> Result<usize> {
        resolve_signed(self as i64, rank, op)
    }
}

/// A set of dimensions (for reductions): an array, slice or `Vec` of [`Dim`]s. Duplicates are an
/// error; an empty set means "no dimension".
pub trait Dims {
    /// The dimensions as sorted, distinct indices.
    fn resolve(&self, rank: usize, op: &'static str) -> Result<Vec<usize>>;
}

fn resolve_all<D: Dim>(ds: &[D], rank: usize, op: &'static str) -> Result<Vec<usize>> {
    let mut out = ds.iter().map(|d| d.resolve(rank, op)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::invalid(op, format!("dimension repeated in {out:?}")));
    }
    Ok(out)
}

impl<D: Dim> Dims for [D] {
    fn resolve(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        resolve_all(self, rank, op)
    }
}
impl<D: Dim, const N: usize> Dims for [D; N] {
    fn resolve(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        resolve_all(self, rank, op)
    }
}
impl<D: Dim> Dims for Vec<D> {
    fn resolve(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        resolve_all(self, rank, op)
    }
}
impl<T: Dims + ?Sized> Dims for &T {
    fn resolve(&self, rank: usize, op: &'static str) -> Result<Vec<usize>> {
        (**self).resolve(rank, op)
    }
}

/// The number of elements of `shape`, or a shape error naming `op` if it overflows `usize`.
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::shape(op, &[shape], "the number of elements overflows usize"))
}

/// The NumPy broadcast of two shapes: align from the right; each pair of sizes must be equal or
/// one of them 1.
pub fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i < rank - a.len() { 1 } else { a[i - (rank - a.len())] };
        let db = if i < rank - b.len() { 1 } else { b[i - (rank - b.len())] };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            (x, y) => {
                return Err(Error::shape(
                    op,
                    &[a, b],
                    format!("cannot broadcast: dim {i} of the result is {x} vs {y}"),
                ));
            }
        };
    }
    Ok(out)
}
