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

/// A Rust type that can be a tensor element: moves in and out of a CPU buffer.
pub trait Element: Copy + Send + Sync + fmt::Debug + 'static {
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
        }
    };
}
element!(f32, F32, f32);
element!(f64, F64, f64);
element!(i64, I64, i64);
