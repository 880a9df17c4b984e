//! Numerical gradient checks, in `f64`.
//!
//! [`gradcheck`] builds the full Jacobian of a function twice: analytically, one backward pass
//! per output element (row `k` is `∂y_k/∂x` from a one-hot `grad_output`), and numerically, by
//! central differences `(f(x + εe_j) − f(x − εe_j)) / 2ε` per input element (column `j`). Every
//! entry must satisfy `|analytic − numeric| ≤ atol + rtol·|numeric|`. The error of a central
//! difference is `O(ε²·f‴)` plus rounding `O(δ/ε)` with `δ ≈ 1e-16·|f|`: with `ε = 1e-6` both are
//! around 1e-10 for well-scaled functions, so `atol = 1e-5, rtol = 1e-3` (PyTorch's defaults)
//! leave a wide margin for genuine rounding and flag any wrong rule, which errs by O(1).
//!
//! [`gradgradcheck`] checks the gradients of the gradients: it runs [`gradcheck`] on
//! `(x, v) ↦ grad(f(x), x, v, create_graph = true)`, so every backward rule must itself be
//! differentiable.

use crate::{grad, Var};
use ferrograd_tensor::{DType, Error, Result, Rng, Tensor};
use std::fmt;

/// Tolerances for [`gradcheck`] (PyTorch's defaults).
#[derive(Clone, Copy, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance.
    pub rtol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, atol: 1e-5, rtol: 1e-3 }
    }
}

/// The outcome of a check: whether it passed, and its worst Jacobian entry.
#[derive(Clone, Debug)]
pub struct GradcheckReport {
    /// What was checked.
    pub name: String,
    /// Whether every entry was within tolerance.
    pub passed: bool,
    /// Which input the worst entry belongs to.
    pub input: usize,
    /// The worst entry's output element (row-major, over all outputs concatenated).
    pub output_index: usize,
    /// The worst entry's input element (row-major).
    pub input_index: usize,
    /// Its analytic value.
    pub analytic: f64,
    /// Its numeric value.
    pub numeric: f64,
    /// Number of Jacobian entries compared.
    pub entries: usize,
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: worst entry d out[{}] / d input{}[{}]: analytic {:.6e} vs numeric {:.6e} (|diff| {:.2e}; {} entries)",
            self.name,
            if self.passed { "passed" } else { "FAILED" },
            self.output_index,
            self.input,
            self.input_index,
            self.analytic,
            self.numeric,
            (self.analytic - self.numeric).abs(),
            self.entries
        )
    }
}

/// Borrows each `Var` of a slice (the form [`grad`] takes).
fn refs(vars: &[Var]) -> Vec<&Var> {
    vars.iter().collect()
}

/// Evaluates `f` and flattens all its outputs into one `f64` vector.
fn eval_flat(f: &dyn Fn(&[Var]) -> Result<Vec<Var>>, inputs: &[Tensor]) -> Result<Vec<f64>> {
    // Leaves that require gradients, with recording on: `f` may itself call `grad` (as in
    // gradgradcheck), which needs a graph to differentiate.
    let vars: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let outs = f(&vars)?;
    let mut flat = Vec::new();
    for o in outs {
        flat.extend(o.value().to_dtype(DType::F64)?.to_vec::<f64>()?);
    }
    Ok(flat)
}

/// Checks the gradient of a function with several outputs against finite differences.
/// `inputs` are converted to `f64`; each becomes a leaf that requires a gradient.
pub fn gradcheck_multi(
    name: &str,
    f: &dyn Fn(&[Var]) -> Result<Vec<Var>>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<GradcheckReport> {
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F64)?.contiguous()).collect::<Result<_>>()?;
    // Analytic Jacobian, one row per output element.
    let leaves: Vec<Var> = inputs.iter().map(|t| Var::parameter(t.clone())).collect();
    let outputs = f(&leaves)?;
    let out_sizes: Vec<usize> = outputs.iter().map(|o| o.shape().iter().product()).collect();
    let n_out: usize = out_sizes.iter().sum();
    let in_sizes: Vec<usize> = inputs.iter().map(Tensor::numel).collect();
    let mut analytic: Vec<Vec<Vec<f64>>> = in_sizes.iter().map(|&n| vec![vec![0.0; n]; n_out]).collect();
    let mut row = 0;
    for (k, o) in outputs.iter().enumerate() {
        for e in 0..out_sizes[k] {
            let seeds: Vec<Var> = outputs
                .iter()
                .enumerate()
                .map(|(kk, oo)| {
                    let mut s = vec![0.0f64; out_sizes[kk]];
                    if kk == k {
                        s[e] = 1.0;
                    }
                    Tensor::from_vec(s, &oo.shape()).map(Var::constant)
                })
                .collect::<Result<_>>()?;
            let requiring: Vec<Var> = outputs.iter().filter(|o| o.requires_grad()).cloned().collect();
            let seeds: Vec<Var> =
                outputs.iter().zip(seeds).filter(|(o, _)| o.requires_grad()).map(|(_, s)| s).collect();
            let grads = if requiring.is_empty() {
                vec![None; leaves.len()]
            } else {
                grad(&refs(&requiring), &refs(&leaves), &refs(&seeds), false)?
            };
            for (i, gi) in grads.iter().enumerate() {
                if let Some(gi) = gi {
                    analytic[i][row] = gi.value().to_vec::<f64>()?;
                }
            }
            row += 1;
        }
        let _ = o;
    }
    // Numeric Jacobian, one column per input element, and the comparison.
    let mut report = GradcheckReport {
        name: name.to_string(),
        passed: true,
        input: 0,
        output_index: 0,
        input_index: 0,
        analytic: 0.0,
        numeric: 0.0,
        entries: 0,
    };
    let mut worst = f64::NEG_INFINITY;
    for (i, x) in inputs.iter().enumerate() {
        let base = x.to_vec::<f64>()?;
        for j in 0..base.len() {
            let shifted = |delta: f64| -> Result<Vec<f64>> {
                let mut v = base.clone();
                v[j] += delta;
                let mut ins = inputs.clone();
                ins[i] = Tensor::from_vec(v, x.shape())?;
                eval_flat(f, &ins)
            };
            let (plus, minus) = (shifted(opts.eps)?, shifted(-opts.eps)?);
            for r in 0..n_out {
                let numeric = (plus[r] - minus[r]) / (2.0 * opts.eps);
                let a = analytic[i][r][j];
                let err = (a - numeric).abs();
                let allowed = opts.atol + opts.rtol * numeric.abs();
                let score = if err.is_nan() { f64::INFINITY } else { err / allowed };
                report.entries += 1;
                if score > worst {
                    worst = score;
                    report.input = i;
                    report.output_index = r;
                    report.input_index = j;
                    report.analytic = a;
                    report.numeric = numeric;
                }
            }
        }
    }
    report.passed = worst <= 1.0;
    Ok(report)
}

/// Checks `∂f/∂inputs` against central finite differences in `f64`. Returns a report with the
/// worst Jacobian entry (an `Err` only if `f` itself fails).
pub fn gradcheck(
    name: &str,
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<GradcheckReport> {
    gradcheck_multi(name, &|xs| Ok(vec![f(xs)?]), inputs, opts)
}

/// Checks second derivatives: runs [`gradcheck_multi`] on
/// `(x…, v) ↦ grad(f(x…), x…, v, create_graph = true)` with a random `v` of the output's shape,
/// differentiating with respect to both `x` and `v` (as PyTorch's `gradgradcheck`).
pub fn gradgradcheck(
    name: &str,
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
    seed: u64,
) -> Result<GradcheckReport> {
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_dtype(DType::F64)).collect::<Result<_>>()?;
    let probe: Vec<Var> = inputs.iter().map(|t| Var::constant(t.clone())).collect();
    let out_shape = crate::no_grad(|| f(&probe))?.shape();
    let v = Rng::new(seed).normal_tensor(&out_shape, 0.0, 1.0, DType::F64)?;
    let n = inputs.len();
    let mut all = inputs.clone();
    all.push(v);
    let grad_fn = |xs: &[Var]| -> Result<Vec<Var>> {
        let (x, v) = (&xs[..n], &xs[n]);
        let y = f(x)?;
        if !y.requires_grad() {
            return Err(Error::invalid("gradgradcheck", "the function does not depend on its inputs"));
        }
        let gs = grad(&[&y], &refs(x), &[v], true)?;
        gs.into_iter()
            .zip(x)
            .map(|(g, xi)| match g {
                Some(g) => Ok(g),
                None => Ok(Var::constant(xi.value().zeros_like())),
            })
            .collect()
    };
    gradcheck_multi(&format!("{name} (second order)"), &grad_fn, &all, opts)
}

/// How a gradient worked out by hand compares with the one autograd computed: the check that
/// backprop exercises (such as Karpathy's "makemore" notebooks) run after each hand-derived
/// step. Printed, it reads `dW1 | exact: false | approximate: true | max diff: 4.4e-16`.
#[derive(Clone, Debug, PartialEq)]
pub struct GradComparison {
    /// What was compared.
    pub name: String,
    /// Every element is bit-for-bit equal.
    pub exact: bool,
    /// Every element is within `1e-8 + 1e-5·|autograd|` (`torch.allclose`'s default tolerances:
    /// a hand derivation that sums in another order lands within them, a wrong one does not).
    pub approximate: bool,
    /// The largest absolute difference.
    pub max_abs_diff: f64,
}

impl fmt::Display for GradComparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<15} | exact: {:<5} | approximate: {:<5} | max diff: {:.1e}",
            self.name, self.exact, self.approximate, self.max_abs_diff
        )
    }
}

/// Compares `manual`, a gradient computed by hand, with the gradient autograd stored in `var`
/// (run `backward` first). Errors if `var` has no gradient or the shapes differ.
pub fn compare_gradient(name: &str, manual: &Tensor, var: &Var) -> Result<GradComparison> {
    let auto = var.grad().ok_or_else(|| {
        Error::invalid("compare_gradient", format!("{name}: no gradient stored; call backward() first"))
    })?;
    if manual.shape() != auto.shape() {
        return Err(Error::shape(
            "compare_gradient",
            &[manual.shape(), auto.shape()],
            format!("{name}: shapes differ"),
        ));
    }
    let as_f64 = |t: &Tensor| t.to_dtype(DType::F64)?.to_vec::<f64>();
    let (m, a) = (as_f64(manual)?, as_f64(&auto)?);
    let mut cmp = GradComparison { name: name.to_string(), exact: true, approximate: true, max_abs_diff: 0.0 };
    for (m, a) in m.iter().zip(&a) {
        let diff = (m - a).abs();
        cmp.exact &= m == a || (m.is_nan() && a.is_nan());
        cmp.approximate &= diff <= 1e-8 + 1e-5 * a.abs();
        cmp.max_abs_diff = cmp.max_abs_diff.max(diff);
    }
    Ok(cmp)
}
