//! When and how the CPU kernels split work over threads (rayon).

use rayon::prelude::*;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};

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

thread_local! {
    /// Each thread's scratch values between calls, one per type (see [`Scratch`]).
    static SCRATCH: RefCell<HashMap<TypeId, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

/// A kernel's scratch value of type `S` (its buffers), taken from this thread's cache and put
/// back when dropped, so that the next call on this thread finds its buffers already allocated
/// and faulted in. Fresh buffers of a few hundred KiB come from `mmap` as untouched pages: in
/// the Winograd convolution of a 13² layer, page faults took 5% of the time.
pub struct Scratch<S: Default + 'static>(Option<S>);

impl<S: Default + 'static> Scratch<S> {
    /// This thread's cached `S`, or a new one.
    pub fn take() -> Self {
        let cached = SCRATCH.try_with(|c| c.borrow_mut().remove(&TypeId::of::<S>())).ok().flatten();
        Scratch(Some(cached.and_then(|b| b.downcast::<S>().ok()).map_or_else(S::default, |b| *b)))
    }
}

impl<S: Default + 'static> Drop for Scratch<S> {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            // During thread teardown the cache may be gone; the value is then just dropped.
            let _ = SCRATCH.try_with(|c| c.borrow_mut().insert(TypeId::of::<S>(), Box::new(s)));
        }
    }
}

impl<S: Default + 'static> Deref for Scratch<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.0.as_ref().expect("scratch present until dropped")
    }
}

impl<S: Default + 'static> DerefMut for Scratch<S> {
    fn deref_mut(&mut self) -> &mut S {
        self.0.as_mut().expect("scratch present until dropped")
    }
}

/// Runs `task(index, chunk, scratch)` over the `len`-element chunks of `out`, in parallel when
/// `parallel`, with one reusable scratch value per worker (buffers a kernel would otherwise
/// allocate per chunk), kept by each thread from one call to the next ([`Scratch`]). Each task
/// owns its chunk of the output, so no two threads write the same element.
pub fn for_each_chunk<A: Send, S: Default + 'static>(
    out: &mut [A],
    len: usize,
    parallel: bool,
    task: impl Fn(usize, &mut [A], &mut S) + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(len)
            .enumerate()
            .for_each_init(Scratch::<S>::take, |scratch, (i, chunk)| task(i, chunk, scratch));
    } else {
        let mut scratch = Scratch::<S>::take();
        out.chunks_mut(len).enumerate().for_each(|(i, chunk)| task(i, chunk, &mut scratch));
    }
}

/// `out = Σ_{i < n}` of the contributions `add(i, acc, scratch)` adds into an accumulator the
/// size of `out` (overwritten). In parallel, `0..n` is cut into a fixed number of contiguous
/// ranges (two per thread); each range is summed in order into its own accumulator, by
/// whichever worker takes it, and the accumulators are then added in range order. No lock per
/// element, no per-item buffer, and the same bits on every run: the grouping of the sums depends
/// on `n` and the thread count only, never on which worker ran what (a `fold`/`reduce` over
/// rayon's adaptive splits made the weight gradients, and so whole training runs, differ from
/// run to run). On the calling thread `add` accumulates into `out` directly.
pub fn sum_into<T: crate::Float, S: Default + 'static>(
    n: usize,
    parallel: bool,
    out: &mut [T],
    add: impl Fn(usize, &mut [T], &mut S) + Sync,
) {
    out.fill(T::ZERO);
    if !parallel || n < 2 {
        let mut scratch = Scratch::<S>::take();
        (0..n).for_each(|i| add(i, out, &mut scratch));
        return;
    }
    let len = out.len();
    let parts = n.min(2 * rayon::current_num_threads()).max(1);
    let per = n.div_ceil(parts);
    let partials: Vec<Vec<T>> = (0..n.div_ceil(per))
        .into_par_iter()
        .map_init(Scratch::<S>::take, |scratch, part| {
            let mut acc = vec![T::ZERO; len];
            (part * per..((part + 1) * per).min(n)).for_each(|i| add(i, &mut acc, scratch));
            acc
        })
        .collect();
    for partial in &partials {
        out.iter_mut().zip(partial).for_each(|(o, &p)| *o += p);
    }
}
