//! The tensor's side of the CUDA backend (the `cuda` feature): moving data between the host and
//! a GPU, and the helpers each op's CUDA path uses (typed device buffers, strided layouts,
//! wrapping results). The ops themselves keep their CUDA path beside their CPU path, in the
//! op family's file under `ops/`.

use crate::storage::Storage;
use crate::tensor::with_any;
use crate::{DType, Device, Element, Error, Result, Tensor};
use ferrograd_kernels::copy::contiguous_strides;
use ferrograd_kernels::cuda::{Gpu, GpuBuffer, GpuError, Layout};
use std::sync::Arc;

/// Turns a GPU-side error into the tensor error for `op`.
pub(crate) fn gpu_err(op: &'static str) -> impl FnOnce(GpuError) -> Error {
    move |e| Error::Cuda { op, message: e.to_string() }
}

impl Tensor {
    /// The device buffer, typed. Errors if the tensor is on the host or of another dtype.
    pub(crate) fn gpu_buffer<T: Element>(&self, op: &'static str) -> Result<&GpuBuffer<T>> {
        match &*self.storage {
            Storage::Cuda(g) => T::gpu_slice(g).ok_or(Error::DTypeMismatch { op, dtypes: vec![T::DTYPE, g.dtype()] }),
            Storage::Cpu(_) => Err(Error::DeviceMismatch { op, devices: vec![self.device()] }),
        }
    }

    /// The device buffer, typed and writable, holding exactly this tensor densely from offset 0:
    /// copied first (copy-on-write) if it is shared with another tensor or laid out otherwise,
    /// so no other tensor ever sees the change. For in-place optimizer steps.
    pub(crate) fn gpu_buffer_mut<T: Element>(&mut self, op: &'static str) -> Result<&mut GpuBuffer<T>> {
        let exact = self.is_contiguous() && self.offset == 0 && self.gpu_buffer::<T>(op)?.len() == self.numel();
        if !exact || Arc::get_mut(&mut self.storage).is_none() {
            *self = self.gpu_contiguous(true)?;
        }
        match Arc::get_mut(&mut self.storage) {
            Some(Storage::Cuda(g)) => T::gpu_slice_mut(g).ok_or(Error::DTypeMismatch { op, dtypes: vec![T::DTYPE] }),
            _ => Err(Error::invalid(op, "a fresh device copy is neither unique nor on the device")),
        }
    }

    /// This tensor with a buffer of its own elements only, densely from offset 0 (itself when it
    /// already is one): for kernels that index a buffer from its start.
    pub(crate) fn gpu_exact(&self, op: &'static str) -> Result<Tensor> {
        let exact = with_any!(self, |T| Ok::<bool, Error>(self.gpu_buffer::<T>(op)?.len() == self.numel()))?;
        if self.is_contiguous() && self.offset == 0 && exact {
            Ok(self.clone())
        } else {
            self.gpu_contiguous(true)
        }
    }

    /// Writes `src` into this dense GPU tensor's elements from `offset` with `strides` (a block of
    /// `src`'s shape inside `self`): one piece of `cat` or the interior of `pad`.
    pub(crate) fn gpu_copy_into(
        &mut self,
        src: &Tensor,
        offset: usize,
        strides: &[usize],
        op: &'static str,
    ) -> Result<()> {
        self.same_kind(src, op)?;
        let (from, to) = (src.gpu_layout(op)?, Layout::new(op, &src.shape, strides, offset).map_err(gpu_err(op))?);
        with_any!(src, |T| {
            let input = src.gpu_buffer::<T>(op)?;
            ferrograd_kernels::copy::cuda::copy_into(input, &from, self.gpu_buffer_mut::<T>(op)?, &to)
                .map_err(gpu_err(op))
        })
    }

    /// The GPU the tensor lives on.
    pub(crate) fn gpu(&self, op: &'static str) -> Result<Arc<Gpu>> {
        with_any!(self, |T| Ok(self.gpu_buffer::<T>(op)?.gpu().clone()))
    }

    /// Shape, strides and offset as a kernel argument.
    pub(crate) fn gpu_layout(&self, op: &'static str) -> Result<Layout> {
        Layout::new(op, &self.shape, &self.strides, self.offset).map_err(gpu_err(op))
    }

    /// A dense tensor of `shape` wrapping a device buffer of exactly that many elements.
    pub(crate) fn from_gpu<T: Element>(buf: GpuBuffer<T>, shape: Vec<usize>) -> Tensor {
        debug_assert_eq!(buf.len(), shape.iter().product::<usize>());
        let strides = contiguous_strides(&shape);
        Tensor { storage: Arc::new(Storage::Cuda(T::wrap_gpu(buf))), shape, strides, offset: 0 }
    }

    /// This GPU tensor laid out densely from offset 0 of its own buffer: itself when it already
    /// is one (unless `always_copy`), else a gather by the strided-copy kernel.
    pub(crate) fn gpu_contiguous(&self, always_copy: bool) -> Result<Tensor> {
        let op = "contiguous";
        if !always_copy && self.is_contiguous() && self.offset == 0 {
            return Ok(self.clone());
        }
        let layout = self.gpu_layout(op)?;
        with_any!(self, |T| {
            let out =
                ferrograd_kernels::copy::cuda::copy_strided(self.gpu_buffer::<T>(op)?, &layout).map_err(gpu_err(op))?;
            Ok(Tensor::from_gpu(out, self.shape.clone()))
        })
    }

    /// The elements in row-major order, copied to the host.
    pub(crate) fn gpu_to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let op = "to_vec";
        let dense = if self.is_contiguous() { self.clone() } else { self.gpu_contiguous(false)? };
        dense.gpu_buffer::<T>(op)?.range_to_host(dense.offset, dense.numel()).map_err(gpu_err(op))
    }

    /// The same values as another dtype, on the same GPU.
    pub(crate) fn gpu_to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let op = "to_dtype";
        let dense = if self.is_contiguous() { self.clone() } else { self.gpu_contiguous(false)? };
        fn cast<S: Element + ferrograd_kernels::cuda::GpuElement, D: Element + ferrograd_kernels::cuda::GpuElement>(
            t: &Tensor,
        ) -> Result<Tensor> {
            let op = "to_dtype";
            let out = ferrograd_kernels::copy::cuda::cast::<S, D>(t.gpu_buffer::<S>(op)?, t.offset, t.numel())
                .map_err(gpu_err(op))?;
            Ok(Tensor::from_gpu(out, t.shape.clone()))
        }
        match (self.dtype(), dtype) {
            (DType::F32, DType::F64) => cast::<f32, f64>(&dense),
            (DType::F32, DType::I64) => cast::<f32, i64>(&dense),
            (DType::F64, DType::F32) => cast::<f64, f32>(&dense),
            (DType::F64, DType::I64) => cast::<f64, i64>(&dense),
            (DType::I64, DType::F32) => cast::<i64, f32>(&dense),
            (DType::I64, DType::F64) => cast::<i64, f64>(&dense),
            _ => Err(Error::invalid(op, format!("{} to {dtype}", self.dtype()))),
        }
    }

    /// A dense copy on `device` (host to GPU, GPU to host, or GPU to another GPU through the host).
    pub(crate) fn gpu_to_device(&self, device: Device) -> Result<Tensor> {
        match device {
            Device::Cpu => with_any!(self, |T| Tensor::from_vec(self.gpu_to_vec::<T>()?, &self.shape)),
            Device::Cuda(n) => {
                let gpu = Gpu::get(n).map_err(|e| Error::DeviceUnavailable { device, reason: e.to_string() })?;
                let host = if self.is_cuda() { self.to_device(Device::Cpu)? } else { self.clone() };
                with_any!(self, |T| {
                    let data = host.dense_data::<T>("to_device")?;
                    let buf = GpuBuffer::from_host(&gpu, &data).map_err(gpu_err("to_device"))?;
                    Ok(Tensor::from_gpu(buf, self.shape.clone()))
                })
            }
        }
    }

    /// `value` everywhere, in a new tensor of `shape` and `dtype` on this tensor's GPU.
    pub(crate) fn gpu_full(&self, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        let op = "full";
        let n = crate::checked_numel(op, shape)?;
        let gpu = self.gpu(op)?;
        use ferrograd_kernels::copy::cuda::fill;
        Ok(match dtype {
            DType::F32 => Tensor::from_gpu(fill(&gpu, n, value as f32).map_err(gpu_err(op))?, shape.to_vec()),
            DType::F64 => Tensor::from_gpu(fill(&gpu, n, value).map_err(gpu_err(op))?, shape.to_vec()),
            DType::I64 => Tensor::from_gpu(fill(&gpu, n, value as i64).map_err(gpu_err(op))?, shape.to_vec()),
        })
    }
}
