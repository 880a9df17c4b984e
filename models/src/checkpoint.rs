//! Saving and loading model weights in the safetensors format (readable from PyTorch with
//! `safetensors.torch.load_file`).
//!
//! Each parameter is stored under its dotted name from [`Module::named_parameters`], little-endian,
//! with its dtype and shape. Loading is strict, as PyTorch's default: every parameter must be in
//! the file with the same dtype and shape, and the file must hold nothing else; every mismatch is
//! an error naming the tensor and the shapes.

use crate::Module;
use ferrograd_autograd::{DType, Error, Result, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

fn io_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Io { path: path.display().to_string(), reason: reason.into() }
}

/// A parameter as safetensors stores it: dtype, shape and little-endian bytes.
type Encoded = (Dtype, Vec<usize>, Vec<u8>);

/// A parameter's value as safetensors dtype, shape and little-endian bytes.
fn to_bytes(t: &Tensor) -> Result<Encoded> {
    let bytes = match t.dtype() {
        DType::F32 => (Dtype::F32, t.to_vec::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::F64 => (Dtype::F64, t.to_vec::<f64>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
        DType::I64 => (Dtype::I64, t.to_vec::<i64>()?.iter().flat_map(|v| v.to_le_bytes()).collect()),
    };
    Ok((bytes.0, t.shape().to_vec(), bytes.1))
}

/// Writes every parameter of `module` to `path`.
pub fn save(module: &dyn Module, path: &Path) -> Result<()> {
    let params = module.named_parameters();
    let encoded: Vec<(String, Encoded)> =
        params.iter().map(|(name, p)| Ok((name.clone(), to_bytes(&p.value())?))).collect::<Result<_>>()?;
    let views = encoded
        .iter()
        .map(|(name, (dtype, shape, bytes))| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.as_str(), v))
                .map_err(|e| io_err(path, format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut info = HashMap::new();
    info.insert("format".to_string(), "ferrograd".to_string());
    let bytes = safetensors::serialize(views, Some(info)).map_err(|e| io_err(path, e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| io_err(path, format!("cannot write: {e}")))
}

/// Reads `path` into the parameters of `module` (strict: names, dtypes and shapes must match).
pub fn load(module: &dyn Module, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, format!("cannot read: {e}")))?;
    let file =
        SafeTensors::deserialize(&bytes).map_err(|e| io_err(path, format!("not a valid safetensors file: {e}")))?;
    let params = module.named_parameters();
    // Check everything before changing anything, so a bad file leaves the model untouched.
    let mut values = Vec::with_capacity(params.len());
    for (name, p) in &params {
        let view = file.tensor(name).map_err(|_| io_err(path, format!("tensor {name:?} is missing")))?;
        let want = p.shape();
        if view.shape() != want.as_slice() {
            return Err(io_err(
                path,
                format!("tensor {name:?}: shape {:?} in the file, {want:?} in the model", view.shape()),
            ));
        }
        let data = view.data();
        let t = match (p.dtype(), view.dtype()) {
            (DType::F32, Dtype::F32) => Tensor::from_vec(decode(data, f32::from_le_bytes), &want)?,
            (DType::F64, Dtype::F64) => Tensor::from_vec(decode(data, f64::from_le_bytes), &want)?,
            (DType::I64, Dtype::I64) => Tensor::from_vec(decode(data, i64::from_le_bytes), &want)?,
            (ours, theirs) => {
                return Err(io_err(
                    path,
                    format!("tensor {name:?}: dtype {theirs:?} in the file, {ours} in the model"),
                ));
            }
        };
        // Onto the parameter's device, so that a model moved to a GPU can load a checkpoint.
        values.push(t.to_device(p.value().device())?);
    }
    let known: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = file.names().into_iter().find(|n| !known.contains(n)) {
        return Err(io_err(path, format!("tensor {extra:?} in the file is not a parameter of the model")));
    }
    for ((_, p), t) in params.iter().zip(values) {
        p.set_value(t)?;
    }
    Ok(())
}

/// Little-endian bytes to values (the length was checked by safetensors against the shape).
fn decode<T, const N: usize>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N).map(|c| from(c.try_into().unwrap_or([0; N]))).collect()
}
