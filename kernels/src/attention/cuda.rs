//! CUDA launcher for `attention.cu`: the fused forward pass (the twin of
//! [`super::attention_forward`] on dense operands). The backward pass on a GPU is made of GEMM
//! and elementwise kernels in the tensor layer (`Tensor::attention_backward`).

use super::AttentionSizes;
use crate::cuda::{launch, GpuBuffer, GpuError, GpuFloat};
use cudarc::driver::LaunchConfig;

/// The most shared memory one block may use without opting in (48 KiB): the query row and one
/// row of scores must fit.
const SHARED_LIMIT: usize = 48 << 10;

/// Whether [`attention_forward`] can run these sizes: a query row and a row of scores (the
/// dynamic shared memory) and the kernel's 32-value reduction scratch (static) fit in a block's
/// shared memory, and the sizes fit its 32-bit indices.
pub fn fits<T: GpuFloat>(s: &AttentionSizes) -> bool {
    (s.d + s.tk + 32) * std::mem::size_of::<T>() <= SHARED_LIMIT
        && [s.tq, s.tk, s.d, s.dv].iter().all(|&v| v <= i32::MAX as usize)
}

/// `(out, probs)`: `out [batch, tq, dv] = P·v` with `P = softmax(scale·q·kᵀ)` (causal if
/// `s.causal`), and `probs [batch, tq, tk] = P`, from dense `q [batch, tq, d]`, `k [batch, tk,
/// d]`, `v [batch, tk, dv]`.
pub fn attention_forward<T: GpuFloat>(
    s: &AttentionSizes,
    q: &GpuBuffer<T>,
    k: &GpuBuffer<T>,
    v: &GpuBuffer<T>,
) -> Result<(GpuBuffer<T>, GpuBuffer<T>), GpuError> {
    let kernel = "attention_forward";
    let invalid = |message: String| GpuError::Invalid { kernel, message };
    if !fits::<T>(s) {
        return Err(invalid(format!("{s:?}: a row of {} scores does not fit in shared memory", s.tk)));
    }
    for (what, buf, need) in
        [("q", q, s.batch * s.tq * s.d), ("k", k, s.batch * s.tk * s.d), ("v", v, s.batch * s.tk * s.dv)]
    {
        if buf.len() < need {
            return Err(invalid(format!("{what} holds {} values, {need} needed", buf.len())));
        }
    }
    let gpu = q.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, s.batch * s.tq * s.dv)?;
    let mut probs = GpuBuffer::<T>::alloc(&gpu, s.batch * s.tq * s.tk)?;
    if s.tk == 0 || s.d == 0 {
        return Err(invalid(format!("{s:?}: no keys, or no query width")));
    }
    let rows = s.batch * s.tq;
    if rows == 0 {
        return Ok((out, probs));
    }
    let cfg = LaunchConfig {
        grid_dim: (rows.min(1 << 20) as u32, 1, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: ((s.d + s.tk) * std::mem::size_of::<T>()) as u32,
    };
    let (batch, tq, tk, d, dv) = (s.batch as i64, s.tq as i32, s.tk as i32, s.d as i32, s.dv as i32);
    let (scale, causal) = (T::from_f64(s.scale), i32::from(s.causal));
    let (mut vo, mut vp, vq, vk, vv) = (out.view_mut(), probs.view_mut(), q.view(), k.view(), v.view());
    // SAFETY: `attention_forward_<T>(T* out, T* probs, const T* q, const T* k, const T* v, i64
    // batch, int tq, int tk, int d, int dv, T scale, int causal)`; the operands hold their dense
    // shapes (checked above), out and probs were allocated for theirs, and the dynamic shared
    // memory holds the d + tk values the kernel stages.
    unsafe {
        launch!(
            gpu,
            "attention",
            format!("{kernel}_{}", T::SUFFIX),
            cfg,
            [&mut vo, &mut vp, &vq, &vk, &vv, &batch, &tq, &tk, &d, &dv, &scale, &causal]
        )
    }?;
    Ok((out, probs))
}
