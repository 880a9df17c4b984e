//! Elementwise ops: unary maps (`exp`, `relu`, …) and broadcasting binary ops (`add`, `pow`, …).
//!
//! Each op's scalar formula is written once, in [`UnaryOp::apply`] / [`BinaryOp::apply`]; the
//! kernels in `cpu.rs` hoist the `match` out of the loop so each op runs as its own tight,
//! vectorised loop.

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

pub use cpu::{binary, select, unary};

use crate::Float;

/// A unary elementwise op. Parameters are `f64` and converted to the element type once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `e^x`
    Exp,
    /// `ln x`
    Log,
    /// `√x`
    Sqrt,
    /// `|x|`
    Abs,
    /// `sign(x)` ∈ {-1, 0, 1}
    Sign,
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^-x)`
    Sigmoid,
    /// `max(x, 0)`
    Relu,
    /// `x` if `x > 0`, else `slope · x`
    LeakyRelu(f64),
    /// `x · Φ(x)` with the exact normal CDF `Φ(x) = (1 + erf(x/√2)) / 2`, as PyTorch's default.
    Gelu,
    /// `ln(1 + e^x)`, computed as `max(x, 0) + ln(1 + e^-|x|)` so it never overflows.
    Softplus,
    /// `min(max(x, lo), hi)`
    Clamp(f64, f64),
    /// The error function.
    Erf,
    /// `x^p` for a constant `p`.
    Powf(f64),
    /// `x + c`
    AddScalar(f64),
    /// `x · c`
    MulScalar(f64),
    /// `1 / x`
    Recip,
    /// `1` where `x > 0`, else `0` (the derivative mask of `relu`).
    Step,
    /// `1` where `x > 0`, else `slope` (the derivative of `leaky_relu`).
    LeakyStep(f64),
    /// `Φ(x) + x·φ(x)`, with `φ(x) = e^(−x²/2)/√(2π)` the normal density: the derivative of
    /// `gelu`, in one pass.
    GeluGrad,
}

impl UnaryOp {
    /// The op's name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sign => "sign",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Gelu => "gelu",
            UnaryOp::Softplus => "softplus",
            UnaryOp::Clamp(..) => "clamp",
            UnaryOp::Erf => "erf",
            UnaryOp::Powf(_) => "powf",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::Recip => "recip",
            UnaryOp::Step => "step",
            UnaryOp::LeakyStep(_) => "leaky_step",
            UnaryOp::GeluGrad => "gelu_grad",
        }
    }

    /// The op applied to one value: the reference every kernel must agree with.
    #[inline(always)]
    pub fn apply<T: Float>(self, x: T) -> T {
        let f = T::from_f64;
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sign => sign(x),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Relu => relu(x),
            UnaryOp::LeakyRelu(s) => leaky_relu(x, f(s)),
            UnaryOp::Gelu => gelu(x),
            UnaryOp::Softplus => softplus(x),
            UnaryOp::Clamp(lo, hi) => x.max_v(f(lo)).min_v(f(hi)),
            UnaryOp::Erf => x.erf(),
            UnaryOp::Powf(p) => x.powf(f(p)),
            UnaryOp::AddScalar(c) => x + f(c),
            UnaryOp::MulScalar(c) => x * f(c),
            UnaryOp::Recip => T::ONE / x,
            UnaryOp::Step => step(x),
            UnaryOp::LeakyStep(s) => leaky_step(x, f(s)),
            UnaryOp::GeluGrad => gelu_grad(x),
        }
    }
}

#[inline(always)]
fn sign<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        x * T::ZERO
    }
}

#[inline(always)]
fn step<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else {
        T::ZERO
    }
}

#[inline(always)]
fn leaky_step<T: Float>(x: T, slope: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else {
        slope
    }
}

#[inline(always)]
fn relu<T: Float>(x: T) -> T {
    if x > T::ZERO || x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

#[inline(always)]
fn leaky_relu<T: Float>(x: T, slope: T) -> T {
    if x > T::ZERO {
        x
    } else {
        x * slope
    }
}

/// `1 / (1 + e^-x)` for `x ≥ 0` and `e^x / (1 + e^x)` for `x < 0`: neither form overflows.
#[inline(always)]
fn sigmoid<T: Float>(x: T) -> T {
    let e = (-x.abs()).exp();
    let p = T::ONE / (T::ONE + e);
    if x >= T::ZERO {
        p
    } else {
        e * p
    }
}

#[inline(always)]
fn gelu<T: Float>(x: T) -> T {
    let half = T::from_f64(0.5);
    let inv_sqrt2 = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
    x * half * (T::ONE + (x * inv_sqrt2).erf())
}

#[inline(always)]
fn gelu_grad<T: Float>(x: T) -> T {
    let half = T::from_f64(0.5);
    let inv_sqrt2 = T::from_f64(std::f64::consts::FRAC_1_SQRT_2);
    let inv_sqrt_2pi = T::from_f64(0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2);
    let cdf = half * (T::ONE + (x * inv_sqrt2).erf());
    let pdf = (-(half * x * x)).exp() * inv_sqrt_2pi;
    cdf + x * pdf
}

#[inline(always)]
fn softplus<T: Float>(x: T) -> T {
    x.max_v(T::ZERO) + (-x.abs()).exp().ln_1p()
}

/// A binary elementwise op; comparisons return `1` for true and `0` for false in the element
/// type, so a mask multiplies directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a · b`
    Mul,
    /// `a / b`
    Div,
    /// `a^b`
    Pow,
    /// `max(a, b)` (NaN propagates)
    Maximum,
    /// `min(a, b)` (NaN propagates)
    Minimum,
    /// `a == b`
    Eq,
    /// `a != b`
    Ne,
    /// `a < b`
    Lt,
    /// `a <= b`
    Le,
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
    /// `a · [b > 0]`: the gradient `a` where the input `b` of a ReLU was positive, 0 (times `a`)
    /// elsewhere — ReLU's backward pass in one pass, instead of a mask and a product.
    ReluGrad,
}

impl BinaryOp {
    /// The op applied to one pair: the reference every kernel must agree with.
    #[inline(always)]
    pub fn apply<T: Float>(self, a: T, b: T) -> T {
        let mask = |c: bool| if c { T::ONE } else { T::ZERO };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Maximum => {
                if b.is_nan() {
                    b
                } else {
                    a.max_v(b)
                }
            }
            BinaryOp::Minimum => {
                if b.is_nan() {
                    b
                } else {
                    a.min_v(b)
                }
            }
            BinaryOp::Eq => mask(a == b),
            BinaryOp::Ne => mask(a != b),
            BinaryOp::Lt => mask(a < b),
            BinaryOp::Le => mask(a <= b),
            BinaryOp::Gt => mask(a > b),
            BinaryOp::Ge => mask(a >= b),
            BinaryOp::ReluGrad => a * mask(b > T::ZERO),
        }
    }

    /// The op's name, for errors.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
            BinaryOp::ReluGrad => "relu_grad",
        }
    }
}
