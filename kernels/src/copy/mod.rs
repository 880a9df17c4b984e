//! Strided layouts and the copy kernel that turns a strided view into a dense buffer.
//!
//! Every op that reads a view (a transpose, a slice, a broadcast) goes through the helpers here:
//! [`coalesce`] merges dimensions that are laid out back to back, so that the innermost loop is
//! as long as possible, and [`RowWalker`] steps through the outer dimensions one row at a time,
//! giving each operand's offset, so that the inner loop is a plain strided loop LLVM vectorises.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{copy_into, copy_strided};

/// A read-only strided view of a buffer: element `[i0, i1, …]` is
/// `data[offset + i0*strides[0] + i1*strides[1] + …]`. A stride of 0 repeats (broadcasts) a
/// dimension.
#[derive(Clone, Copy, Debug)]
pub struct Strided<'a, T> {
    /// The whole underlying buffer.
    pub data: &'a [T],
    /// Offset of element `[0, 0, …]`.
    pub offset: usize,
    /// One stride per dimension of the shape the view is read with.
    pub strides: &'a [usize],
}

impl<T> Strided<'_, T> {
    /// The largest index this view reads for `shape`, plus one (0 when the shape is empty;
    /// `usize::MAX` if the arithmetic overflows, which no buffer can satisfy).
    pub fn extent(&self, shape: &[usize]) -> usize {
        if shape.contains(&0) {
            return 0;
        }
        shape
            .iter()
            .zip(self.strides)
            .try_fold(self.offset.checked_add(1), |acc, (&d, &s)| Some(acc?.checked_add((d - 1).checked_mul(s)?)))
            .flatten()
            .unwrap_or(usize::MAX)
    }

    /// Panics unless every element the view addresses for `shape` lies inside `data`.
    pub fn check(&self, shape: &[usize], what: &str) {
        assert_eq!(self.strides.len(), shape.len(), "{what}: stride rank");
        assert!(self.extent(shape) <= self.data.len(), "{what}: view out of bounds");
    }
}

/// Row-major (C-order) strides of a dense tensor of `shape`.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d;
    }
    strides
}

/// Merges adjacent dimensions that every operand lays out back to back (`stride[i] ==
/// stride[i+1] * shape[i+1]`), and drops dimensions of size 1. Returns the merged shape and each
/// operand's merged strides. `[64, 128]` contiguous + `[64, 128]` contiguous becomes `[8192]`.
pub fn coalesce<const N: usize>(shape: &[usize], strides: [&[usize]; N]) -> (Vec<usize>, [Vec<usize>; N]) {
    let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
    let mut out_strides: [Vec<usize>; N] = std::array::from_fn(|_| Vec::with_capacity(shape.len()));
    for (d, &size) in shape.iter().enumerate() {
        if size == 1 {
            continue;
        }
        let mergeable =
            out_shape.last().is_some() && (0..N).all(|o| *out_strides[o].last().unwrap_or(&0) == strides[o][d] * size);
        if mergeable {
            *out_shape.last_mut().unwrap_or(&mut 0) *= size;
            for o in 0..N {
                if let Some(s) = out_strides[o].last_mut() {
                    *s = strides[o][d];
                }
            }
        } else {
            out_shape.push(size);
            for o in 0..N {
                out_strides[o].push(strides[o][d]);
            }
        }
    }
    if out_shape.is_empty() && !shape.contains(&0) {
        out_shape.push(1);
        for s in out_strides.iter_mut() {
            s.push(1);
        }
    }
    (out_shape, out_strides)
}

/// Walks the rows of a shape (all dimensions but the last) for `N` operands at once, tracking
/// each operand's offset with an odometer, so no division is needed per row.
pub struct RowWalker<'a, const N: usize> {
    outer: &'a [usize],
    strides: [&'a [usize]; N],
    index: Vec<usize>,
    offsets: [usize; N],
}

impl<'a, const N: usize> RowWalker<'a, N> {
    /// Starts at row number `row` of `shape` (rows counted in row-major order), for operands
    /// whose offsets of element `[0, …, 0]` are `base`.
    pub fn new(shape: &'a [usize], strides: [&'a [usize]; N], base: [usize; N], row: usize) -> Self {
        let outer = &shape[..shape.len().saturating_sub(1)];
        let mut index = vec![0; outer.len()];
        let mut rem = row;
        for (i, &d) in outer.iter().enumerate().rev() {
            index[i] = rem % d.max(1);
            rem /= d.max(1);
        }
        let mut offsets = base;
        for (o, off) in offsets.iter_mut().enumerate() {
            *off += index.iter().zip(strides[o]).map(|(i, s)| i * s).sum::<usize>();
        }
        RowWalker { outer, strides, index, offsets }
    }

    /// Each operand's offset of the current row's first element.
    pub fn offsets(&self) -> [usize; N] {
        self.offsets
    }

    /// Moves to the next row.
    pub fn advance(&mut self) {
        for d in (0..self.outer.len()).rev() {
            self.index[d] += 1;
            for o in 0..N {
                self.offsets[o] += self.strides[o][d];
            }
            if self.index[d] < self.outer[d] {
                return;
            }
            for o in 0..N {
                self.offsets[o] -= self.strides[o][d] * self.outer[d];
            }
            self.index[d] = 0;
        }
    }
}
