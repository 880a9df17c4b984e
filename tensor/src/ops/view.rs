//! Views: ops that change how a buffer is read (shape, strides, offset), never the data.
//!
//! `reshape` of a non-contiguous tensor, and `contiguous`, are the only ones here that may copy.

use crate::pool::written_by;
use crate::tensor::with_any;
use crate::{Dim, Error, Result, Tensor};
use ferrograd_kernels::copy::{contiguous_strides, copy_strided};

impl Tensor {
    fn with_layout(&self, shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Tensor {
        Tensor { storage: self.storage.clone(), shape, strides, offset }
    }

    /// The same elements with a new shape of equal size. A view when the tensor is contiguous,
    /// otherwise a copy (as `torch.reshape`).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if crate::checked_numel("reshape", shape)? != self.numel() {
            return Err(Error::shape("reshape", &[&self.shape, shape], "element counts differ"));
        }
        let base = if self.is_contiguous() { self.clone() } else { self.contiguous()? };
        Ok(base.with_layout(shape.to_vec(), contiguous_strides(shape), base.offset))
    }

    /// Flattens dimensions `start..=end` into one.
    pub fn flatten<D: Dim>(&self, start: D, end: D) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let (s, e) = (start.resolve(self.rank(), "flatten")?, end.resolve(self.rank(), "flatten")?);
        if s > e {
            return Err(Error::invalid("flatten", format!("start dim {s} after end dim {e}")));
        }
        let mut shape = self.shape[..s].to_vec();
        shape.push(self.shape[s..=e].iter().product());
        shape.extend_from_slice(&self.shape[e + 1..]);
        self.reshape(&shape)
    }

    /// Reorders the dimensions: result dim `i` is input dim `dims[i]`.
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        if dims.len() != self.rank() || dims.iter().any(|&d| d >= self.rank() || std::mem::replace(&mut seen[d], true))
        {
            return Err(Error::shape("permute", &[&self.shape, dims], "not a permutation of the dimensions"));
        }
        let shape = dims.iter().map(|&d| self.shape[d]).collect();
        let strides = dims.iter().map(|&d| self.strides[d]).collect();
        Ok(self.with_layout(shape, strides, self.offset))
    }

    /// Swaps two dimensions.
    pub fn transpose<D: Dim>(&self, d0: D, d1: D) -> Result<Tensor> {
        let (a, b) = (d0.resolve(self.rank(), "transpose")?, d1.resolve(self.rank(), "transpose")?);
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// The transpose of a matrix (swaps the last two dimensions).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::shape("t", &[&self.shape], "needs at least 2 dimensions"));
        }
        self.transpose(-2, -1)
    }

    /// Elements `start..start + len` along `dim`.
    pub fn narrow<D: Dim>(&self, dim: D, start: usize, len: usize) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), "narrow")?;
        if start.checked_add(len).is_none_or(|end| end > self.shape[d]) {
            return Err(Error::shape(
                "narrow",
                &[&self.shape],
                format!("range {start}..{start}+{len} exceeds dim {d} of length {}", self.shape[d]),
            ));
        }
        let mut shape = self.shape.clone();
        shape[d] = len;
        Ok(self.with_layout(shape, self.strides.clone(), self.offset + start * self.strides[d]))
    }

    /// Removes dimension `dim`, which must have size 1.
    pub fn squeeze<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), "squeeze")?;
        if self.shape[d] != 1 {
            return Err(Error::shape("squeeze", &[&self.shape], format!("dim {d} has size {}, not 1", self.shape[d])));
        }
        let (mut shape, mut strides) = (self.shape.clone(), self.strides.clone());
        shape.remove(d);
        strides.remove(d);
        Ok(self.with_layout(shape, strides, self.offset))
    }

    /// Inserts a dimension of size 1 at `dim` (`0..=rank`; negative counts from the back of the
    /// result, so `-1` appends).
    pub fn unsqueeze<D: Dim>(&self, dim: D) -> Result<Tensor> {
        let d = dim.resolve(self.rank() + 1, "unsqueeze")?;
        let (mut shape, mut strides) = (self.shape.clone(), self.strides.clone());
        let stride = if d < self.rank() { self.strides[d] * self.shape[d] } else { 1 };
        shape.insert(d, 1);
        strides.insert(d, stride);
        Ok(self.with_layout(shape, strides, self.offset))
    }

    /// Broadcasts to `shape` (NumPy rules: new leading dims, or size-1 dims repeated) by giving
    /// repeated dims stride 0. Copies nothing.
    pub fn expand(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.len() < self.rank() {
            return Err(Error::shape("expand", &[&self.shape, shape], "target has fewer dimensions"));
        }
        crate::checked_numel("expand", shape)?;
        let lead = shape.len() - self.rank();
        let mut strides = vec![0; shape.len()];
        for (i, &size) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            strides[i] = if d == size {
                s
            } else if d == 1 {
                0
            } else {
                return Err(Error::shape(
                    "expand",
                    &[&self.shape, shape],
                    format!("dim {i}: cannot expand {d} to {size}"),
                ));
            };
        }
        Ok(self.with_layout(shape.to_vec(), strides, self.offset))
    }

    /// Same as [`Tensor::expand`].
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        self.expand(shape)
    }

    /// A row-major dense tensor with the same elements: `self` if it already is one, else a copy.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.is_contiguous() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return self.gpu_contiguous(false);
        }
        with_any!(self, |T| {
            let view = self.view::<T>("contiguous")?;
            let out = written_by(self.numel(), |out| copy_strided(view, &self.shape, out));
            Ok(Tensor::dense(out, self.shape.clone()))
        })
    }
}
