//! The one error type of ferrograd's tensor layer (re-used by autograd and models).

use crate::{DType, Device};
use std::fmt;

/// Everything that can go wrong in a tensor op. Each variant names the op, so a message reads
/// like `matmul: [2, 3] @ [4, 5]: inner dims 3 != 4`.
#[derive(Clone, Debug, PartialEq)]
pub enum Error {
    /// The shapes of the operands do not fit the op.
    ShapeMismatch {
        /// The op, e.g. `"matmul"`.
        op: &'static str,
        /// The operands' shapes, in argument order.
        shapes: Vec<Vec<usize>>,
        /// What exactly does not fit.
        reason: String,
    },
    /// A dimension index outside `-rank..rank`.
    DimOutOfRange {
        /// The op.
        op: &'static str,
        /// The dimension given.
        dim: i64,
        /// The tensor's rank.
        rank: usize,
    },
    /// An element index outside its axis.
    IndexOutOfRange {
        /// The op.
        op: &'static str,
        /// The index given.
        index: i64,
        /// The axis length.
        size: usize,
    },
    /// Operands of different dtypes (no implicit promotion).
    DTypeMismatch {
        /// The op.
        op: &'static str,
        /// The dtypes, in argument order.
        dtypes: Vec<DType>,
    },
    /// The op is not defined for this dtype (e.g. `exp` of an `i64` tensor).
    UnsupportedDType {
        /// The op.
        op: &'static str,
        /// The dtype given.
        dtype: DType,
    },
    /// Operands on different devices.
    DeviceMismatch {
        /// The op.
        op: &'static str,
        /// The devices, in argument order.
        devices: Vec<Device>,
    },
    /// The device cannot be used (not compiled in, no driver, no such ordinal).
    DeviceUnavailable {
        /// The device asked for.
        device: Device,
        /// Why.
        reason: String,
    },
    /// The op has no kernel on this device yet.
    UnsupportedOnDevice {
        /// The op.
        op: &'static str,
        /// The device of its operands.
        device: Device,
    },
    /// A GPU kernel or driver call failed.
    Cuda {
        /// The op that launched it.
        op: &'static str,
        /// The GPU side's message (it names the kernel or driver call).
        message: String,
    },
    /// Any other invalid argument (a bad parameter value, a data length that does not match).
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Anomaly detection found a NaN or an infinity: the op that produced it, and where.
    Anomaly {
        /// The op whose forward output or backward gradient was not finite.
        op: &'static str,
        /// What was found, and the source line that created the op.
        reason: String,
    },
    /// Reading or writing a file failed, or its contents are corrupt.
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// `Result` with ferrograd's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::ShapeMismatch`] for an op with these operand shapes.
    pub fn shape(op: &'static str, shapes: &[&[usize]], reason: impl Into<String>) -> Self {
        Error::ShapeMismatch { op, shapes: shapes.iter().map(|s| s.to_vec()).collect(), reason: reason.into() }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { op, reason: reason.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch { op, shapes, reason } => {
                let joined: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
                let sep = if *op == "matmul" { " @ " } else { ", " };
                write!(f, "{op}: {}: {reason}", joined.join(sep))
            }
            Error::DimOutOfRange { op, dim, rank } => {
                write!(
                    f,
                    "{op}: dim {dim} out of range for a tensor of rank {rank} (expected {}..{rank})",
                    -(*rank as i64)
                )
            }
            Error::IndexOutOfRange { op, index, size } => {
                write!(f, "{op}: index {index} out of range for an axis of length {size}")
            }
            Error::DTypeMismatch { op, dtypes } => {
                let names: Vec<String> = dtypes.iter().map(|d| d.to_string()).collect();
                write!(f, "{op}: dtypes differ: {}", names.join(" vs "))
            }
            Error::UnsupportedDType { op, dtype } => write!(f, "{op}: not supported for dtype {dtype}"),
            Error::DeviceMismatch { op, devices } => write!(f, "{op}: operands on different devices: {devices:?}"),
            Error::DeviceUnavailable { device, reason } => write!(f, "device {device} unavailable: {reason}"),
            Error::UnsupportedOnDevice { op, device } => write!(f, "{op}: not implemented on {device} yet"),
            Error::Cuda { op, message } => write!(f, "{op}: {message}"),
            Error::InvalidArgument { op, reason } => write!(f, "{op}: {reason}"),
            Error::Anomaly { op, reason } => write!(f, "{op}: anomaly: {reason}"),
            Error::Io { path, reason } => write!(f, "{path}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
