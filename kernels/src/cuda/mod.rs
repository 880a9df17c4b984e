//! The CUDA side of the kernels (behind the `cuda` feature): one GPU's context, stream, compiled
//! modules and memory cache ([`Gpu`]), device buffers ([`GpuBuffer`]), and the errors they raise.
//!
//! The kernels themselves live beside their CPU twins, one op family per folder:
//! `<family>/<family>.cu` is the CUDA C source and `<family>/cuda.rs` launches it. Sources are
//! compiled at run time with NVRTC for the device's own architecture (`sm_XY` read from the
//! device), once per process and family, and loaded as PTX modules: no `nvcc` at build time, so
//! the crate builds on machines without a CUDA toolkit.
//!
//! cudarc loads `libcuda` and `libnvrtc` on first use and *panics* if they are missing, so
//! [`Gpu::get`] looks for both first and turns their absence into [`GpuError::Unavailable`].

mod buffer;
mod compile;
mod device;

/// The cudarc crate this backend is built on, for benchmarks that need its events or cuBLAS.
pub use cudarc;

pub use buffer::{size_class, GpuBuffer, GpuElement, GpuFloat, CACHE_LIMIT_BYTES};
pub use compile::{compile_ptx, sources};
pub use device::{device_count, Gpu};

/// What went wrong on the GPU side. Every variant names the kernel, op or call involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// No usable CUDA device: driver or NVRTC missing, or no device with that number.
    Unavailable(String),
    /// NVRTC rejected a kernel source (a bug in ferrograd's `.cu` files): the family and the log.
    Compile {
        /// The op family whose source failed, e.g. `"matmul"`.
        family: &'static str,
        /// NVRTC's log.
        log: String,
    },
    /// A driver call failed: which call or kernel, and the driver's message.
    Driver {
        /// The kernel or driver call, e.g. `"sgemm_tiled_f32"` or `"alloc"`.
        what: String,
        /// The driver's error.
        message: String,
    },
    /// The arguments given to a launcher do not fit the kernel (lengths, sizes).
    Invalid {
        /// The kernel.
        kernel: &'static str,
        /// What does not fit.
        message: String,
    },
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::Unavailable(why) => write!(f, "CUDA unavailable: {why}"),
            GpuError::Compile { family, log } => write!(f, "NVRTC could not compile {family}.cu:\n{log}"),
            GpuError::Driver { what, message } => write!(f, "CUDA error in {what}: {message}"),
            GpuError::Invalid { kernel, message } => write!(f, "{kernel}: {message}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// Wraps a cudarc driver error with the name of the call or kernel that raised it.
pub(crate) fn driver_err(what: impl Into<String>) -> impl FnOnce(cudarc::driver::DriverError) -> GpuError {
    let what = what.into();
    move |e| GpuError::Driver { what, message: format!("{e:?}") }
}

/// Launch geometry for `n` independent elements with a grid-stride loop: 256 threads per block
/// and at most `max_blocks` blocks (each thread then handles several elements).
pub(crate) fn grid_for(n: usize, max_blocks: u32) -> cudarc::driver::LaunchConfig {
    let blocks = n.div_ceil(256).clamp(1, max_blocks as usize) as u32;
    cudarc::driver::LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

/// Launches kernel `$name` of op family `$family` with `$cfg` and the arguments in brackets,
/// mapping a failure to an error that names the kernel. Must be used inside `unsafe { }`: the
/// caller guarantees that the arguments match the kernel's parameter list in number, order and
/// type, and that every buffer the kernel indexes is large enough for the sizes passed.
macro_rules! launch {
    ($gpu:expr, $family:expr, $name:expr, $cfg:expr, [$($arg:expr),* $(,)?]) => {{
        let name: &str = &$name;
        match $gpu.function($family, name) {
            Err(e) => Err(e),
            Ok(f) => {
                let mut builder = $gpu.stream().launch_builder(&f);
                $( cudarc::driver::PushKernelArg::arg(&mut builder, $arg); )*
                builder.launch($cfg).map(|_| ()).map_err($crate::cuda::driver_err(name))
            }
        }
    }};
}
pub(crate) use launch;

/// The largest rank a strided kernel argument ([`Layout`]) describes.
pub const MAX_RANK: usize = 8;

/// A strided view's shape and strides, passed to kernels by value (a `#[repr(C)]` struct that
/// matches `struct Layout` in the `.cu` sources). Unused trailing dims have size 1.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Number of dims in use.
    pub rank: i32,
    /// Offset of element `[0, …, 0]`.
    pub offset: i64,
    /// Sizes.
    pub shape: [i64; MAX_RANK],
    /// Strides in elements (0 for a broadcast dim).
    pub strides: [i64; MAX_RANK],
}

// SAFETY: `Layout` is `#[repr(C)]`, `Copy`, holds only plain integers, and matches the field
// order and types of `struct Layout` in the CUDA sources, so its bytes are a valid kernel argument.
unsafe impl cudarc::driver::DeviceRepr for Layout {}

impl Layout {
    /// A layout of `shape` and `strides` from `offset`; errors past [`MAX_RANK`] dims.
    pub fn new(kernel: &'static str, shape: &[usize], strides: &[usize], offset: usize) -> Result<Layout, GpuError> {
        if shape.len() > MAX_RANK || strides.len() != shape.len() {
            return Err(GpuError::Invalid {
                kernel,
                message: format!("strided views of at most {MAX_RANK} dims are supported on CUDA, got {shape:?}"),
            });
        }
        let mut l =
            Layout { rank: shape.len() as i32, offset: offset as i64, shape: [1; MAX_RANK], strides: [0; MAX_RANK] };
        for (d, (&n, &s)) in shape.iter().zip(strides).enumerate() {
            l.shape[d] = n as i64;
            l.strides[d] = s as i64;
        }
        Ok(l)
    }
}
