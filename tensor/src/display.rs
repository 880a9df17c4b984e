//! Printing tensors like PyTorch: nested brackets, aligned values, long dimensions elided.

use crate::{DType, Tensor};
use std::fmt;

/// Above this many elements, each dimension shows only its first and last `EDGE` entries.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values: Vec<f64> = match self.dtype() {
            DType::F32 => self.to_vec::<f32>().map(|v| v.into_iter().map(f64::from).collect()),
            DType::F64 => self.to_vec::<f64>(),
            DType::I64 => self.to_vec::<i64>().map(|v| v.into_iter().map(|x| x as f64).collect()),
        }
        .map_err(|_| fmt::Error)?;
        let summarize = values.len() > SUMMARIZE_ABOVE;
        let fmt_one = |v: f64| -> String {
            if self.dtype() == DType::I64 {
                format!("{v}")
            } else if v.is_finite() && v != 0.0 && (v.abs() >= 1e8 || v.abs() < 1e-4) {
                format!("{v:.4e}")
            } else {
                format!("{v:.4}")
            }
        };
        let shown = shown_indices(&self.shape, summarize);
        let width = shown.iter().map(|&i| fmt_one(values[i]).len()).max().unwrap_or(0);
        let mut out = String::from("tensor(");
        write_nested(&mut out, &self.shape, &values, 0, 0, summarize, &|v| format!("{:>width$}", fmt_one(v)));
        out.push_str(&format!(", shape={:?}, dtype={}, device={})", self.shape, self.dtype(), self.device()));
        f.write_str(&out)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The row-major indices of the elements that will be printed.
fn shown_indices(shape: &[usize], summarize: bool) -> Vec<usize> {
    let mut out = vec![0usize];
    let mut stride = 1;
    for &d in shape.iter().rev() {
        let keep: Vec<usize> = visible(d, summarize).into_iter().flatten().collect();
        out = keep.iter().flat_map(|&i| out.iter().map(move |&o| o + i * stride)).collect();
        stride *= d;
    }
    out
}

/// The entries of an axis of length `d` to print: all, or the first and last `EDGE` (the
/// `None` stands for the `...`).
fn visible(d: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && d > 2 * EDGE {
        (0..EDGE).map(Some).chain([None]).chain((d - EDGE..d).map(Some)).collect()
    } else {
        (0..d).map(Some).collect()
    }
}

fn write_nested(
    out: &mut String,
    shape: &[usize],
    values: &[f64],
    base: usize,
    depth: usize,
    summarize: bool,
    fmt_one: &dyn Fn(f64) -> String,
) {
    if shape.is_empty() {
        out.push_str(&fmt_one(values[base]));
        return;
    }
    let inner: usize = shape[1..].iter().product();
    out.push('[');
    let entries = visible(shape[0], summarize);
    for (n, entry) in entries.iter().enumerate() {
        if n > 0 {
            if shape.len() == 1 {
                out.push_str(", ");
            } else {
                out.push(',');
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(depth + 8));
            }
        }
        match entry {
            Some(i) => write_nested(out, &shape[1..], values, base + i * inner, depth + 1, summarize, fmt_one),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}
