//! Anomaly detection: find the first op that made a NaN or an infinity.
//!
//! A NaN in the loss is found long after it was made, and once made it spreads through every
//! value computed from it. In anomaly mode every op checks its output as it runs forward, and
//! the engine checks every gradient as each backward rule returns it; the first non-finite value
//! stops the computation with an [`Error::Anomaly`] that names the op, its rule (for a gradient),
//! and the line of source that created the op, as PyTorch's `detect_anomaly` does. The checks
//! read every value, so the mode is for debugging, not for training runs.
//!
//! ```
//! use ferrograd_autograd::{detect_anomaly, Error, Tensor, Var};
//! let x = Var::parameter(Tensor::from_vec(vec![1.0f64, 0.0], &[2]).unwrap());
//! let err = detect_anomaly(|| x.log()).unwrap_err(); // ln 0 = −∞
//! assert!(matches!(err, Error::Anomaly { op: "log", .. }));
//! ```

use crate::{OpInfo, Var};
use ferrograd_tensor::{DType, Error, Result, Tensor};
use std::cell::Cell;
use std::panic::Location;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    /// Set while the engine runs a backward rule: the ops inside a rule are not checked one by
    /// one (a rule may make an infinity and mask it, as `pow`'s does), the gradient it returns is.
    static IN_RULE: Cell<bool> = const { Cell::new(false) };
}

/// Whether anomaly mode is on (on this thread).
pub fn is_enabled() -> bool {
    ENABLED.with(|e| e.get())
}

/// Marks the running of a backward rule until dropped (see `IN_RULE`).
pub(crate) struct RuleGuard(bool);

impl RuleGuard {
    pub(crate) fn enter() -> RuleGuard {
        RuleGuard(IN_RULE.with(|r| r.replace(true)))
    }
}

impl Drop for RuleGuard {
    fn drop(&mut self) {
        IN_RULE.with(|r| r.set(self.0));
    }
}

/// Turns anomaly mode on or off for this thread (see the [module docs](self)).
pub fn set_detect_anomaly(enabled: bool) {
    ENABLED.with(|e| e.set(enabled));
}

/// Runs `f` in anomaly mode, restoring the previous mode afterwards (also on a panic).
pub fn detect_anomaly<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_detect_anomaly(self.0);
        }
    }
    let _restore = Restore(is_enabled());
    set_detect_anomaly(true);
    f()
}

/// How many NaNs and infinities a tensor holds, as `"1 NaN and 2 inf of 6 elements"`, or `None`
/// if every element is finite.
fn describe_non_finite(t: &Tensor) -> Result<Option<String>> {
    if !t.dtype().is_float() {
        return Ok(None);
    }
    let values = t.to_dtype(DType::F64)?.to_vec::<f64>()?;
    let nan = values.iter().filter(|v| v.is_nan()).count();
    let inf = values.iter().filter(|v| v.is_infinite()).count();
    Ok(match (nan, inf) {
        (0, 0) => None,
        (n, 0) => Some(format!("{n} NaN of {} elements", values.len())),
        (0, i) => Some(format!("{i} inf of {} elements", values.len())),
        (n, i) => Some(format!("{n} NaN and {i} inf of {} elements", values.len())),
    })
}

/// Checks an op's forward output.
pub(crate) fn check_forward(op: &OpInfo, value: &Tensor, at: &Location<'_>) -> Result<()> {
    if IN_RULE.with(|r| r.get()) {
        return Ok(());
    }
    match describe_non_finite(value)? {
        None => Ok(()),
        Some(what) => Err(Error::Anomaly {
            op: op.name,
            reason: format!("forward output {:?} has {what}; the op was called at {at}", value.shape()),
        }),
    }
}

/// Checks the gradient that `node`'s backward rule returned for its input number `input`.
pub(crate) fn check_backward(node: &Var, input: usize, grad: &Var) -> Result<()> {
    let Some(what) = describe_non_finite(&grad.value())? else { return Ok(()) };
    let (name, rule) = node.op_info().map_or(("leaf", ""), |op| (op.name, op.rule));
    Err(Error::Anomaly {
        op: name,
        reason: format!(
            "backward rule ({rule}) gave the gradient of input {input} {:?} with {what}; the op was called at {}",
            grad.shape(),
            node.location()
        ),
    })
}
