//! Fused, in-place optimizer updates (the parameter's buffer is reused when not shared).

use crate::tensor::with_float;
use crate::{Error, Result, Tensor};
use ferrograd_kernels::optim::{adam_step, sgd_step};
pub use ferrograd_kernels::optim::{AdamParams, SgdParams};

impl Tensor {
    fn check_state(&self, op: &'static str, others: &[&Tensor]) -> Result<()> {
        for t in others {
            self.same_kind(t, op)?;
            if t.shape != self.shape {
                return Err(Error::shape(
                    op,
                    &[&self.shape, &t.shape],
                    "parameter, gradient and state must have one shape",
                ));
            }
        }
        Ok(())
    }

    /// One SGD step on this parameter in place, given its gradient and velocity buffer (the
    /// buffer is only read and written when `momentum != 0`).
    pub fn sgd_step_(&mut self, grad: &Tensor, velocity: &mut Tensor, h: SgdParams) -> Result<()> {
        self.check_state("sgd_step", &[grad, velocity])?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "sgd_step";
            let g = grad.gpu_exact(op)?;
            return with_float!(@dtype self.dtype(), op, |T| {
                let g = g.gpu_buffer::<T>(op)?;
                let v = velocity.gpu_buffer_mut::<T>(op)?;
                ferrograd_kernels::optim::cuda::sgd_step(self.gpu_buffer_mut::<T>(op)?, g, v, h)
                    .map_err(crate::cuda::gpu_err(op))
            });
        }
        with_float!(@dtype self.dtype(), "sgd_step", |T| {
            let g = grad.dense_data::<T>("sgd_step")?;
            let mut v_buf = std::mem::replace(velocity, Tensor::scalar(0.0 as T));
            let r = v_buf.update_in_place::<T, _>(|v| self.update_in_place::<T, _>(|p| sgd_step(p, &g, v, h)));
            *velocity = v_buf;
            r?
        })
    }

    /// One Adam/AdamW step on this parameter in place, given its gradient and moment buffers.
    pub fn adam_step_(&mut self, grad: &Tensor, m: &mut Tensor, v: &mut Tensor, h: AdamParams) -> Result<()> {
        self.check_state("adam_step", &[grad, m, v])?;
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            let op = "adam_step";
            let g = grad.gpu_exact(op)?;
            return with_float!(@dtype self.dtype(), op, |T| {
                let g = g.gpu_buffer::<T>(op)?;
                let (m, v) = (m.gpu_buffer_mut::<T>(op)?, v.gpu_buffer_mut::<T>(op)?);
                ferrograd_kernels::optim::cuda::adam_step(self.gpu_buffer_mut::<T>(op)?, g, m, v, h)
                    .map_err(crate::cuda::gpu_err(op))
            });
        }
        with_float!(@dtype self.dtype(), "adam_step", |T| {
            let g = grad.dense_data::<T>("adam_step")?;
            let (mut m_buf, mut v_buf) =
                (std::mem::replace(m, Tensor::scalar(0.0 as T)), std::mem::replace(v, Tensor::scalar(0.0 as T)));
            let r = m_buf.update_in_place::<T, _>(|mm| {
                v_buf.update_in_place::<T, _>(|vv| self.update_in_place::<T, _>(|p| adam_step(p, &g, mm, vv, h)))
            });
            *m = m_buf;
            *v = v_buf;
            r??
        })
    }
}
