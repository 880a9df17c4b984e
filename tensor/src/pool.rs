//! A small caching allocator for large host buffers.
//!
//! Training allocates buffers of the same sizes step after step (activations, columns,
//! gradients). From the system allocator each large one comes back as fresh pages that the
//! kernel must fault in and zero; profiling a CNN step showed ~20% of the time in page faults.
//! Instead, a buffer of at least [`MIN_BYTES`] is returned to a per-thread free list when its
//! tensor is dropped, and the next request for the same length reuses it. The cache holds at
//! most [`MAX_CACHED_BYTES`] per thread; beyond that, buffers go back to the system.

use crate::Element;
use std::cell::RefCell;
use std::collections::HashMap;
use std::mem::MaybeUninit;

/// Buffers smaller than this go straight to the system allocator (its free lists are fast).
pub const MIN_BYTES: usize = 256 * 1024;
/// The most bytes one thread keeps cached.
pub const MAX_CACHED_BYTES: usize = 512 << 20;

/// Free buffers of one element type, by length.
#[derive(Default)]
pub struct FreeLists<T> {
    by_len: HashMap<usize, Vec<Vec<T>>>,
}

/// One thread's cache.
#[derive(Default)]
pub struct Pool {
    pub(crate) f32: FreeLists<f32>,
    pub(crate) f64: FreeLists<f64>,
    pub(crate) i64: FreeLists<i64>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A cached buffer of exactly `len` elements, if one is free.
fn take<T: Element>(len: usize) -> Option<Vec<T>> {
    let bytes = len * std::mem::size_of::<T>();
    if bytes < MIN_BYTES {
        return None;
    }
    POOL.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        let v = T::free_lists(&mut p).by_len.get_mut(&len).and_then(Vec::pop)?;
        p.bytes -= bytes;
        Some(v)
    })
    .ok()
    .flatten()
}

/// A buffer of `len` copies of `value` (reused from the cache when possible).
pub fn filled<T: Element>(len: usize, value: T) -> Vec<T> {
    match take(len) {
        Some(mut v) => {
            v.fill(value);
            v
        }
        None => vec![value; len],
    }
}

/// A buffer of `len` elements for a kernel that overwrites every one of them: a cached buffer
/// as it was left (its old values are never read) or else a fresh one of `zero`s. Saves the fill
/// that [`filled`] spends on a buffer about to be overwritten (the LSTM's saved gates and their
/// gradient are 3 MB each in `cargo bench --bench sequence`). Crate-private, as
/// [`written_by`]: only for the kernels that write their whole output (the recurrences'
/// `out`/`states`, saved gates and `dxproj`; `max_pool2d_backward`, which zeroes each plane first).
pub(crate) fn overwritten<T: Element>(len: usize, zero: T) -> Vec<T> {
    take(len).unwrap_or_else(|| vec![zero; len])
}

/// A buffer of `len` elements filled by `write`, which must store every element (reused from
/// the cache when possible, else allocated without initialising). Crate-private: its soundness
/// rests on `write` being one of the kernels listed below, which write their whole output.
pub(crate) fn written_by<T: Element>(len: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    if let Some(mut v) = take::<T>(len) {
        // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the writer only stores initialised `T`
        // values, so every element stays a valid `T`.
        let slots = unsafe { &mut *(v.as_mut_slice() as *mut [T] as *mut [MaybeUninit<T>]) };
        write(slots);
        return v;
    }
    let mut v = Vec::with_capacity(len);
    write(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the callers pass kernels that write every element of the slice they are given
    // (documented on each: `unary`, `binary`, `select`, `copy_strided`, `matmul`, `softmax_rows`,
    // `im2col`, `conv2d`, `batch_norm_forward`, `batch_norm_backward`, `layer_norm_forward`,
    // `layer_norm_backward`, `attention_forward`, `attention_backward`, `max_pool2d`), so the first `len` elements are initialised.
    unsafe { v.set_len(len) };
    v
}

/// Hands a buffer back: cached if large and there is room, else freed.
pub fn recycle<T: Element>(v: Vec<T>) {
    let bytes = v.len() * std::mem::size_of::<T>();
    if bytes < MIN_BYTES || v.len() != v.capacity() {
        return;
    }
    // `try_with`: during thread shutdown the cache may already be gone; then just free.
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.bytes + bytes <= MAX_CACHED_BYTES {
                p.bytes += bytes;
                T::free_lists(&mut p).by_len.entry(v.len()).or_default().push(v);
            }
        }
    });
}
