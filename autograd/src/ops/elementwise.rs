//! Elementwise ops and their derivatives. Binary ops broadcast; their rules return gradients of
//! the broadcast shape and the engine sums them back to each input's shape.

use crate::{is_grad_enabled, OpInfo, Saved, Var};
use ferrograd_tensor::{Error, Result, Tensor};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

impl Var {
    /// A constant scalar of this value's dtype.
    fn scalar(&self, v: f64) -> Var {
        Var::constant(self.value().scalar_like(v))
    }

    /// `a + b` — `∂a = g`, `∂b = g`.
    #[track_caller]
    pub fn add(&self, b: &Var) -> Result<Var> {
        let y = self.value().add(&b.value())?;
        Var::from_op(&OpInfo { name: "add", rule: "∂a = g, ∂b = g", saves: &[] }, y, &[self, b], |_, _, g| {
            Ok(vec![Some(g.clone()), Some(g.clone())])
        })
    }

    /// `a − b` — `∂a = g`, `∂b = −g`.
    #[track_caller]
    pub fn sub(&self, b: &Var) -> Result<Var> {
        let y = self.value().sub(&b.value())?;
        Var::from_op(&OpInfo { name: "sub", rule: "∂a = g, ∂b = −g", saves: &[] }, y, &[self, b], |_, _, g| {
            Ok(vec![Some(g.clone()), Some(g.neg()?)])
        })
    }

    /// `a · b` — `∂a = g · b`, `∂b = g · a`.
    #[track_caller]
    pub fn mul(&self, b: &Var) -> Result<Var> {
        let y = self.value().mul(&b.value())?;
        Var::from_op(
            &OpInfo { name: "mul", rule: "∂a = g · b, ∂b = g · a", saves: &[Saved::Input(0), Saved::Input(1)] },
            y,
            &[self, b],
            |x, _, g| Ok(vec![Some(g.mul(&x[1])?), Some(g.mul(&x[0])?)]),
        )
    }

    /// `y = a / b` — `∂a = g / b`, `∂b = −g · a / b²`.
    #[track_caller]
    pub fn div(&self, b: &Var) -> Result<Var> {
        let y = self.value().div(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "div", rule: "∂a = g / b, ∂b = −g · a / b²", saves: &[Saved::Input(0), Saved::Input(1)]
            },
            y,
            &[self, b],
            |x, _, g| {
                let ga = g.div(&x[1])?;
                let gb = ga.mul(&x[0])?.div(&x[1])?.neg()?;
                Ok(vec![Some(ga), Some(gb)])
            },
        )
    }

    /// `y = a^b` — `∂a = g · b · a^(b−1)`, `∂b = g · y · ln a`. As in PyTorch, `∂a = 0` where
    /// `b = 0` and `∂b = 0` where `a = 0` (the formulas would give `0·∞ = NaN` there).
    #[track_caller]
    pub fn pow(&self, b: &Var) -> Result<Var> {
        let y = self.value().pow(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "pow",
                rule: "∂a = g · b · a^(b−1), ∂b = g · y · ln a",
                saves: &[Saved::Input(0), Saved::Input(1), Saved::Output],
            },
            y,
            &[self, b],
            |x, y, g| {
                let (a, b) = (&x[0], &x[1]);
                let (av, bv) = (a.value(), b.value());
                let ga = g.mul(b)?.mul(&a.pow(&b.sub(&b.scalar(1.0))?)?)?;
                let ga = zero_where(&bv.eq(&bv.zeros_like())?, &ga)?;
                let gb = if b.requires_grad() {
                    let gb = g.mul(y)?.mul(&a.log()?)?;
                    Some(zero_where(&av.eq(&av.zeros_like())?, &gb)?)
                } else {
                    None
                };
                Ok(vec![Some(ga), gb])
            },
        )
    }

    /// `max(a, b)` — the gradient goes to the larger input; on a tie it is split half and half
    /// (as PyTorch): `∂a = g · m`, `∂b = g · (1 − m)` with `m = [a > b] + ½[a = b]`.
    #[track_caller]
    pub fn maximum(&self, b: &Var) -> Result<Var> {
        let y = self.value().maximum(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "maximum",
                rule: "∂a = g · m, ∂b = g · (1 − m), m = [a > b] + ½[a = b]",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            y,
            &[self, b],
            |x, _, g| split_by_mask(g, &x[0].value(), &x[1].value(), true),
        )
    }

    /// `min(a, b)` — as [`Var::maximum`] with `m = [a < b] + ½[a = b]`.
    #[track_caller]
    pub fn minimum(&self, b: &Var) -> Result<Var> {
        let y = self.value().minimum(&b.value())?;
        Var::from_op(
            &OpInfo {
                name: "minimum",
                rule: "∂a = g · m, ∂b = g · (1 − m), m = [a < b] + ½[a = b]",
                saves: &[Saved::Input(0), Saved::Input(1)],
            },
            y,
            &[self, b],
            |x, _, g| split_by_mask(g, &x[0].value(), &x[1].value(), false),
        )
    }

    /// `−x` — `∂x = −g`.
    #[track_caller]
    pub fn neg(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "neg", rule: "∂x = −g", saves: &[] },
            self.value().neg()?,
            &[self],
            |_, _, g| Ok(vec![Some(g.neg()?)]),
        )
    }

    /// `y = e^x` — `∂x = g · y`.
    #[track_caller]
    pub fn exp(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "exp", rule: "∂x = g · y", saves: &[Saved::Output] },
            self.value().exp()?,
            &[self],
            |_, y, g| Ok(vec![Some(g.mul(y)?)]),
        )
    }

    /// `ln x` — `∂x = g / x`.
    #[track_caller]
    pub fn log(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "log", rule: "∂x = g / x", saves: &[Saved::Input(0)] },
            self.value().log()?,
            &[self],
            |x, _, g| Ok(vec![Some(g.div(&x[0])?)]),
        )
    }

    /// `y = √x` — `∂x = g / (2y)`.
    #[track_caller]
    pub fn sqrt(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "sqrt", rule: "∂x = g / (2y)", saves: &[Saved::Output] },
            self.value().sqrt()?,
            &[self],
            |_, y, g| Ok(vec![Some(g.div(y)?.mul_scalar(0.5)?)]),
        )
    }

    /// `|x|` — `∂x = g · sign(x)` (0 at 0).
    #[track_caller]
    pub fn abs(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "abs", rule: "∂x = g · sign(x)", saves: &[Saved::Input(0)] },
            self.value().abs()?,
            &[self],
            |x, _, g| Ok(vec![Some(g.mul(&Var::constant(x[0].value().sign()?))?)]),
        )
    }

    /// `y = tanh x` — `∂x = g · (1 − y²)`.
    #[track_caller]
    pub fn tanh(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "tanh", rule: "∂x = g · (1 − y²)", saves: &[Saved::Output] },
            self.value().tanh()?,
            &[self],
            |_, y, g| {
                let one = y.scalar(1.0);
                Ok(vec![Some(g.mul(&one.sub(&y.mul(y)?)?)?)])
            },
        )
    }

    /// `y = σ(x) = 1 / (1 + e^−x)` — `∂x = g · y · (1 − y)`.
    #[track_caller]
    pub fn sigmoid(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "sigmoid", rule: "∂x = g · y · (1 − y)", saves: &[Saved::Output] },
            self.value().sigmoid()?,
            &[self],
            |_, y, g| Ok(vec![Some(g.mul(y)?.mul(&y.scalar(1.0).sub(y)?)?)]),
        )
    }

    /// `max(x, 0)` — `∂x = g · [x > 0]`.
    #[track_caller]
    pub fn relu(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "relu", rule: "∂x = g · [x > 0]", saves: &[Saved::Input(0)] },
            self.value().relu()?,
            &[self],
            |x, _, g| Ok(vec![Some(g.relu_grad(&x[0].value())?)]),
        )
    }

    /// ReLU's backward pass as one op, `self · [x > 0]` for the gradient `self` and the ReLU's
    /// input `x` (one pass instead of a mask and a product) — `∂g = u · [x > 0]`, the same op: it
    /// is linear in `g`, and `x` (through a step, flat almost everywhere) gets no gradient.
    #[track_caller]
    pub fn relu_grad(&self, x: &Tensor) -> Result<Var> {
        let x = x.clone();
        Var::from_op(
            &OpInfo { name: "relu_grad", rule: "∂g = u · [x > 0]", saves: &[] },
            self.value().relu_grad(&x)?,
            &[self],
            move |_, _, u| Ok(vec![Some(u.relu_grad(&x)?)]),
        )
    }

    /// `x` if `x > 0` else `s·x` — `∂x = g · ([x > 0] + s·[x ≤ 0])`.
    #[track_caller]
    pub fn leaky_relu(&self, slope: f64) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "leaky_relu", rule: "∂x = g · ([x > 0] + s·[x ≤ 0])", saves: &[Saved::Input(0)] },
            self.value().leaky_relu(slope)?,
            &[self],
            move |x, _, g| Ok(vec![Some(g.mul(&Var::constant(x[0].value().leaky_step(slope)?))?)]),
        )
    }

    /// `x · Φ(x)` with `Φ(x) = ½(1 + erf(x/√2))` — `∂x = g · (Φ(x) + x · φ(x))`, where
    /// `φ(x) = e^(−x²/2) / √(2π)` is the normal density.
    ///
    /// The derivative is one fused pass (`Tensor::gelu_grad`); with `create_graph` it is built
    /// from differentiable ops instead, so that it can be differentiated again.
    #[track_caller]
    pub fn gelu(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "gelu", rule: "∂x = g · (Φ(x) + x · φ(x))", saves: &[Saved::Input(0)] },
            self.value().gelu()?,
            &[self],
            |x, _, g| {
                let x = &x[0];
                if !is_grad_enabled() {
                    return Ok(vec![Some(g.mul(&Var::constant(x.value().gelu_grad()?))?)]);
                }
                let cdf = x.mul_scalar(FRAC_1_SQRT_2)?.erf()?.add_scalar(1.0)?.mul_scalar(0.5)?;
                let pdf = x.mul(x)?.mul_scalar(-0.5)?.exp()?.mul_scalar(1.0 / (2.0 * PI).sqrt())?;
                Ok(vec![Some(g.mul(&cdf.add(&x.mul(&pdf)?)?)?)])
            },
        )
    }

    /// `ln(1 + e^x)` — `∂x = g · σ(x)`.
    #[track_caller]
    pub fn softplus(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "softplus", rule: "∂x = g · σ(x)", saves: &[Saved::Input(0)] },
            self.value().softplus()?,
            &[self],
            |x, _, g| Ok(vec![Some(g.mul(&x[0].sigmoid()?)?)]),
        )
    }

    /// `erf x` — `∂x = g · (2/√π) · e^(−x²)`.
    #[track_caller]
    pub fn erf(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "erf", rule: "∂x = g · (2/√π) · e^(−x²)", saves: &[Saved::Input(0)] },
            self.value().erf()?,
            &[self],
            |x, _, g| {
                let x = &x[0];
                let d = x.mul(x)?.neg()?.exp()?.mul_scalar(2.0 / PI.sqrt())?;
                Ok(vec![Some(g.mul(&d)?)])
            },
        )
    }

    /// `min(max(x, lo), hi)` — `∂x = g · [lo ≤ x ≤ hi]`.
    #[track_caller]
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "clamp", rule: "∂x = g · [lo ≤ x ≤ hi]", saves: &[Saved::Input(0)] },
            self.value().clamp(lo, hi)?,
            &[self],
            move |x, _, g| {
                let v = x[0].value();
                let inside = v.ge(&v.scalar_like(lo))?.mul(&v.le(&v.scalar_like(hi))?)?;
                Ok(vec![Some(g.mul(&Var::constant(inside))?)])
            },
        )
    }

    /// `x^p` for a constant `p` — `∂x = g · p · x^(p−1)` (0 for `p = 0`, where the formula
    /// would give `0·∞` at `x = 0`).
    #[track_caller]
    pub fn powf(&self, p: f64) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "powf", rule: "∂x = g · p · x^(p−1)", saves: &[Saved::Input(0)] },
            self.value().powf(p)?,
            &[self],
            move |x, _, g| {
                if p == 0.0 {
                    return Ok(vec![Some(Var::constant(g.value().zeros_like()))]);
                }
                Ok(vec![Some(g.mul(&x[0].powf(p - 1.0)?)?.mul_scalar(p)?)])
            },
        )
    }

    /// `x + c` — `∂x = g`.
    #[track_caller]
    pub fn add_scalar(&self, c: f64) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "add_scalar", rule: "∂x = g", saves: &[] },
            self.value().add_scalar(c)?,
            &[self],
            |_, _, g| Ok(vec![Some(g.clone())]),
        )
    }

    /// `x · c` — `∂x = c · g`.
    #[track_caller]
    pub fn mul_scalar(&self, c: f64) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "mul_scalar", rule: "∂x = c · g", saves: &[] },
            self.value().mul_scalar(c)?,
            &[self],
            move |_, _, g| Ok(vec![Some(g.mul_scalar(c)?)]),
        )
    }

    /// `y = 1 / x` — `∂x = −g · y²`.
    #[track_caller]
    pub fn recip(&self) -> Result<Var> {
        Var::from_op(
            &OpInfo { name: "recip", rule: "∂x = −g · y²", saves: &[Saved::Output] },
            self.value().recip()?,
            &[self],
            |_, y, g| Ok(vec![Some(g.mul(&y.mul(y)?)?.neg()?)]),
        )
    }

    /// `cond ? a : b` (cond nonzero = true; a constant mask) — `∂a = g · [cond]`,
    /// `∂b = g · [¬cond]`.
    #[track_caller]
    pub fn where_cond(cond: &Tensor, a: &Var, b: &Var) -> Result<Var> {
        let y = Tensor::where_cond(cond, &a.value(), &b.value())?;
        let cond = cond.clone();
        Var::from_op(
            &OpInfo { name: "where", rule: "∂a = g · [cond], ∂b = g · [¬cond]", saves: &[Saved::Extra("cond")] },
            y,
            &[a, b],
            move |_, _, g| {
                let zero = Var::constant(g.value().zeros_like());
                Ok(vec![Some(Var::where_cond(&cond, g, &zero)?), Some(Var::where_cond(&cond, &zero, g)?)])
            },
        )
    }

    /// Replaces elements where `mask` is nonzero by `value` — `∂x = g · [¬mask]`.
    #[track_caller]
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Var> {
        let fill = Var::constant(self.value().scalar_like(value).expand(&self.shape())?);
        let out = Var::where_cond(mask, &fill, self)?;
        if out.shape() != self.shape() {
            return Err(Error::shape(
                "masked_fill",
                &[&self.shape(), mask.shape()],
                "mask does not broadcast to the tensor",
            ));
        }
        Ok(out)
    }
}

/// Comparisons give constant 0/1 masks: they have no gradient.
macro_rules! comparisons {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        impl Var {
            $($(#[$doc])* pub fn $name(&self, b: &Var) -> Result<Var> {
                Ok(Var::constant(self.value().$name(&b.value())?))
            })*
        }
    };
}
comparisons! {
    /// `a == b` as a constant 0/1 mask.
    eq;
    /// `a != b` as a constant 0/1 mask.
    ne;
    /// `a < b` as a constant 0/1 mask.
    lt;
    /// `a <= b` as a constant 0/1 mask.
    le;
    /// `a > b` as a constant 0/1 mask.
    gt;
    /// `a >= b` as a constant 0/1 mask.
    ge;
}

/// `0` where `mask` is nonzero, else `v` (broadcasting the mask to `v`'s shape).
fn zero_where(mask: &Tensor, v: &Var) -> Result<Var> {
    let zero = Var::constant(v.value().zeros_like());
    Var::where_cond(mask, &zero, v)
}

/// The gradients of `maximum` / `minimum`: `(g · m, g · (1 − m))` with the 0 / ½ / 1 mask `m`.
fn split_by_mask(g: &Var, a: &Tensor, b: &Tensor, max: bool) -> Result<Vec<Option<Var>>> {
    let wins = if max { a.gt(b)? } else { a.lt(b)? };
    let m = wins.add(&a.eq(b)?.mul_scalar(0.5)?)?;
    let other = m.neg()?.add_scalar(1.0)?;
    Ok(vec![Some(g.mul(&Var::constant(m))?), Some(g.mul(&Var::constant(other))?)])
}
