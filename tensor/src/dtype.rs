//! Element types: `f32` and `f64` for values, `i64` for class labels and indices.

use crate::storage::CpuBuffer;
use ferrograd_kernels::Float;
use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float: the default for models.
    F32,
    /// 64-bit float: for gradient checks and where precision matters.
    F64,
    /// 64-bit signed integer: class labels and indices (never a float in disguise).
    I64,
}

impl DType {
    /// Whether the dtype is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }

    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
        })
    }
}

/// What an element type needs to live in device memory: with the `cuda` feature, the kernels'
/// `GpuElement` (implemented for `f32`, `f64`, `i64`); without it, nothing.
#[cfg(feature = "cuda")]
#[doc(hidden)]
pub use ferrograd_kernels::cuda::GpuElement as DeviceElement;

/// What an element type needs to live in device memory (nothing, without the `cuda` feature).
#[cfg(not(feature = "cuda"))]
#[doc(hidden)]
pub trait DeviceElement {}
#[cfg(not(feature = "cuda"))]
impl DeviceElement for f32 {}
#[cfg(not(feature = "cuda"))]
impl DeviceElement for f64 {}
#[cfg(not(feature = "cuda"))]
impl DeviceElement for i64 {}

/// A Rust type that can be a tensor element: moves in and out of a CPU buffer (and, with the
/// `cuda` feature, a device buffer).
pub trait Element: Copy + Send + Sync + fmt::Debug + DeviceElement + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;
    /// The buffer's data, if it holds this type.
    fn slice(buf: &CpuBuffer) -> Option<&[Self]>;
    /// The buffer's data, mutably, if it holds this type.
    fn slice_mut(buf: &mut CpuBuffer) -> Option<&mut [Self]>;
    /// Wraps a vector as a buffer.
    fn wrap(v: Vec<Self>) -> CpuBuffer;
    /// Converts to `f64` (for printing and dtype conversion).
    fn to_f64(self) -> f64;
    /// Converts from `f64` (rounding/truncating toward zero for integers).
    fn from_f64(v: f64) -> Self;
    /// This type's free lists in the buffer cache.
    #[doc(hidden)]
    fn free_lists(pool: &mut crate::pool::Pool) -> &mut crate::pool::FreeLists<Self>;
    /// The device buffer, if it holds this type.
    #[cfg(feature = "cuda")]
    #[doc(hidden)]
    fn gpu_slice(buf: &crate::storage::GpuStorage) -> Option<&ferrograd_kernels::cuda::GpuBuffer<Self>>;
    /// The device buffer, mutably, if it holds this type.
    #[cfg(feature = "cuda")]
    #[doc(hidden)]
    fn gpu_slice_mut(buf: &mut crate::storage::GpuStorage) -> Option<&mut ferrograd_kernels::cuda::GpuBuffer<Self>>;
    /// Wraps a device buffer.
    #[cfg(feature = "cuda")]
    #[doc(hidden)]
    fn wrap_gpu(buf: ferrograd_kernels::cuda::GpuBuffer<Self>) -> crate::storage::GpuStorage;
}

/// A floating-point [`Element`] the kernels compute on (`f32`, `f64`).
pub trait FloatElement: Element + Float {}
impl FloatElement for f32 {}
impl FloatElement for f64 {}

macro_rules! element {
    ($t:ty, $variant:ident, $field:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn slice(buf: &CpuBuffer) -> Option<&[Self]> {
                match buf {
                    CpuBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn slice_mut(buf: &mut CpuBuffer) -> Option<&mut [Self]> {
                match buf {
                    CpuBuffer::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(v: Vec<Self>) -> CpuBuffer {
                CpuBuffer::$variant(v)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn free_lists(pool: &mut crate::pool::Pool) -> &mut crate::pool::FreeLists<Self> {
                &mut pool.$field
            }
            #[cfg(feature = "cuda")]
            fn gpu_slice(buf: &crate::storage::GpuStorage) -> Option<&ferrograd_kernels::cuda::GpuBuffer<Self>> {
                match buf {
                    crate::storage::GpuStorage::$variant(b) => Some(b),
                    _ => None,
                }
            }
            #[cfg(feature = "cuda")]
            fn gpu_slice_mut(
                buf: &mut crate::storage::GpuStorage,
            ) -> Option<&mut ferrograd_kernels::cuda::GpuBuffer<Self>> {
                match buf {
                    crate::storage::GpuStorage::$variant(b) => Some(b),
                    _ => None,
                }
            }
            #[cfg(feature = "cuda")]
            fn wrap_gpu(buf: ferrograd_kernels::cuda::GpuBuffer<Self>) -> crate::storage::GpuStorage {
                crate::storage::GpuStorage::$variant(buf)
            }
        }
    };
}
element!(f32, F32, f32);
element!(f64, F64, f64);
element!(i64, I64, i64);
