//! When and how the CPU kernels split work over threads (rayon).

use rayon::prelude::*;

/// Below this many elements a kernel runs on the calling thread: handing work to rayon costs a
/// few microseconds, which is more than a memory-bound loop over 32k floats takes.
pub const PAR_MIN_ELEMS: usize = 1 << 15;

/// The chunk length for splitting `len` elements over the pool: a few chunks per thread (for
/// balance), never shorter than 8k elements, and a multiple of 64 so chunk edges stay aligned
/// to cache lines and SIMD lanes.
pub fn chunk_len(len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = len.div_ceil(threads * 4).max(1 << 13);
    per.div_ceil(64) * 64
}

/// Applies `f(src_chunk, dst_chunk)` over matching chunks of `src` and `dst`, in parallel when
/// the buffers are large. `src` and `dst` must have the same length.
pub fn zip_chunks<S: Sync, D: Send>(src: &[S], dst: &mut [D], f: impl Fn(&[S], &mut [D]) + Sync) {
    assert_eq!(src.len(), dst.len(), "zip_chunks: length mismatch");
    if dst.len() < PAR_MIN_ELEMS {
        f(src, dst);
    } else {
        let c = chunk_len(dst.len());
        src.par_chunks(c).zip(dst.par_chunks_mut(c)).for_each(|(s, d)| f(s, d));
    }
}

/// Applies `f(a_chunk, b_chunk, dst_chunk)` over matching chunks, in parallel when large.
pub fn zip3_chunks<A: Sync, B: Sync, D: Send>(
    a: &[A],
    b: &[B],
    dst: &mut [D],
    f: impl Fn(&[A], &[B], &mut [D]) + Sync,
) {
    assert!(a.len() == dst.len() && b.len() == dst.len(), "zip3_chunks: length mismatch");
    if dst.len() < PAR_MIN_ELEMS {
        f(a, b, dst);
    } else {
        let c = chunk_len(dst.len());
        a.par_chunks(c).zip(b.par_chunks(c)).zip(dst.par_chunks_mut(c)).for_each(|((a, b), d)| f(a, b, d));
    }
}

/// Applies `f(first_row_index, rows_chunk)` over blocks of whole rows of `dst` (rows of `row_len`
/// elements), in parallel when the buffer is large.
pub fn row_blocks<D: Send>(dst: &mut [D], row_len: usize, f: impl Fn(usize, &mut [D]) + Sync) {
    if row_len == 0 || dst.is_empty() {
        return;
    }
    if dst.len() < PAR_MIN_ELEMS {
        f(0, dst);
    } else {
        let rows_per = (chunk_len(dst.len()) / row_len).max(1);
        dst.par_chunks_mut(rows_per * row_len).enumerate().for_each(|(i, d)| f(i * rows_per, d));
    }
}

/// `out = Σ_{i < n}` of the contributions `add(i, acc, scratch)` adds into an accumulator the
/// size of `out` (overwritten). In parallel each worker sums into its own accumulator (and keeps
/// its own `scratch`), and the accumulators are added up at the end: no lock per element, and
/// no per-item buffer. On the calling thread `add` accumulates into `out` directly.
pub fn sum_into<T: crate::Float, S: Default + Send>(
    n: usize,
    parallel: bool,
    out: &mut [T],
    add: impl Fn(usize, &mut [T], &mut S) + Sync,
) {
    out.fill(T::ZERO);
    if !parallel {
        let mut scratch = S::default();
        (0..n).for_each(|i| add(i, out, &mut scratch));
        return;
    }
    let len = out.len();
    let total = (0..n)
        .into_par_iter()
        .fold(
            || (Vec::new(), S::default()),
            |(mut acc, mut scratch): (Vec<T>, S), i| {
                if acc.is_empty() {
                    acc = vec![T::ZERO; len];
                }
                add(i, &mut acc, &mut scratch);
                (acc, scratch)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(Vec::new, |a, b| match (a.is_empty(), b.is_empty()) {
            (true, _) => b,
            (_, true) => a,
            _ => a.into_iter().zip(b).map(|(p, q)| p + q).collect(),
        });
    if !total.is_empty() {
        out.copy_from_slice(&total);
    }
}
