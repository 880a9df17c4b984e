//! Buffers behind tensors, per device. Shared by `Arc`; a view clones the `Arc`, not the data.

use crate::{DType, Device};

/// A host buffer of one dtype.
#[derive(Clone, Debug)]
pub enum CpuBuffer {
    /// `f32` data.
    F32(Vec<f32>),
    /// `f64` data.
    F64(Vec<f64>),
    /// `i64` data.
    I64(Vec<i64>),
}

impl Drop for CpuBuffer {
    /// Large buffers go back to the cache in [`crate::pool`] for reuse.
    fn drop(&mut self) {
        match self {
            CpuBuffer::F32(v) => crate::pool::recycle(std::mem::take(v)),
            CpuBuffer::F64(v) => crate::pool::recycle(std::mem::take(v)),
            CpuBuffer::I64(v) => crate::pool::recycle(std::mem::take(v)),
        }
    }
}

impl CpuBuffer {
    /// The buffer's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            CpuBuffer::F32(_) => DType::F32,
            CpuBuffer::F64(_) => DType::F64,
            CpuBuffer::I64(_) => DType::I64,
        }
    }
}

/// A device buffer of one dtype (with the `cuda` feature).
#[cfg(feature = "cuda")]
#[derive(Debug)]
pub enum GpuStorage {
    /// `f32` data.
    F32(ferrograd_kernels::cuda::GpuBuffer<f32>),
    /// `f64` data.
    F64(ferrograd_kernels::cuda::GpuBuffer<f64>),
    /// `i64` data.
    I64(ferrograd_kernels::cuda::GpuBuffer<i64>),
}

#[cfg(feature = "cuda")]
impl GpuStorage {
    /// The buffer's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            GpuStorage::F32(_) => DType::F32,
            GpuStorage::F64(_) => DType::F64,
            GpuStorage::I64(_) => DType::I64,
        }
    }

    /// The device number.
    pub fn ordinal(&self) -> usize {
        match self {
            GpuStorage::F32(b) => b.gpu().ordinal(),
            GpuStorage::F64(b) => b.gpu().ordinal(),
            GpuStorage::I64(b) => b.gpu().ordinal(),
        }
    }
}

/// A tensor's buffer on its device. Code outside this crate never matches on it.
#[derive(Debug)]
pub enum Storage {
    /// Host memory.
    Cpu(CpuBuffer),
    /// GPU memory (with the `cuda` feature).
    #[cfg(feature = "cuda")]
    Cuda(GpuStorage),
}

impl Storage {
    /// The device the buffer lives on.
    pub fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "cuda")]
            Storage::Cuda(g) => Device::Cuda(g.ordinal()),
        }
    }

    /// The buffer's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Storage::Cpu(b) => b.dtype(),
            #[cfg(feature = "cuda")]
            Storage::Cuda(g) => g.dtype(),
        }
    }
}
