//! Run-time compilation of the `.cu` sources with NVRTC.

use super::GpuError;
use cudarc::nvrtc::{CompileOptions, Ptx};

/// Every op family's CUDA source, by family name. They are compiled separately, so each file
/// starts with what it needs (`common.cuh` is pasted in front of each one).
pub fn sources() -> &'static [(&'static str, &'static str)] {
    &[
        ("copy", include_str!("../copy/copy.cu")),
        ("conv", include_str!("../conv/conv.cu")),
        ("elementwise", include_str!("../elementwise/elementwise.cu")),
        ("reduce", include_str!("../reduce/reduce.cu")),
        ("softmax", include_str!("../softmax/softmax.cu")),
        ("matmul", include_str!("../matmul/matmul.cu")),
        ("index", include_str!("../index/index.cu")),
        ("norm", include_str!("../norm/norm.cu")),
        ("recurrent", include_str!("../recurrent/recurrent.cu")),
        ("attention", include_str!("../attention/attention.cu")),
        ("optim", include_str!("../optim/optim.cu")),
    ]
}

/// Definitions shared by every source: the `Layout` struct (the twin of
/// [`super::Layout`]) and index helpers.
const COMMON: &str = include_str!("common.cuh");

/// The full text NVRTC compiles for `family`: the common header, then the family's file.
fn full_source(family: &'static str) -> Result<String, GpuError> {
    let src = sources()
        .iter()
        .find(|(f, _)| *f == family)
        .map(|(_, s)| *s)
        .ok_or(GpuError::Invalid { kernel: "compile", message: format!("no CUDA source for family {family}") })?;
    Ok(format!("{COMMON}\n{src}"))
}

/// Compiles `family`'s source for `arch` (e.g. `"sm_90"`) to PTX text. Used at run time by
/// [`super::Gpu`], and by a test that checks every source compiles wherever NVRTC is installed
/// (no GPU needed).
pub fn compile_ptx(family: &'static str, arch: &str) -> Result<String, GpuError> {
    // SAFETY: only tries to `dlopen` libnvrtc by its usual names; runs no NVRTC code.
    let present = std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false);
    if !present {
        return Err(GpuError::Unavailable("NVRTC (libnvrtc.so) was not found".into()));
    }
    Ok(compile_family(family, arch)?.to_src())
}

pub(crate) fn compile_family(family: &'static str, arch: &str) -> Result<Ptx, GpuError> {
    let src = full_source(family)?;
    let options = CompileOptions {
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        name: Some(format!("{family}.cu")),
        ..Default::default()
    };
    std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(&src, options))
        .map_err(|_| GpuError::Unavailable("NVRTC could not be loaded".into()))?
        .map_err(|e| GpuError::Compile { family, log: format!("{e:?}") })
}
