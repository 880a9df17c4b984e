//! Reductions over any set of dimensions, with `keepdim`.

use crate::tensor::with_float;
use crate::{Dim, Dims, Error, Result, Tensor};
use ferrograd_kernels::reduce::{arg_reduce, reduce, ArgReduceOp, ReduceOp};
use ferrograd_kernels::Float;

/// A tensor arranged for the reduce kernel as dense `[outer, len, inner]`.
struct Arranged {
    t: Tensor,
    outer: usize,
    len: usize,
    inner: usize,
}

impl Tensor {
    /// Brings the reduced `dims` (sorted, distinct) to one axis of a dense `[outer, len, inner]`
    /// layout: free when they are adjacent in a contiguous tensor, else a permute and a copy.
    fn arrange(&self, dims: &[usize]) -> Result<Arranged> {
        let adjacent = dims.windows(2).all(|w| w[1] == w[0] + 1);
        if self.is_contiguous() && adjacent && !dims.is_empty() {
            let (s, e) = (dims[0], dims[dims.len() - 1]);
            return Ok(Arranged {
                t: self.clone(),
                outer: self.shape[..s].iter().product(),
                len: self.shape[s..=e].iter().product(),
                inner: self.shape[e + 1..].iter().product(),
            });
        }
        let kept: Vec<usize> = (0..self.rank()).filter(|d| !dims.contains(d)).collect();
        let perm: Vec<usize> = kept.iter().chain(dims).copied().collect();
        let t = self.permute(&perm)?.contiguous()?;
        Ok(Arranged {
            outer: kept.iter().map(|&d| self.shape[d]).product(),
            len: dims.iter().map(|&d| self.shape[d]).product(),
            inner: 1,
            t,
        })
    }

    /// The shape after reducing `dims`.
    fn reduced_shape(&self, dims: &[usize], keepdim: bool) -> Vec<usize> {
        let mut shape = Vec::with_capacity(self.rank());
        for (d, &size) in self.shape.iter().enumerate() {
            if !dims.contains(&d) {
                shape.push(size);
            } else if keepdim {
                shape.push(1);
            }
        }
        shape
    }

    fn reduce_op(&self, op: ReduceOp, name: &'static str, dims: &dyn Dims, keepdim: bool) -> Result<Tensor> {
        let dims = dims.resolve(self.rank(), name)?;
        if op != ReduceOp::Sum && dims.iter().any(|&d| self.shape[d] == 0) {
            return Err(Error::shape(name, &[&self.shape], "cannot take the max/min of an empty dimension"));
        }
        let shape = self.reduced_shape(&dims, keepdim);
        if dims.is_empty() {
            return self.reshape(&shape);
        }
        let a = self.arrange(&dims)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let t = a.t.contiguous()?; // itself when already contiguous
            return with_float!(self, name, |T| {
                let out = ferrograd_kernels::reduce::cuda::reduce(
                    op,
                    t.gpu_buffer::<T>(name)?,
                    t.offset,
                    a.outer,
                    a.len,
                    a.inner,
                )
                .map_err(crate::cuda::gpu_err(name))?;
                Ok(Tensor::from_gpu(out, shape))
            });
        }
        with_float!(self, name, |T| {
            let mut out = crate::pool::filled(a.outer * a.inner, 0.0 as T);
            reduce(op, &a.t.dense_data::<T>(name)?, a.outer, a.len, a.inner, &mut out);
            Ok(Tensor::dense(out, shape))
        })
    }

    /// Σ over `dims` (an empty set reduces nothing).
    pub fn sum(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Sum, "sum", &dims, keepdim)
    }

    /// `‖x‖₂ = √(Σ x²)` over every element, accumulated in `f64` and read in place (no copy of
    /// a contiguous tensor): the norm of a gradient, for clipping, traces and drawings.
    pub fn l2_norm(&self) -> Result<f64> {
        if self.is_cuda() {
            if !self.dtype().is_float() {
                return Err(Error::UnsupportedDType { op: "l2_norm", dtype: self.dtype() });
            }
            // The squares summed in f64 on the device, as the CPU loop sums them in f64.
            let x = self.to_dtype(crate::DType::F64)?;
            return Ok(x.mul(&x)?.sum_all()?.item()?.sqrt());
        }
        with_float!(self, "l2_norm", |T| {
            let x = self.dense_data::<T>("l2_norm")?;
            Ok(x.iter().map(|&v| v.to_f64() * v.to_f64()).sum::<f64>().sqrt())
        })
    }

    /// Σ over every element, as a 0-dimensional tensor.
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum((0..self.rank()).collect::<Vec<_>>(), false)
    }

    /// Mean over `dims`.
    pub fn mean(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let resolved = dims.resolve(self.rank(), "mean")?;
        let count: usize = resolved.iter().map(|&d| self.shape[d]).product();
        self.sum(&resolved, keepdim)?.mul_scalar(1.0 / count as f64)
    }

    /// Mean of every element, as a 0-dimensional tensor.
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean((0..self.rank()).collect::<Vec<_>>(), false)
    }

    /// Largest value over `dims`.
    pub fn max(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Max, "max", &dims, keepdim)
    }

    /// Smallest value over `dims`.
    pub fn min(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        self.reduce_op(ReduceOp::Min, "min", &dims, keepdim)
    }

    /// Variance over `dims`: `Σ (x − mean)² / (N − correction)` (`correction = 1` is the unbiased
    /// estimator, PyTorch's default; 0 the population variance).
    pub fn var(&self, dims: impl Dims, correction: usize, keepdim: bool) -> Result<Tensor> {
        let resolved = dims.resolve(self.rank(), "var")?;
        let n: usize = resolved.iter().map(|&d| self.shape[d]).product();
        if n <= correction {
            return Err(Error::shape("var", &[&self.shape], format!("{n} elements with correction {correction}")));
        }
        let centred = self.sub(&self.mean(&resolved, true)?)?;
        centred.mul(&centred)?.sum(&resolved, keepdim)?.mul_scalar(1.0 / (n - correction) as f64)
    }

    /// `log Σ exp(x)` over `dims`, computed as `m + log Σ exp(x − m)` with `m` the max, so it
    /// neither overflows nor underflows.
    pub fn logsumexp(&self, dims: impl Dims, keepdim: bool) -> Result<Tensor> {
        let resolved = dims.resolve(self.rank(), "logsumexp")?;
        if resolved.iter().any(|&d| self.shape[d] == 0) {
            // log Σ over nothing = log 0 = -inf (as PyTorch).
            if !self.dtype().is_float() {
                return Err(Error::UnsupportedDType { op: "logsumexp", dtype: self.dtype() });
            }
            return Ok(Tensor::full(&self.reduced_shape(&resolved, keepdim), f64::NEG_INFINITY, self.dtype()));
        }
        let m = self.max(&resolved, true)?;
        // An all -inf slice has max -inf; shift by 0 there so the result is -inf, not NaN.
        let finite = m.abs()?.lt(&m.scalar_like(f64::INFINITY))?;
        let m = m.mul(&finite)?.where_nan_to_zero()?;
        let s = self.sub(&m)?.exp()?.sum(&resolved, true)?.log()?.add(&m)?;
        if keepdim {
            Ok(s)
        } else {
            s.reshape(&self.reduced_shape(&resolved, false))
        }
    }

    /// Replaces NaN by 0 (used where `0 · ∞` appears in masking).
    fn where_nan_to_zero(&self) -> Result<Tensor> {
        let is_num = self.eq(self)?;
        Tensor::where_cond(&is_num, self, &self.zeros_like())
    }

    fn arg_op(&self, op: ArgReduceOp, name: &'static str, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), name)?;
        if self.shape[d] == 0 {
            return Err(Error::shape(name, &[&self.shape], format!("dim {d} is empty")));
        }
        let a = self.arrange(&[d])?;
        let shape = self.reduced_shape(&[d], keepdim);
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let t = a.t.contiguous()?;
            return with_float!(self, name, |T| {
                let out = ferrograd_kernels::reduce::cuda::arg_reduce(
                    op,
                    t.gpu_buffer::<T>(name)?,
                    t.offset,
                    a.outer,
                    a.len,
                    a.inner,
                )
                .map_err(crate::cuda::gpu_err(name))?;
                Ok(Tensor::from_gpu(out, shape))
            });
        }
        with_float!(self, name, |T| {
            let mut out = crate::pool::filled(a.outer * a.inner, 0i64);
            arg_reduce(op, &a.t.dense_data::<T>(name)?, a.outer, a.len, a.inner, &mut out);
            Ok(Tensor::dense(out, shape))
        })
    }

    /// Index of the largest value along `dim`, as an `i64` tensor.
    pub fn argmax(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.arg_op(ArgReduceOp::ArgMax, "argmax", dim, keepdim)
    }

    /// Index of the smallest value along `dim`, as an `i64` tensor.
    pub fn argmin(&self, dim: impl Dim, keepdim: bool) -> Result<Tensor> {
        self.arg_op(ArgReduceOp::ArgMin, "argmin", dim, keepdim)
    }
}
