//! CUDA launchers for `elementwise.cu`: unary maps, broadcasting binary ops, `select`.

use super::{BinaryOp, UnaryOp};
use crate::cuda::{grid_for, launch, GpuBuffer, GpuError, GpuFloat, Layout};

/// The kernel's code for a unary op and its two constant parameters (the order of `UnaryCode`
/// in the `.cu` file, which is the order of `UnaryOp`'s variants).
fn unary_code(op: UnaryOp) -> (i32, f64, f64) {
    match op {
        UnaryOp::Neg => (0, 0.0, 0.0),
        UnaryOp::Exp => (1, 0.0, 0.0),
        UnaryOp::Log => (2, 0.0, 0.0),
        UnaryOp::Sqrt => (3, 0.0, 0.0),
        UnaryOp::Abs => (4, 0.0, 0.0),
        UnaryOp::Sign => (5, 0.0, 0.0),
        UnaryOp::Tanh => (6, 0.0, 0.0),
        UnaryOp::Sigmoid => (7, 0.0, 0.0),
        UnaryOp::Relu => (8, 0.0, 0.0),
        UnaryOp::LeakyRelu(s) => (9, s, 0.0),
        UnaryOp::Gelu => (10, 0.0, 0.0),
        UnaryOp::Softplus => (11, 0.0, 0.0),
        UnaryOp::Clamp(lo, hi) => (12, lo, hi),
        UnaryOp::Erf => (13, 0.0, 0.0),
        UnaryOp::Powf(p) => (14, p, 0.0),
        UnaryOp::AddScalar(c) => (15, c, 0.0),
        UnaryOp::MulScalar(c) => (16, c, 0.0),
        UnaryOp::Recip => (17, 0.0, 0.0),
        UnaryOp::Step => (18, 0.0, 0.0),
        UnaryOp::LeakyStep(s) => (19, s, 0.0),
        UnaryOp::GeluGrad => (20, 0.0, 0.0),
    }
}

/// The kernel's code for a binary op (the order of `BinaryOp`'s variants).
fn binary_code(op: BinaryOp) -> i32 {
    match op {
        BinaryOp::Add => 0,
        BinaryOp::Sub => 1,
        BinaryOp::Mul => 2,
        BinaryOp::Div => 3,
        BinaryOp::Pow => 4,
        BinaryOp::Maximum => 5,
        BinaryOp::Minimum => 6,
        BinaryOp::Eq => 7,
        BinaryOp::Ne => 8,
        BinaryOp::Lt => 9,
        BinaryOp::Le => 10,
        BinaryOp::Gt => 11,
        BinaryOp::Ge => 12,
        BinaryOp::ReluGrad => 13,
    }
}

/// `op` applied to the `n` dense elements of `x` from `offset` (the twin of [`super::unary`]).
pub fn unary<T: GpuFloat>(op: UnaryOp, x: &GpuBuffer<T>, offset: usize, n: usize) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = x.gpu().clone();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n)?;
    if n == 0 {
        return Ok(out);
    }
    if offset + n > x.len() {
        return Err(GpuError::Invalid {
            kernel: "unary",
            message: format!("{n} elements from {offset} in a buffer of {}", x.len()),
        });
    }
    let (code, p, q) = unary_code(op);
    let (p, q) = (T::from_f64(p), T::from_f64(q));
    let (mut o, input, len) = (out.view_mut(), x.view_from("unary", offset)?, n as i64);
    // SAFETY: `unary_<T>(T* out, const T* in, i64 n, int op, T p, T q)`; both views hold at
    // least n elements.
    unsafe {
        launch!(
            gpu,
            "elementwise",
            format!("unary_{}", T::SUFFIX),
            grid_for(n, 65_535),
            [&mut o, &input, &len, &code, &p, &q]
        )
    }?;
    Ok(out)
}

/// `a op b` over one broadcast shape: `la` and `lb` are views of `a` and `b` with that shape
/// (stride 0 on broadcast dims). The twin of [`super::binary`].
pub fn binary<T: GpuFloat>(
    op: BinaryOp,
    a: &GpuBuffer<T>,
    la: &Layout,
    b: &GpuBuffer<T>,
    lb: &Layout,
) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = a.gpu().clone();
    let n: i64 = la.shape[..la.rank as usize].iter().product();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n as usize)?;
    if n == 0 {
        return Ok(out);
    }
    if la.rank != lb.rank || la.shape != lb.shape {
        return Err(GpuError::Invalid {
            kernel: "binary",
            message: format!("operand shapes differ: {la:?} vs {lb:?}"),
        });
    }
    crate::copy::cuda::check_extent("binary", a.len(), la)?;
    crate::copy::cuda::check_extent("binary", b.len(), lb)?;
    let dense = i32::from(is_dense(la) && is_dense(lb));
    let code = binary_code(op);
    let (mut o, va, vb) = (out.view_mut(), a.view(), b.view());
    // SAFETY: `binary_<T>(T* out, const T* a, const T* b, i64 n, int op, Layout la, Layout lb,
    // int dense)`; `out` holds n elements and `check_extent` bounds every index of a and b.
    unsafe {
        launch!(
            gpu,
            "elementwise",
            format!("binary_{}", T::SUFFIX),
            grid_for(n as usize, 65_535),
            [&mut o, &va, &vb, &n, &code, la, lb, &dense]
        )
    }?;
    Ok(out)
}

/// `cond != 0 ? a : b` over one broadcast shape (the twin of [`super::select`]).
pub fn select<T: GpuFloat>(
    cond: (&GpuBuffer<T>, &Layout),
    a: (&GpuBuffer<T>, &Layout),
    b: (&GpuBuffer<T>, &Layout),
) -> Result<GpuBuffer<T>, GpuError> {
    let gpu = a.0.gpu().clone();
    let n: i64 = a.1.shape[..a.1.rank as usize].iter().product();
    let mut out = GpuBuffer::<T>::alloc(&gpu, n as usize)?;
    if n == 0 {
        return Ok(out);
    }
    for (buf, layout) in [cond, a, b] {
        if layout.shape != a.1.shape {
            return Err(GpuError::Invalid { kernel: "select", message: "operand shapes differ".into() });
        }
        crate::copy::cuda::check_extent("select", buf.len(), layout)?;
    }
    let (mut o, vc, va, vb) = (out.view_mut(), cond.0.view(), a.0.view(), b.0.view());
    // SAFETY: `select_<T>(T* out, const T* c, const T* a, const T* b, i64 n, Layout lc, Layout la,
    // Layout lb)`; `out` holds n elements and `check_extent` bounds every index of the inputs.
    unsafe {
        launch!(
            gpu,
            "elementwise",
            format!("select_{}", T::SUFFIX),
            grid_for(n as usize, 65_535),
            [&mut o, &vc, &va, &vb, &n, cond.1, a.1, b.1]
        )
    }?;
    Ok(out)
}

/// Whether a layout is dense row-major (then the kernel skips the index arithmetic).
fn is_dense(l: &Layout) -> bool {
    let mut expected = 1;
    for d in (0..l.rank as usize).rev() {
        if l.shape[d] != 1 && l.strides[d] != expected {
            return false;
        }
        expected *= l.shape[d];
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes must follow the enum order of the `.cu` file; a new variant in `UnaryOp`
    /// without a code would not compile (the match is exhaustive), and this checks the codes
    /// are distinct.
    #[test]
    fn op_codes_are_distinct() {
        let unary = [
            UnaryOp::Neg,
            UnaryOp::Exp,
            UnaryOp::Log,
            UnaryOp::Sqrt,
            UnaryOp::Abs,
            UnaryOp::Sign,
            UnaryOp::Tanh,
            UnaryOp::Sigmoid,
            UnaryOp::Relu,
            UnaryOp::LeakyRelu(0.1),
            UnaryOp::Gelu,
            UnaryOp::Softplus,
            UnaryOp::Clamp(0.0, 1.0),
            UnaryOp::Erf,
            UnaryOp::Powf(2.0),
            UnaryOp::AddScalar(1.0),
            UnaryOp::MulScalar(2.0),
            UnaryOp::Recip,
            UnaryOp::Step,
            UnaryOp::LeakyStep(0.1),
            UnaryOp::GeluGrad,
        ];
        let codes: Vec<i32> = unary.iter().map(|&op| unary_code(op).0).collect();
        assert_eq!(codes, (0..21).collect::<Vec<_>>());
    }
}
