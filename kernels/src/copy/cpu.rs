//! CPU strided copies.

use super::{coalesce, contiguous_strides, RowWalker, Strided};
use crate::parallel::row_blocks;
use crate::Slot;

/// Copies the view `src`, read with `shape`, into the dense row-major buffer `out`.
///
/// After [`coalesce`], a contiguous source is a single `memcpy`; otherwise rows are copied with
/// a strided inner loop, blocks of rows in parallel when large. Writes every element of `out`.
pub fn copy_strided<T: Copy + Send + Sync, O: Slot<T>>(src: Strided<'_, T>, shape: &[usize], out: &mut [O]) {
    src.check(shape, "copy_strided");
    let numel: usize = shape.iter().product();
    assert_eq!(out.len(), numel, "copy_strided: output length");
    if numel == 0 {
        return;
    }
    let dense = contiguous_strides(shape);
    let (shape, [s, _]) = coalesce(shape, [src.strides, &dense]);
    let inner = *shape.last().unwrap_or(&1);
    let inner_stride = *s.last().unwrap_or(&1);
    row_blocks(out, inner, |row0, block| {
        let mut walk = RowWalker::new(&shape, [&s], [src.offset], row0);
        for dst in block.chunks_exact_mut(inner) {
            let [off] = walk.offsets();
            if inner_stride == 1 {
                for (d, &v) in dst.iter_mut().zip(&src.data[off..off + inner]) {
                    d.set(v);
                }
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    d.set(src.data[off + j * inner_stride]);
                }
            }
            walk.advance();
        }
    });
}

/// Copies the view `src` into a strided region of `dst` (`dst_offset`, `dst_strides`), both read
/// with `shape`. Used to assemble outputs from pieces (`cat`, the backward of `narrow`). Runs on
/// one thread: strided destinations cannot be split into safe disjoint slices cheaply, and the
/// callers copy each element once.
pub fn copy_into<T: Copy>(
    src: Strided<'_, T>,
    shape: &[usize],
    dst: &mut [T],
    dst_offset: usize,
    dst_strides: &[usize],
) {
    src.check(shape, "copy_into (source)");
    Strided { data: &*dst, offset: dst_offset, strides: dst_strides }.check(shape, "copy_into (destination)");
    if shape.contains(&0) {
        return;
    }
    let (shape, [s, d]) = coalesce(shape, [src.strides, dst_strides]);
    let inner = *shape.last().unwrap_or(&1);
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let (si, di) = (*s.last().unwrap_or(&1), *d.last().unwrap_or(&1));
    let mut walk = RowWalker::new(&shape, [&s, &d], [src.offset, dst_offset], 0);
    for _ in 0..rows {
        let [so, doff] = walk.offsets();
        for j in 0..inner {
            dst[doff + j * di] = src.data[so + j * si];
        }
        walk.advance();
    }
}
