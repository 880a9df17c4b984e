//! Elementwise ops: unary maps and NumPy-broadcasting binary ops.

use crate::pool::written_by;
use crate::tensor::with_float;
use crate::{broadcast_shapes, BinaryOp, DType, Error, Result, Tensor, UnaryOp};
use ferrograd_kernels::elementwise;

impl Tensor {
    /// Applies a unary op elementwise (float tensors only).
    pub fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let name = op.name();
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return self.gpu_unary(op);
        }
        with_float!(self, name, |T| {
            let x = self.dense_data::<T>(name)?;
            let out = written_by(x.len(), |out| elementwise::unary(op, &x, out));
            Ok(Tensor::dense(out, self.shape.clone()))
        })
    }

    /// Applies a binary op with NumPy broadcasting. Both operands must share dtype and device.
    pub fn binary(&self, rhs: &Tensor, op: BinaryOp) -> Result<Tensor> {
        let name = op.name();
        self.same_kind(rhs, name)?;
        let shape = broadcast_shapes(name, &self.shape, &rhs.shape)?;
        let (a, b) = (self.expand(&shape)?, rhs.expand(&shape)?);
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return gpu_binary(op, &a, &b, shape);
        }
        with_float!(self, name, |T| {
            let (va, vb) = (a.view::<T>(name)?, b.view::<T>(name)?);
            let out = written_by(shape.iter().product(), |out| elementwise::binary(op, va, vb, &shape, out));
            Ok(Tensor::dense(out, shape))
        })
    }

    /// `cond ? a : b` elementwise, where `cond` is nonzero for true; all three broadcast
    /// together. `a` and `b` share dtype; `cond` may be a float mask of that dtype or `i64`.
    pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.same_kind(b, "where")?;
        let cond = if cond.dtype() == a.dtype() { cond.clone() } else { cond.to_dtype(a.dtype())? };
        let shape = broadcast_shapes("where", &broadcast_shapes("where", &cond.shape, &a.shape)?, &b.shape)?;
        let (c, x, y) = (cond.expand(&shape)?, a.expand(&shape)?, b.expand(&shape)?);
        #[cfg(feature = "cuda")]
        if a.is_cuda() {
            c.same_kind(&x, "where")?;
            return gpu_select(&c, &x, &y, shape);
        }
        with_float!(a, "where", |T| {
            let (vc, vx, vy) = (c.view::<T>("where")?, x.view::<T>("where")?, y.view::<T>("where")?);
            let out = written_by(shape.iter().product(), |out| elementwise::select(vc, vx, vy, &shape, out));
            Ok(Tensor::dense(out, shape))
        })
    }

    /// Replaces elements where `mask` is nonzero by `value` (mask broadcasts to `self`).
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        let fill = self.full_on(&[], value);
        let out = Tensor::where_cond(mask, &fill, self)?;
        if out.shape != self.shape {
            return Err(Error::shape(
                "masked_fill",
                &[&self.shape, &mask.shape],
                "mask does not broadcast to the tensor",
            ));
        }
        Ok(out)
    }

    /// A scalar tensor of this tensor's dtype (`f32` for integer tensors) and device, for ops
    /// with a constant operand. Panics only if a GPU allocation fails, as [`Tensor::zeros_like`].
    pub fn scalar_like(&self, v: f64) -> Tensor {
        let dtype = if self.dtype().is_float() { self.dtype() } else { DType::F32 };
        #[cfg(feature = "cuda")]
        if self.is_cuda() {
            return match self.gpu_full(&[], v, dtype) {
                Ok(t) => t,
                Err(e) => panic!("{e}"),
            };
        }
        Tensor::full(&[], v, dtype)
    }
}

/// Defines `Tensor::$name(&self) -> Result<Tensor>` for unary ops without parameters.
macro_rules! unary_ops {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {
            $($(#[$doc])* pub fn $name(&self) -> Result<Tensor> { self.unary($op) })*
        }
    };
}
unary_ops! {
    /// `-x`
    neg => UnaryOp::Neg;
    /// `e^x`
    exp => UnaryOp::Exp;
    /// `ln x`
    log => UnaryOp::Log;
    /// `√x`
    sqrt => UnaryOp::Sqrt;
    /// `|x|`
    abs => UnaryOp::Abs;
    /// `sign(x)` ∈ {-1, 0, 1}
    sign => UnaryOp::Sign;
    /// `tanh x`
    tanh => UnaryOp::Tanh;
    /// `1 / (1 + e^-x)`
    sigmoid => UnaryOp::Sigmoid;
    /// `max(x, 0)`
    relu => UnaryOp::Relu;
    /// `x · Φ(x)` (exact, erf-based)
    gelu => UnaryOp::Gelu;
    /// `ln(1 + e^x)` (stable)
    softplus => UnaryOp::Softplus;
    /// The error function.
    erf => UnaryOp::Erf;
    /// `1 / x`
    recip => UnaryOp::Recip;
    /// `1` where `x > 0`, else `0`.
    step => UnaryOp::Step;
    /// `Φ(x) + x·φ(x)`: the derivative of `gelu`.
    gelu_grad => UnaryOp::GeluGrad;
}

impl Tensor {
    /// `x` if `x > 0`, else `slope · x`.
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }
    /// `1` where `x > 0`, else `slope`: the derivative of `leaky_relu`.
    pub fn leaky_step(&self, slope: f64) -> Result<Tensor> {
        self.unary(UnaryOp::LeakyStep(slope))
    }
    /// `min(max(x, lo), hi)`.
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        if lo > hi {
            return Err(Error::invalid("clamp", format!("lower bound {lo} above upper bound {hi}")));
        }
        self.unary(UnaryOp::Clamp(lo, hi))
    }
    /// `x^p` for a constant exponent.
    pub fn powf(&self, p: f64) -> Result<Tensor> {
        self.unary(UnaryOp::Powf(p))
    }
    /// `x + c`
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// `x · c`
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        self.unary(UnaryOp::MulScalar(c))
    }
}

/// Defines `Tensor::$name(&self, rhs) -> Result<Tensor>` for broadcasting binary ops.
macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident => $op:expr;)*) => {
        impl Tensor {
            $($(#[$doc])* pub fn $name(&self, rhs: &Tensor) -> Result<Tensor> { self.binary(rhs, $op) })*
        }
    };
}
binary_ops! {
    /// `a + b` (broadcasting)
    add => BinaryOp::Add;
    /// `a - b` (broadcasting)
    sub => BinaryOp::Sub;
    /// `a · b` (broadcasting)
    mul => BinaryOp::Mul;
    /// `a / b` (broadcasting)
    div => BinaryOp::Div;
    /// `a^b` (broadcasting)
    pow => BinaryOp::Pow;
    /// `max(a, b)` (broadcasting)
    maximum => BinaryOp::Maximum;
    /// `min(a, b)` (broadcasting)
    minimum => BinaryOp::Minimum;
    /// `a == b` as a 0/1 mask (broadcasting)
    eq => BinaryOp::Eq;
    /// `a != b` as a 0/1 mask (broadcasting)
    ne => BinaryOp::Ne;
    /// `a < b` as a 0/1 mask (broadcasting)
    lt => BinaryOp::Lt;
    /// `a <= b` as a 0/1 mask (broadcasting)
    le => BinaryOp::Le;
    /// `a > b` as a 0/1 mask (broadcasting)
    gt => BinaryOp::Gt;
    /// `a >= b` as a 0/1 mask (broadcasting)
    ge => BinaryOp::Ge;
    /// `g · [x > 0]` for `g = self`, `x = rhs` (broadcasting): ReLU's backward pass
    relu_grad => BinaryOp::ReluGrad;
}

// ------------------------------------------------------------------------------ CUDA

#[cfg(feature = "cuda")]
impl Tensor {
    /// `unary` on the GPU: the op over the dense data (gathered first if strided).
    fn gpu_unary(&self, op: UnaryOp) -> Result<Tensor> {
        let name = op.name();
        let x = self.contiguous()?;
        with_float!(self, name, |T| {
            let out = ferrograd_kernels::elementwise::cuda::unary(op, x.gpu_buffer::<T>(name)?, x.offset, x.numel())
                .map_err(crate::cuda::gpu_err(name))?;
            Ok(Tensor::from_gpu(out, self.shape.clone()))
        })
    }
}

/// `binary` on the GPU: both operands already expanded to `shape` (broadcast dims have stride 0).
#[cfg(feature = "cuda")]
fn gpu_binary(op: BinaryOp, a: &Tensor, b: &Tensor, shape: Vec<usize>) -> Result<Tensor> {
    let name = op.name();
    let (la, lb) = (a.gpu_layout(name)?, b.gpu_layout(name)?);
    with_float!(a, name, |T| {
        let out = ferrograd_kernels::elementwise::cuda::binary(
            op,
            a.gpu_buffer::<T>(name)?,
            &la,
            b.gpu_buffer::<T>(name)?,
            &lb,
        )
        .map_err(crate::cuda::gpu_err(name))?;
        Ok(Tensor::from_gpu(out, shape))
    })
}

/// `where_cond` on the GPU: all three expanded to `shape`, `c` of the values' dtype.
#[cfg(feature = "cuda")]
fn gpu_select(c: &Tensor, a: &Tensor, b: &Tensor, shape: Vec<usize>) -> Result<Tensor> {
    let name = "where";
    let (lc, la, lb) = (c.gpu_layout(name)?, a.gpu_layout(name)?, b.gpu_layout(name)?);
    with_float!(a, name, |T| {
        let out = ferrograd_kernels::elementwise::cuda::select(
            (c.gpu_buffer::<T>(name)?, &lc),
            (a.gpu_buffer::<T>(name)?, &la),
            (b.gpu_buffer::<T>(name)?, &lb),
        )
        .map_err(crate::cuda::gpu_err(name))?;
        Ok(Tensor::from_gpu(out, shape))
    })
}
