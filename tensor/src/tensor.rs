//! The `Tensor` struct: a shape, strides and an offset into a shared buffer.

use crate::storage::{CpuBuffer, Storage};
use crate::{DType, Device, Element, Error, FloatElement, Result};
use ferrograd_kernels::copy::{contiguous_strides, copy_strided, Strided};
use std::sync::Arc;

/// An N-dimensional array on a device.
///
/// Element `[i0, i1, …]` lives at `offset + Σ i_d · strides[d]` in the buffer. Cloning a tensor
/// clones an `Arc`: cheap, and the clone shares the data. Tensors are immutable values; ops
/// return new tensors (views share the buffer when they can).
#[derive(Clone)]
pub struct Tensor {
    pub(crate) storage: Arc<Storage>,
    pub(crate) shape: Vec<usize>,
    pub(crate) strides: Vec<usize>,
    pub(crate) offset: usize,
}

impl Tensor {
    // ---------------------------------------------------------------- construction

    /// A dense tensor of `shape` from row-major `data` (on the CPU).
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        let numel = crate::checked_numel("from_vec", shape)?;
        if data.len() != numel {
            return Err(Error::shape(
                "from_vec",
                &[shape],
                format!("{} elements given for a shape of {numel}", data.len()),
            ));
        }
        Ok(Self::from_buffer(T::wrap(data), shape.to_vec()))
    }

    /// A dense tensor wrapping a buffer whose length is the product of `shape`.
    pub(crate) fn from_buffer(buf: CpuBuffer, shape: Vec<usize>) -> Tensor {
        let strides = contiguous_strides(&shape);
        Tensor { storage: Arc::new(Storage::Cpu(buf)), shape, strides, offset: 0 }
    }

    /// A dense tensor from a vector and a shape the caller guarantees matches.
    pub(crate) fn dense<T: Element>(data: Vec<T>, shape: Vec<usize>) -> Tensor {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        Self::from_buffer(T::wrap(data), shape)
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar<T: Element>(v: T) -> Tensor {
        Self::dense(vec![v], vec![])
    }

    /// A tensor of `shape` filled with `value`.
    ///
    /// Panics if the number of elements overflows `usize` (as `Vec` does on a capacity overflow:
    /// no such buffer can exist).
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        let n = match crate::checked_numel("full", shape) {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        };
        let buf = match dtype {
            DType::F32 => CpuBuffer::F32(crate::pool::filled(n, value as f32)),
            DType::F64 => CpuBuffer::F64(crate::pool::filled(n, value)),
            DType::I64 => CpuBuffer::I64(crate::pool::filled(n, value as i64)),
        };
        Self::from_buffer(buf, shape.to_vec())
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Self::full(shape, 0.0, dtype)
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Self::full(shape, 1.0, dtype)
    }

    /// Zeros with this tensor's shape, dtype and device.
    ///
    /// Panics if a GPU allocation fails (out of device memory), as a host allocation would.
    pub fn zeros_like(&self) -> Tensor {
        self.full_like(0.0)
    }

    /// Ones with this tensor's shape, dtype and device (panics as [`Tensor::zeros_like`]).
    pub fn ones_like(&self) -> Tensor {
        self.full_like(1.0)
    }

    /// `value` everywhere, with this tensor's shape, dtype and device (panics as
    /// [`Tensor::zeros_like`]).
    pub fn full_like(&self, value: f64) -> Tensor {
        self.full_on(&self.shape, value)
    }

    /// A tensor of `shape` filled with `value`, with this tensor's dtype and device (panics as
    /// [`Tensor::zeros_like`]).
    pub fn full_on(&self, shape: &[usize], value: f64) -> Tensor {
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return match self.gpu_full(shape, value, self.dtype()) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            };
        }
        Self::full(shape, value, self.dtype())
    }

    /// `[0, 1, …, n-1]` as a 1-D tensor.
    pub fn arange(n: usize, dtype: DType) -> Tensor {
        let buf = match dtype {
            DType::F32 => CpuBuffer::F32((0..n).map(|i| i as f32).collect()),
            DType::F64 => CpuBuffer::F64((0..n).map(|i| i as f64).collect()),
            DType::I64 => CpuBuffer::I64((0..n).map(|i| i as i64).collect()),
        };
        Self::from_buffer(buf, vec![n])
    }

    // ---------------------------------------------------------------- properties

    /// The size of each dimension.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The stride of each dimension, in elements.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of element `[0, …, 0]` in the buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Size of dimension `dim` (negative counts from the back).
    pub fn dim<D: crate::Dim>(&self, dim: D) -> Result<usize> {
        Ok(self.shape[dim.resolve(self.rank(), "dim")?])
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.storage.dtype()
    }

    /// The device the data lives on.
    pub fn device(&self) -> Device {
        self.storage.device()
    }

    /// Whether the elements are laid out densely in row-major order from `offset`.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&d, &s) in self.shape.iter().zip(&self.strides).rev() {
            if d != 1 && s != expected {
                return false;
            }
            expected *= d;
        }
        true
    }

    /// Whether two tensors share one buffer (e.g. a view and its base).
    pub fn shares_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    // ---------------------------------------------------------------- data access

    /// The whole host buffer, typed. Errors if the dtype is not `T` or the data is not on the CPU.
    pub(crate) fn buffer<T: Element>(&self, op: &'static str) -> Result<&[T]> {
        match &*self.storage {
            Storage::Cpu(b) => T::slice(b).ok_or(Error::DTypeMismatch { op, dtypes: vec![T::DTYPE, b.dtype()] }),
            // Ops without a CUDA kernel end here: a clear error, never a silent copy to the host.
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Err(Error::UnsupportedOnDevice { op, device: self.device() }),
        }
    }

    /// This tensor as a strided view for the kernels.
    pub(crate) fn view<T: Element>(&self, op: &'static str) -> Result<Strided<'_, T>> {
        Ok(Strided { data: self.buffer(op)?, offset: self.offset, strides: &self.strides })
    }

    /// The elements in row-major order as a dense slice: borrowed when contiguous, else copied.
    /// Errors if the dtype is not `T`.
    pub fn dense_data<T: Element>(&self, op: &'static str) -> Result<std::borrow::Cow<'_, [T]>> {
        let buf = self.buffer::<T>(op)?;
        if self.is_contiguous() {
            Ok(std::borrow::Cow::Borrowed(&buf[self.offset..self.offset + self.numel()]))
        } else if self.numel() == 0 {
            Ok(std::borrow::Cow::Owned(Vec::new()))
        } else {
            let view = self.view::<T>(op)?;
            let out = crate::pool::written_by(self.numel(), |out| copy_strided(view, &self.shape, out));
            Ok(std::borrow::Cow::Owned(out))
        }
    }

    /// The elements in row-major order, copied into a `Vec`. Errors if the dtype is not `T`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return self.gpu_to_vec();
        }
        Ok(self.dense_data::<T>("to_vec")?.into_owned())
    }

    /// The single value of a one-element tensor, as `f64`.
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::shape("item", &[&self.shape], "item() needs exactly one element"));
        }
        Ok(match self.dtype() {
            DType::F32 => self.to_vec::<f32>()?[0] as f64,
            DType::F64 => self.to_vec::<f64>()?[0],
            DType::I64 => self.to_vec::<i64>()?[0] as f64,
        })
    }

    /// Converts to another dtype (a copy; floats to `i64` truncate toward zero).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return self.gpu_to_dtype(dtype);
        }
        fn conv<S: Element, D: Element>(t: &Tensor) -> Result<Tensor> {
            let v: Vec<D> = t.dense_data::<S>("to_dtype")?.iter().map(|&x| D::from_f64(x.to_f64())).collect();
            Ok(Tensor::dense(v, t.shape.clone()))
        }
        match (self.dtype(), dtype) {
            (DType::F32, DType::F64) => conv::<f32, f64>(self),
            (DType::F32, DType::I64) => conv::<f32, i64>(self),
            (DType::F64, DType::F32) => conv::<f64, f32>(self),
            (DType::F64, DType::I64) => conv::<f64, i64>(self),
            (DType::I64, DType::F32) => conv::<i64, f32>(self),
            (DType::I64, DType::F64) => conv::<i64, f64>(self),
            _ => Ok(self.clone()),
        }
    }

    /// Moves the tensor to `device` (a dense copy there). Moving to the device it is on returns
    /// it unchanged. Without the `cuda` feature, or without a usable GPU, asking for
    /// `Device::Cuda(n)` returns [`Error::DeviceUnavailable`] saying why.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        {
            self.gpu_to_device(device)
        }
        #[cfg(not(feature = "cuda"))]
        match device {
            Device::Cpu => Ok(self.clone()),
            Device::Cuda(_) => Err(Error::DeviceUnavailable {
                device,
                reason: "this build has no CUDA backend (build with `--features cuda`)".into(),
            }),
        }
    }

    /// Whether the data lives on a GPU.
    pub fn is_cuda(&self) -> bool {
        matches!(self.device(), Device::Cuda(_))
    }

    /// Runs `f` on the dense data of this tensor, mutably, in place. If the buffer is shared with
    /// another tensor or the tensor is not contiguous, the data is first copied (copy-on-write),
    /// so no other tensor ever sees the change. Used by optimizers to update parameters without
    /// allocating.
    pub fn update_in_place<T: FloatElement, R>(&mut self, f: impl FnOnce(&mut [T]) -> R) -> Result<R> {
        let op = "update_in_place";
        if !self.is_contiguous() || self.offset != 0 || self.buffer::<T>(op)?.len() != self.numel() {
            *self = self.contiguous_copy()?;
        }
        if Arc::get_mut(&mut self.storage).is_none() {
            // Shared with another tensor: copy, so that the other one never sees the change.
            *self = self.contiguous_copy()?;
        }
        #[cfg(feature = "cuda")]
        let device = self.device();
        let storage = Arc::get_mut(&mut self.storage).ok_or(Error::invalid(op, "a fresh copy is not shared"))?;
        // One arm without the `cuda` feature, two with it.
        #[allow(clippy::infallible_destructuring_match)]
        let buf = match storage {
            Storage::Cpu(buf) => buf,
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => return Err(Error::UnsupportedOnDevice { op, device }),
        };
        let data = T::slice_mut(buf).ok_or(Error::DTypeMismatch { op, dtypes: vec![T::DTYPE] })?;
        Ok(f(data))
    }

    /// A dense copy with its own buffer (even when already contiguous).
    pub(crate) fn contiguous_copy(&self) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return self.gpu_contiguous(true);
        }
        Ok(match self.dtype() {
            DType::F32 => Tensor::dense(self.to_vec::<f32>()?, self.shape.clone()),
            DType::F64 => Tensor::dense(self.to_vec::<f64>()?, self.shape.clone()),
            DType::I64 => Tensor::dense(self.to_vec::<i64>()?, self.shape.clone()),
        })
    }

    /// Errors unless both tensors share dtype and device.
    pub(crate) fn same_kind(&self, other: &Tensor, op: &'static str) -> Result<()> {
        if self.device() != other.device() {
            return Err(Error::DeviceMismatch { op, devices: vec![self.device(), other.device()] });
        }
        if self.dtype() != other.dtype() {
            return Err(Error::DTypeMismatch { op, dtypes: vec![self.dtype(), other.dtype()] });
        }
        Ok(())
    }
}

/// Runs `$body` with the type alias `$T` bound to the tensor's float element type (`f32` or
/// `f64`), or returns `UnsupportedDType` for integer tensors.
macro_rules! with_float {
    // On a dtype value: for bodies that use `self` mutably. (Writing `with_float!(self.clone(),
    // ..)` instead would keep the clone, a temporary of the `match` scrutinee, alive to the end
    // of the match: the buffer would then look shared, and in-place updates would copy it.)
    (@dtype $d:expr, $op:expr, |$T:ident| $body:expr) => {
        match $d {
            $crate::DType::F32 => {
                #[allow(dead_code)]
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                #[allow(dead_code)]
                type $T = f64;
                $body
            }
            dtype => Err($crate::Error::UnsupportedDType { op: $op, dtype }),
        }
    };
    // On a tensor's dtype.
    ($t:expr, $op:expr, |$T:ident| $body:expr) => {
        with_float!(@dtype $t.dtype(), $op, |$T| $body)
    };
}
pub(crate) use with_float;

/// Like [`with_float`], but also binds `$T = i64` for integer tensors (for data movement ops).
macro_rules! with_any {
    ($t:expr, |$T:ident| $body:expr) => {
        match $t.dtype() {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
        }
    };
}
pub(crate) use with_any;
