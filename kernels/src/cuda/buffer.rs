//! Device buffers and the caching allocator behind them.
//!
//! `cudaMalloc`/`cudaFree` synchronise and cost tens of microseconds, and a training step frees
//! and allocates the same sizes over and over. So a dropped [`GpuBuffer`] does not free its
//! memory: it goes back to its device's cache, in a list for its *size class*, and the next
//! request of that class takes it. Classes are 256 elements for small buffers, then the powers of
//! two and the midpoints between them (so at most a third of a block is ever unused). The cache
//! holds at most [`CACHE_LIMIT_BYTES`]; past that, dropped blocks are freed. An allocation that
//! fails for lack of memory empties the cache and tries once more.

use super::{driver_err, Gpu, GpuError};
use cudarc::driver::{CudaSlice, CudaView, CudaViewMut, DeviceRepr, ValidAsZeroBits};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The most memory a device's cache keeps for reuse (4 GiB).
pub const CACHE_LIMIT_BYTES: usize = 4 << 30;

/// Free blocks of one element type, by size class.
type FreeLists<T> = Mutex<HashMap<usize, Vec<CudaSlice<T>>>>;

/// The cached free blocks of one device, one set of lists per element type (opaque outside
/// this module).
#[doc(hidden)]
#[derive(Default)]
pub struct MemoryCache {
    f32: FreeLists<f32>,
    f64: FreeLists<f64>,
    i64: FreeLists<i64>,
    held_bytes: AtomicUsize,
}

impl MemoryCache {
    /// Frees every cached block.
    fn clear(&self) {
        self.f32.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.f64.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.i64.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.held_bytes.store(0, Ordering::Relaxed);
    }
}

/// An element type that lives in device buffers: `f32`, `f64` or `i64`.
pub trait GpuElement: DeviceRepr + ValidAsZeroBits + Copy + Default + Send + Sync + 'static {
    /// The suffix of this type's kernels (`"f32"`, `"f64"`, `"i64"`).
    const SUFFIX: &'static str;
    /// This type's free lists in a device cache.
    #[doc(hidden)]
    fn gpu_free_lists(cache: &MemoryCache) -> &FreeLists<Self>;
}

impl GpuElement for f32 {
    const SUFFIX: &'static str = "f32";
    fn gpu_free_lists(cache: &MemoryCache) -> &FreeLists<Self> {
        &cache.f32
    }
}
impl GpuElement for f64 {
    const SUFFIX: &'static str = "f64";
    fn gpu_free_lists(cache: &MemoryCache) -> &FreeLists<Self> {
        &cache.f64
    }
}
impl GpuElement for i64 {
    const SUFFIX: &'static str = "i64";
    fn gpu_free_lists(cache: &MemoryCache) -> &FreeLists<Self> {
        &cache.i64
    }
}

/// A floating-point element type of device buffers: `f32` or `f64`.
pub trait GpuFloat: GpuElement {
    /// `v` rounded to this type.
    fn from_f64(v: f64) -> Self;
}
impl GpuFloat for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl GpuFloat for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// The size class (in elements) a request for `n` elements is served from.
pub fn size_class(n: usize) -> usize {
    if n <= 256 {
        return 256;
    }
    let pow = n.next_power_of_two();
    let mid = pow / 4 * 3;
    if n <= mid {
        mid
    } else {
        pow
    }
}

/// `len` elements of `T` on one GPU. Dropping it returns the block to the device's cache.
pub struct GpuBuffer<T: GpuElement> {
    block: Option<CudaSlice<T>>,
    len: usize,
    gpu: Arc<Gpu>,
}

impl<T: GpuElement> std::fmt::Debug for GpuBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBuffer<{}>[{}] on {:?}", T::SUFFIX, self.len, self.gpu)
    }
}

impl<T: GpuElement> GpuBuffer<T> {
    /// `len` elements whose values are unspecified (a reused block keeps its old contents; every
    /// bit pattern is a valid `f32`/`f64`/`i64`, so reading them is not undefined behaviour). For
    /// kernels that overwrite every element.
    pub fn alloc(gpu: &Arc<Gpu>, len: usize) -> Result<GpuBuffer<T>, GpuError> {
        let class = size_class(len);
        let reused =
            T::gpu_free_lists(&gpu.cache).lock().unwrap_or_else(|e| e.into_inner()).get_mut(&class).and_then(Vec::pop);
        let block = match reused {
            Some(block) => {
                gpu.cache.held_bytes.fetch_sub(class * std::mem::size_of::<T>(), Ordering::Relaxed);
                block
            }
            None => {
                // SAFETY: the block is uninitialised device memory; it is only ever read as `T`,
                // for which every bit pattern is valid (see `GpuElement`'s implementors).
                match unsafe { gpu.stream().alloc::<T>(class) } {
                    Ok(block) => block,
                    Err(_) => {
                        // Out of memory, most likely: give the cached blocks back and retry once.
                        gpu.cache.clear();
                        // SAFETY: as above.
                        unsafe { gpu.stream().alloc::<T>(class) }
                            .map_err(driver_err(format!("alloc of {class} {}", T::SUFFIX)))?
                    }
                }
            }
        };
        Ok(GpuBuffer { block: Some(block), len, gpu: gpu.clone() })
    }

    /// `len` zeros.
    pub fn zeros(gpu: &Arc<Gpu>, len: usize) -> Result<GpuBuffer<T>, GpuError> {
        let mut buf = Self::alloc(gpu, len)?;
        if len > 0 {
            gpu.stream().memset_zeros(&mut buf.view_mut()).map_err(driver_err("memset"))?;
        }
        Ok(buf)
    }

    /// A copy of host data.
    pub fn from_host(gpu: &Arc<Gpu>, data: &[T]) -> Result<GpuBuffer<T>, GpuError> {
        let mut buf = Self::alloc(gpu, data.len())?;
        if !data.is_empty() {
            gpu.stream().memcpy_htod(data, &mut buf.view_mut()).map_err(driver_err("memcpy host to device"))?;
        }
        Ok(buf)
    }

    /// The data copied to the host (waits for the kernels queued before).
    pub fn to_host(&self) -> Result<Vec<T>, GpuError> {
        if self.len == 0 {
            return Ok(Vec::new());
        }
        self.gpu.stream().clone_dtoh(&self.view()).map_err(driver_err("memcpy device to host"))
    }

    /// `n` elements from `offset`, copied to the host.
    pub fn range_to_host(&self, offset: usize, n: usize) -> Result<Vec<T>, GpuError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if offset + n > self.len {
            return Err(GpuError::Invalid {
                kernel: "to_host",
                message: format!("{n} elements from {offset} of {}", self.len),
            });
        }
        let view = self.block().slice(offset..offset + n);
        self.gpu.stream().clone_dtoh(&view).map_err(driver_err("memcpy device to host"))
    }

    /// A copy on the same device.
    pub fn try_clone(&self) -> Result<GpuBuffer<T>, GpuError> {
        let mut copy = Self::alloc(&self.gpu, self.len)?;
        if self.len > 0 {
            self.gpu
                .stream()
                .memcpy_dtod(&self.view(), &mut copy.view_mut())
                .map_err(driver_err("memcpy device to device"))?;
        }
        Ok(copy)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device the buffer is on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    /// The `len` elements, as a kernel argument.
    pub fn view(&self) -> CudaView<'_, T> {
        self.block().slice(..self.len.max(1))
    }

    /// The `len` elements, as a kernel argument to write.
    pub fn view_mut(&mut self) -> CudaViewMut<'_, T> {
        let len = self.len.max(1);
        self.block_mut().slice_mut(..len)
    }

    /// The elements from `offset` on, as a kernel argument (a tensor view's start in its buffer).
    pub fn view_from(&self, kernel: &'static str, offset: usize) -> Result<CudaView<'_, T>, GpuError> {
        if offset >= self.len.max(1) {
            return Err(GpuError::Invalid {
                kernel,
                message: format!("offset {offset} past a buffer of {}", self.len),
            });
        }
        Ok(self.block().slice(offset..self.len.max(1)))
    }

    fn block(&self) -> &CudaSlice<T> {
        match &self.block {
            Some(b) => b,
            None => unreachable!("a GpuBuffer holds its block until it is dropped"),
        }
    }

    fn block_mut(&mut self) -> &mut CudaSlice<T> {
        match &mut self.block {
            Some(b) => b,
            None => unreachable!("a GpuBuffer holds its block until it is dropped"),
        }
    }
}

impl<T: GpuElement> Drop for GpuBuffer<T> {
    /// Returns the block to the device's cache, unless the cache is full. Kernels that still
    /// use the block are queued on the same stream before any later use, so reuse is safe.
    fn drop(&mut self) {
        let Some(block) = self.block.take() else { return };
        let bytes = block.len() * std::mem::size_of::<T>();
        let cache = &self.gpu.cache;
        if cache.held_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes > CACHE_LIMIT_BYTES {
            cache.held_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return; // freed by CudaSlice's drop
        }
        T::gpu_free_lists(cache).lock().unwrap_or_else(|e| e.into_inner()).entry(block.len()).or_default().push(block);
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_and_waste_at_most_a_third() {
        for n in (1..5000).chain([65_535, 65_536, 65_537, 1 << 20, (1 << 20) + 1, 3 << 19, (3 << 19) + 1]) {
            let c = size_class(n);
            assert!(c >= n, "class {c} < {n}");
            if n > 256 {
                assert!(c as f64 <= n as f64 * 1.5 + 1.0, "class {c} wastes too much for {n}");
            }
        }
        assert_eq!(size_class(1000), 1024);
        assert_eq!(size_class(700), 768);
        assert_eq!(size_class(1 << 20), 1 << 20);
    }
}
