//! Watching a network train: per-layer activation and gradient statistics, histograms, and the
//! update-to-data ratio — the plots that tell a dead ReLU layer, a saturated tanh or a
//! learning rate that is off by 10× from a healthy run.
//!
//! [`LayerMonitor::attach`] hooks into a [`Sequential`]: every forward pass records a
//! [`Summary`] of each layer's output, and every backward pass a summary of each layer's output
//! gradient. [`update_to_data_ratio`] compares a parameter before and after an optimizer step.

use crate::layers::Sequential;
use ferrograd_autograd::{DType, Result, Tensor, Var};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// Counts of values in equal-width bins over `[lo, hi]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Lower edge of the first bin.
    pub lo: f64,
    /// Upper edge of the last bin (inclusive).
    pub hi: f64,
    /// How many values fall into each bin.
    pub counts: Vec<usize>,
}

impl Histogram {
    /// A histogram of `values` over their range, in `bins` bins. Non-finite values are left
    /// out (see [`Summary::non_finite`]).
    pub fn of(values: &[f64], bins: usize) -> Histogram {
        let bins = bins.max(1);
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (lo, hi) = finite.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let mut counts = vec![0; bins];
        if lo > hi {
            return Histogram { lo: 0.0, hi: 0.0, counts };
        }
        let width = (hi - lo) / bins as f64;
        for v in finite {
            let bin = if width > 0.0 { ((v - lo) / width) as usize } else { 0 };
            counts[bin.min(bins - 1)] += 1; // v = hi lands in the last bin
        }
        Histogram { lo, hi, counts }
    }

    /// One text line per bin: its range and a bar of `#` scaled to `width` characters.
    pub fn render(&self, width: usize) -> String {
        let most = self.counts.iter().copied().max().unwrap_or(0).max(1);
        let step = (self.hi - self.lo) / self.counts.len() as f64;
        let mut out = String::new();
        for (i, &c) in self.counts.iter().enumerate() {
            let from = self.lo + step * i as f64;
            let bar = "#".repeat((c * width).div_ceil(most));
            out.push_str(&format!("{:>9.3} .. {:<9.3} {:>7} {bar}\n", from, from + step, c));
        }
        out
    }
}

/// Statistics of a tensor's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The tensor's shape.
    pub shape: Vec<usize>,
    /// Mean of the finite values.
    pub mean: f64,
    /// Standard deviation (population) of the finite values.
    pub std: f64,
    /// Smallest finite value.
    pub min: f64,
    /// Largest finite value.
    pub max: f64,
    /// Fraction of values exactly 0 (dead ReLUs).
    pub frac_zero: f64,
    /// How many values are NaN or infinite.
    pub non_finite: usize,
    /// The values' histogram.
    pub histogram: Histogram,
}

impl Summary {
    /// Summarises a tensor's values, with a histogram of `bins` bins.
    pub fn of(t: &Tensor, bins: usize) -> Result<Summary> {
        let values = t.to_dtype(DType::F64)?.to_vec::<f64>()?;
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len().max(1) as f64;
        let mean = finite.iter().sum::<f64>() / n;
        let std = (finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let histogram = Histogram::of(&finite, bins);
        Ok(Summary {
            shape: t.shape().to_vec(),
            mean,
            std,
            min: histogram.lo,
            max: histogram.hi,
            frac_zero: values.iter().filter(|&&v| v == 0.0).count() as f64 / values.len().max(1) as f64,
            non_finite: values.len() - finite.len(),
            histogram,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} mean {:+.4} std {:.4} min {:+.4} max {:+.4} zeros {:.1}%",
            self.shape,
            self.mean,
            self.std,
            self.min,
            self.max,
            100.0 * self.frac_zero
        )?;
        if self.non_finite > 0 {
            write!(f, " NON-FINITE {}", self.non_finite)?;
        }
        Ok(())
    }
}

/// `std(after − before) / std(before)`: how large an optimizer step was relative to the
/// parameter it changed. Around 1e-3 is the usual healthy value; much larger and training is
/// unstable, much smaller and the layer barely learns.
pub fn update_to_data_ratio(before: &Tensor, after: &Tensor) -> Result<f64> {
    let std = |t: &Tensor| Summary::of(t, 1).map(|s| s.std);
    Ok(std(&after.sub(before)?)? / std(before)?)
}

/// One record: the layer's index and kind, and the summary of its output (or output gradient).
#[derive(Clone, Debug)]
pub struct LayerRecord {
    /// The layer's index in the [`Sequential`].
    pub index: usize,
    /// The layer's kind (`"Linear"`, `"Relu"`).
    pub kind: &'static str,
    /// Statistics of the recorded tensor.
    pub summary: Summary,
}

type Records = Rc<RefCell<Vec<LayerRecord>>>;

/// Records per-layer activation and gradient statistics of a [`Sequential`] through its hooks.
pub struct LayerMonitor {
    activations: Records,
    gradients: Records,
}

impl LayerMonitor {
    /// Registers a forward and a backward hook on `model` that summarise each layer's output
    /// and output gradient with `bins`-bin histograms.
    pub fn attach(model: &Sequential, bins: usize) -> LayerMonitor {
        let (activations, gradients): (Records, Records) = Default::default();
        let record = move |records: &Records, index, kind, t: &Var| {
            // A summary that cannot be read (it only fails for a device tensor) is skipped.
            if let Ok(summary) = Summary::of(&t.value(), bins) {
                records.borrow_mut().push(LayerRecord { index, kind, summary });
            }
        };
        let acts = activations.clone();
        model.register_forward_hook(move |index, kind, _input, output| record(&acts, index, kind, output));
        let grads = gradients.clone();
        model.register_backward_hook(move |index, kind, grad| record(&grads, index, kind, grad));
        LayerMonitor { activations, gradients }
    }

    /// The activation records since the last [`LayerMonitor::clear`], in forward order.
    pub fn activations(&self) -> Vec<LayerRecord> {
        self.activations.borrow().clone()
    }

    /// The gradient records since the last [`LayerMonitor::clear`], in backward order (last
    /// layer first).
    pub fn gradients(&self) -> Vec<LayerRecord> {
        self.gradients.borrow().clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.activations.borrow_mut().clear();
        self.gradients.borrow_mut().clear();
    }
}
