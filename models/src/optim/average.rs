//! Weight averaging: an exponential moving average of the parameters over the training steps.

use ferrograd_autograd::{Error, Result, Tensor, Var};

/// An exponential moving average (EMA) of parameters, updated after each optimizer step:
///
/// `avg ← decay · avg + (1 − decay) · p`   (the first update copies `p`)
///
/// PyTorch's `torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))`.
///
/// Why it helps: late in training, SGD-style updates jitter around a minimum at a scale set by
/// the learning rate and the gradient noise. The average of the recent iterates (Polyak
/// averaging) sits nearer the middle of that region than any one of them, which usually lowers
/// the held-out loss a little, at the price of one extra copy of the weights. `decay` sets how
/// far back it looks: about `1 / (1 − decay)` steps.
///
/// Only parameters are averaged; buffers such as BatchNorm's running statistics are not (recompute
/// them with the averaged weights if the model has any).
pub struct ExponentialMovingAverage {
    params: Vec<Var>,
    averages: Vec<Option<Tensor>>,
    decay: f64,
}

impl ExponentialMovingAverage {
    /// An average of `params` (empty until the first [`update`](Self::update)), `decay ∈ [0, 1)`.
    pub fn new(params: Vec<Var>, decay: f64) -> Result<ExponentialMovingAverage> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::invalid("ExponentialMovingAverage", format!("decay {decay} not in [0, 1)")));
        }
        Ok(ExponentialMovingAverage { averages: vec![None; params.len()], params, decay })
    }

    /// Folds the parameters' current values into the average (call it after each optimizer step).
    pub fn update(&mut self) -> Result<()> {
        for (p, avg) in self.params.iter().zip(&mut self.averages) {
            // `value()` shares the parameter's buffer; in-place optimizer steps copy on write, so
            // the first average stays as it was.
            let p = p.value();
            *avg = Some(match avg.take() {
                None => p,
                Some(a) => a.mul_scalar(self.decay)?.add(&p.mul_scalar(1.0 - self.decay)?)?,
            });
        }
        Ok(())
    }

    /// The averaged value of each parameter (`None` before the first update).
    pub fn averages(&self) -> &[Option<Tensor>] {
        &self.averages
    }

    /// Runs `f` with the averaged values in the parameters, then puts the trained values back
    /// (also when `f` fails). For evaluating the averaged model while training goes on.
    pub fn with_averages<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let trained: Vec<Tensor> = self.params.iter().map(Var::value).collect();
        self.copy_to_params()?;
        let result = f();
        for (p, t) in self.params.iter().zip(trained) {
            p.set_value(t)?;
        }
        result
    }

    /// Replaces the parameters' values by their averages (at the end of training). Errors if
    /// nothing has been averaged yet.
    pub fn copy_to_params(&self) -> Result<()> {
        for (p, avg) in self.params.iter().zip(&self.averages) {
            let avg = avg
                .as_ref()
                .ok_or_else(|| Error::invalid("ExponentialMovingAverage", "no update has been averaged yet"))?;
            p.set_value(avg.clone())?;
        }
        Ok(())
    }
}
