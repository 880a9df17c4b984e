//! CPU indexing kernels on dense buffers.

use crate::copy::contiguous_strides;
use crate::Float;

/// `out[o, j, :] = src[o, idx[j], :]` where `src` is a dense `[outer, n_src, inner]` buffer and
/// `out` a dense `[outer, idx.len(), inner]` one.
pub fn index_select<T: Copy>(src: &[T], outer: usize, n_src: usize, inner: usize, idx: &[usize], out: &mut [T]) {
    assert_eq!(src.len(), outer * n_src * inner, "index_select: source length");
    assert_eq!(out.len(), outer * idx.len() * inner, "index_select: output length");
    assert!(idx.iter().all(|&i| i < n_src), "index_select: index out of range");
    if inner == 0 {
        return;
    }
    for (o, out_slab) in out.chunks_exact_mut((idx.len() * inner).max(1)).enumerate().take(outer) {
        for (j, &i) in idx.iter().enumerate() {
            let from = &src[(o * n_src + i) * inner..][..inner];
            out_slab[j * inner..(j + 1) * inner].copy_from_slice(from);
        }
    }
}

/// `dst[o, idx[j], :] += src[o, j, :]`: the adjoint of [`index_select`] (repeated indices add up).
pub fn index_add<T: Float>(dst: &mut [T], outer: usize, n_dst: usize, inner: usize, idx: &[usize], src: &[T]) {
    assert_eq!(dst.len(), outer * n_dst * inner, "index_add: destination length");
    assert_eq!(src.len(), outer * idx.len() * inner, "index_add: source length");
    assert!(idx.iter().all(|&i| i < n_dst), "index_add: index out of range");
    for o in 0..outer {
        for (j, &i) in idx.iter().enumerate() {
            let from = &src[(o * idx.len() + j) * inner..][..inner];
            let to = &mut dst[(o * n_dst + i) * inner..][..inner];
            for (t, &f) in to.iter_mut().zip(from) {
                *t += f;
            }
        }
    }
}

/// Calls `f(index_position, source_position)` for every element of a dense index tensor of
/// `idx_shape`, where the source position replaces coordinate `dim` with the index's value.
fn for_each_indexed(
    src_shape: &[usize],
    dim: usize,
    idx: &[usize],
    idx_shape: &[usize],
    mut f: impl FnMut(usize, usize),
) {
    let src_strides = contiguous_strides(src_shape);
    let mut coord = vec![0usize; idx_shape.len()];
    for (p, &i) in idx.iter().enumerate() {
        let mut s = 0;
        for d in 0..coord.len() {
            s += if d == dim { i } else { coord[d] } * src_strides[d];
        }
        f(p, s);
        for d in (0..coord.len()).rev() {
            coord[d] += 1;
            if coord[d] < idx_shape[d] {
                break;
            }
            coord[d] = 0;
        }
    }
}

fn check_gather_shapes(op: &str, src_shape: &[usize], dim: usize, idx: &[usize], idx_shape: &[usize]) {
    assert_eq!(src_shape.len(), idx_shape.len(), "{op}: rank");
    assert!(dim < src_shape.len(), "{op}: dim");
    assert_eq!(idx.len(), idx_shape.iter().product::<usize>(), "{op}: index length");
    for d in 0..src_shape.len() {
        assert!(d == dim || idx_shape[d] <= src_shape[d], "{op}: index shape exceeds source");
    }
    assert!(idx.iter().all(|&i| i < src_shape[dim]), "{op}: index out of range");
}

/// `out[p] = src[p with coordinate dim replaced by idx[p]]` for every position `p` of the dense
/// index tensor (`out` has the index's shape), as `torch.gather`.
pub fn gather<T: Copy>(src: &[T], src_shape: &[usize], dim: usize, idx: &[usize], idx_shape: &[usize], out: &mut [T]) {
    check_gather_shapes("gather", src_shape, dim, idx, idx_shape);
    assert_eq!(src.len(), src_shape.iter().product::<usize>(), "gather: source length");
    assert_eq!(out.len(), idx.len(), "gather: output length");
    for_each_indexed(src_shape, dim, idx, idx_shape, |p, s| out[p] = src[s]);
}

/// `dst[p with coordinate dim replaced by idx[p]] += src[p]`: the adjoint of [`gather`], as
/// `torch.scatter_add` (`src` has the index's shape).
pub fn scatter_add<T: Float>(
    dst: &mut [T],
    dst_shape: &[usize],
    dim: usize,
    idx: &[usize],
    idx_shape: &[usize],
    src: &[T],
) {
    check_gather_shapes("scatter_add", dst_shape, dim, idx, idx_shape);
    assert_eq!(dst.len(), dst_shape.iter().product::<usize>(), "scatter_add: destination length");
    assert_eq!(src.len(), idx.len(), "scatter_add: source length");
    for_each_indexed(dst_shape, dim, idx, idx_shape, |p, s| dst[s] += src[p]);
}
