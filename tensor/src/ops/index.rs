//! Indexing and assembling: `index_select`/`index_add`, `gather`/`scatter_add`, `cat`/`stack`,
//! and `pad` (zero padding along one dimension, the adjoint of `narrow`).

use crate::tensor::{with_any, with_float};
use crate::{DType, Dim, Error, Result, Tensor};
use ferrograd_kernels::copy::{contiguous_strides, copy_into};
use ferrograd_kernels::index;

impl Tensor {
    /// Checks an `i64` index tensor against an axis of length `size` and returns it as `usize`.
    fn indices(&self, op: &'static str, size: usize) -> Result<Vec<usize>> {
        if self.dtype() != DType::I64 {
            // Indices must be i64: a float index tensor is reported as an unsupported dtype.
            return Err(Error::UnsupportedDType { op, dtype: self.dtype() });
        }
        // On a GPU the values come to the host to be checked (a bad index is an error, never an
        // out-of-bounds read).
        let values =
            if self.is_cuda() { std::borrow::Cow::Owned(self.to_vec::<i64>()?) } else { self.dense_data::<i64>(op)? };
        values
            .iter()
            .map(|&i| {
                if i >= 0 && (i as usize) < size {
                    Ok(i as usize)
                } else {
                    Err(Error::IndexOutOfRange { op, index: i, size })
                }
            })
            .collect()
    }

    /// One-hot encoding of an `i64` index tensor: `[.., classes]` in `dtype`, with a 1 at each
    /// index and 0 elsewhere (as `torch.nn.functional.one_hot`). An index outside
    /// `0..classes` is an error.
    pub fn one_hot(&self, classes: usize, dtype: DType) -> Result<Tensor> {
        let idx = self.indices("one_hot", classes)?;
        let mut data = vec![0.0f64; idx.len() * classes];
        for (row, &i) in idx.iter().enumerate() {
            data[row * classes + i] = 1.0;
        }
        let mut shape = self.shape.clone();
        shape.push(classes);
        Tensor::from_vec(data, &shape)?.to_dtype(dtype)
    }

    /// The entries `index[j]` along `dim`: `out[.., j, ..] = self[.., index[j], ..]`. `index` is
    /// a 1-D `i64` tensor.
    pub fn index_select<D: Dim>(&self, dim: D, index: &Tensor) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), "index_select")?;
        if index.rank() != 1 {
            return Err(Error::shape("index_select", &[&self.shape, &index.shape], "index must be 1-D"));
        }
        let idx = index.indices("index_select", self.shape[d])?;
        let (outer, inner) = (self.shape[..d].iter().product(), self.shape[d + 1..].iter().product());
        let mut shape = self.shape.clone();
        shape[d] = idx.len();
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "index_select";
            let src = self.gpu_exact(op)?;
            return with_any!(self, |T| {
                let out = ferrograd_kernels::index::cuda::index_select(
                    src.gpu_buffer::<T>(op)?,
                    outer,
                    self.shape[d],
                    inner,
                    &idx,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(Tensor::from_gpu(out, shape))
            });
        }
        with_any!(self, |T| {
            let src = self.dense_data::<T>("index_select")?;
            let mut out = crate::pool::filled(shape.iter().product(), T::default());
            index::index_select(&src, outer, self.shape[d], inner, &idx, &mut out);
            Ok(Tensor::dense(out, shape))
        })
    }

    /// A copy of `self` with `src[.., j, ..]` added into `self[.., index[j], ..]` along `dim`
    /// (repeated indices accumulate): the adjoint of `index_select`.
    pub fn index_add<D: Dim>(&self, dim: D, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.same_kind(src, "index_add")?;
        let d = dim.resolve(self.rank(), "index_add")?;
        let mut expect = self.shape.clone();
        if index.rank() == 1 && d < expect.len() {
            expect[d] = index.shape[0];
        }
        if index.rank() != 1 || src.shape != expect {
            return Err(Error::shape(
                "index_add",
                &[&self.shape, &index.shape, &src.shape],
                format!("expected a 1-D index and a source of shape {expect:?}"),
            ));
        }
        let idx = index.indices("index_add", self.shape[d])?;
        let (outer, inner) = (self.shape[..d].iter().product(), self.shape[d + 1..].iter().product());
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "index_add";
            let (mut out, src) = (self.gpu_contiguous(true)?, src.gpu_exact(op)?);
            return with_float!(self, op, |T| {
                let n_dst = self.shape[d];
                ferrograd_kernels::index::cuda::index_add(
                    out.gpu_buffer_mut::<T>(op)?,
                    outer,
                    n_dst,
                    inner,
                    &idx,
                    src.gpu_buffer::<T>(op)?,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(out)
            });
        }
        with_float!(self, "index_add", |T| {
            let mut out = self.to_vec::<T>()?;
            index::index_add(&mut out, outer, self.shape[d], inner, &idx, &src.dense_data::<T>("index_add")?);
            Ok(Tensor::dense(out, self.shape.clone()))
        })
    }

    fn check_gather(&self, op: &'static str, d: usize, index: &Tensor) -> Result<Vec<usize>> {
        let fits = index.rank() == self.rank() && (0..self.rank()).all(|i| i == d || index.shape[i] <= self.shape[i]);
        if !fits {
            return Err(Error::shape(
                op,
                &[&self.shape, &index.shape],
                format!("index must have the same rank, and no dim larger except dim {d}"),
            ));
        }
        index.indices(op, self.shape[d])
    }

    /// `out[i][j][k] = self[i][index[i][j][k]][k]` (for `dim = 1`), as `torch.gather`. `index` is
    /// `i64`, of the same rank; the output has its shape.
    pub fn gather<D: Dim>(&self, dim: D, index: &Tensor) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), "gather")?;
        let idx = self.check_gather("gather", d, index)?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let src = self.gpu_exact("gather")?;
            let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            return with_any!(self, |T| {
                let out = ferrograd_kernels::index::cuda::gather(
                    src.gpu_buffer::<T>("gather")?,
                    &self.shape,
                    d,
                    &idx,
                    &index.shape,
                )
                .map_err(crate::cuda::gpu_err("gather"))?;
                Ok(Tensor::from_gpu(out, index.shape.clone()))
            });
        }
        with_any!(self, |T| {
            let src = self.dense_data::<T>("gather")?;
            let mut out = crate::pool::filled(idx.len(), T::default());
            index::gather(&src, &self.shape, d, &idx, &index.shape, &mut out);
            Ok(Tensor::dense(out, index.shape.clone()))
        })
    }

    /// A copy of `self` with `self[i][index[i][j][k]][k] += src[i][j][k]` (for `dim = 1`), as
    /// `torch.scatter_add`: the adjoint of `gather`. `src` has the index's shape.
    pub fn scatter_add<D: Dim>(&self, dim: D, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        self.same_kind(src, "scatter_add")?;
        let d = dim.resolve(self.rank(), "scatter_add")?;
        let idx = self.check_gather("scatter_add", d, index)?;
        if src.shape != index.shape {
            return Err(Error::shape(
                "scatter_add",
                &[&self.shape, &index.shape, &src.shape],
                "source must have the index's shape",
            ));
        }
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "scatter_add";
            let mut out = self.gpu_contiguous(true)?;
            let src = src.gpu_exact(op)?;
            let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            return with_float!(self, op, |T| {
                let dst = out.gpu_buffer_mut::<T>(op)?;
                ferrograd_kernels::index::cuda::scatter_add(
                    dst,
                    &self.shape,
                    d,
                    &idx,
                    &index.shape,
                    src.gpu_buffer::<T>(op)?,
                )
                .map_err(crate::cuda::gpu_err(op))?;
                Ok(out)
            });
        }
        with_float!(self, "scatter_add", |T| {
            let mut out = self.to_vec::<T>()?;
            index::scatter_add(&mut out, &self.shape, d, &idx, &index.shape, &src.dense_data::<T>("scatter_add")?);
            Ok(Tensor::dense(out, self.shape.clone()))
        })
    }

    /// Concatenates tensors along `dim`; all other dimensions must match.
    pub fn cat<D: Dim>(tensors: &[&Tensor], dim: D) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("cat", "no tensors given"))?;
        let d = dim.resolve(first.rank(), "cat")?;
        for t in tensors {
            first.same_kind(t, "cat")?;
            let same = t.rank() == first.rank() && (0..t.rank()).all(|i| i == d || t.shape[i] == first.shape[i]);
            if !same {
                let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
                return Err(Error::shape("cat", &shapes, format!("shapes differ outside dim {d}")));
            }
        }
        let mut shape = first.shape.clone();
        shape[d] = tensors.iter().map(|t| t.shape[d]).sum();
        let strides = contiguous_strides(&shape);
        #[cfg(feature = "cuda")]
        if first.is_cuda() {
            let mut out = first.full_on(&shape, 0.0);
            let mut start = 0;
            for t in tensors {
                out.gpu_copy_into(t, start * strides[d], &strides, "cat")?;
                start += t.shape[d];
            }
            return Ok(out);
        }
        with_any!(first, |T| {
            let mut out = crate::pool::filled(shape.iter().product(), T::default());
            let mut start = 0;
            for t in tensors {
                copy_into(t.view::<T>("cat")?, &t.shape, &mut out, start * strides[d], &strides);
                start += t.shape[d];
            }
            Ok(Tensor::dense(out, shape))
        })
    }

    /// Stacks tensors of one shape along a new dimension `dim`.
    pub fn stack<D: Dim>(tensors: &[&Tensor], dim: D) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| Error::invalid("stack", "no tensors given"))?;
        let d = dim.resolve(first.rank() + 1, "stack")?;
        if let Some(bad) = tensors.iter().find(|t| t.shape != first.shape) {
            return Err(Error::shape("stack", &[&first.shape, &bad.shape], "all tensors must have one shape"));
        }
        let expanded = tensors.iter().map(|t| t.unsqueeze(d)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&expanded.iter().collect::<Vec<_>>(), d)
    }

    /// Zero padding: `before` zeros in front of and `after` zeros behind dimension `dim`.
    /// `pad(dim, s, n − s − l)` is the adjoint of `narrow(dim, s, l)` on an axis of length `n`.
    pub fn pad<D: Dim>(&self, dim: D, before: usize, after: usize) -> Result<Tensor> {
        let d = dim.resolve(self.rank(), "pad")?;
        // Checked arithmetic: a padding so large that the size overflows is an error, not a wrap.
        let mut shape = self.shape.clone();
        let numel = before.checked_add(after).and_then(|p| p.checked_add(self.shape[d])).and_then(|len| {
            shape[d] = len;
            shape.iter().try_fold(1usize, |acc, &s| acc.checked_mul(s))
        });
        if numel.is_none() {
            return Err(Error::shape("pad", &[&self.shape], format!("padding {before} + {after} overflows")));
        }
        let strides = contiguous_strides(&shape);
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let mut out = self.full_on(&shape, 0.0);
            out.gpu_copy_into(self, before * strides[d], &strides, "pad")?;
            return Ok(out);
        }
        with_any!(self, |T| {
            let mut out = crate::pool::filled(shape.iter().product(), T::default());
            copy_into(self.view::<T>("pad")?, &self.shape, &mut out, before * strides[d], &strides);
            Ok(Tensor::dense(out, shape))
        })
    }
}
