//! The CUDA side of the kernels (behind the `cuda` feature).
//!
//! This is the seam for the CUDA backend: today it only finds out, without panicking, whether a
//! CUDA driver is present. cudarc loads `libcuda` dynamically and panics if it is missing, so
//! the library is probed with a plain `dlopen`-style check first.

/// Why no CUDA device can be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaUnavailable(pub String);

impl std::fmt::Display for CudaUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CUDA unavailable: {}", self.0)
    }
}

impl std::error::Error for CudaUnavailable {}

/// Checks that the CUDA driver library can be found on this machine, and returns the number of
/// devices it reports.
pub fn device_count() -> Result<usize, CudaUnavailable> {
    let found = ["libcuda.so.1", "libcuda.so"].iter().any(|name| library_exists(name));
    if !found {
        return Err(CudaUnavailable("the CUDA driver library (libcuda.so) was not found".into()));
    }
    let n = std::panic::catch_unwind(|| {
        cudarc::driver::result::init().map_err(|e| format!("cuInit failed: {e:?}"))?;
        cudarc::driver::result::device::get_count().map_err(|e| format!("cuDeviceGetCount failed: {e:?}"))
    })
    .map_err(|_| CudaUnavailable("the CUDA driver could not be loaded".into()))?
    .map_err(CudaUnavailable)?;
    Ok(n as usize)
}

/// Whether a shared library of this name is in one of the usual library folders.
fn library_exists(name: &str) -> bool {
    let mut dirs: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    dirs.extend(
        [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/cuda/lib64",
            "/usr/local/nvidia/lib64",
            "/lib/x86_64-linux-gnu",
        ]
        .map(String::from),
    );
    dirs.iter().any(|d| std::path::Path::new(d).join(name).exists())
}
