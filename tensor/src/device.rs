//! Where a tensor's buffer lives.

use std::fmt;

/// A compute device. Every tensor has one; ops require their operands to share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory; kernels run on the CPU (SIMD + rayon).
    #[default]
    Cpu,
    /// NVIDIA GPU number `n` (the CUDA backend is a separate milestone; asking for it today
    /// returns [`crate::Error::DeviceUnavailable`]).
    Cuda(usize),
}

impl Device {
    /// Parses `"cpu"`, `"cuda"` (device 0) or `"cuda:N"`.
    pub fn parse(s: &str) -> crate::Result<Device> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s.strip_prefix("cuda:").and_then(|n| n.parse().ok()).map(Device::Cuda).ok_or_else(|| {
                crate::Error::invalid("Device::parse", format!("unknown device {s:?} (expected cpu, cuda or cuda:N)"))
            }),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}
