//! One GPU: its context, its one stream, its compiled modules and its memory cache.

use super::buffer::MemoryCache;
use super::{compile, driver_err, GpuError};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A CUDA device ready for work.
///
/// All work on a device goes to one stream, in order, so no event tracking is needed between
/// kernels (it is turned off: cudarc would otherwise record an event per buffer access). The
/// host sees results only through a copy to host, which waits for the stream.
pub struct Gpu {
    ordinal: usize,
    name: String,
    arch: String,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<String, CudaFunction>>,
    pub(crate) cache: MemoryCache,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(cuda:{} {} {})", self.ordinal, self.name, self.arch)
    }
}

/// The devices opened so far, by ordinal: each is opened once per process.
static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();

/// Checks that the driver and NVRTC libraries can be loaded, without letting cudarc panic.
fn check_libraries() -> Result<(), GpuError> {
    // SAFETY: `is_culib_present` only tries `dlopen` on candidate library names and drops the
    // handles; it runs no CUDA code. `catch_unwind` turns a panic inside it into an error.
    let driver = std::panic::catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false);
    if !driver {
        return Err(GpuError::Unavailable("the CUDA driver library (libcuda.so) was not found".into()));
    }
    // SAFETY: as above, for libnvrtc.
    let nvrtc = std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false);
    if !nvrtc {
        return Err(GpuError::Unavailable(
            "NVRTC (libnvrtc.so) was not found: add the CUDA toolkit's lib64 folder to LD_LIBRARY_PATH".into(),
        ));
    }
    Ok(())
}

/// The number of CUDA devices, or why there are none to use. Never panics.
pub fn device_count() -> Result<usize, GpuError> {
    check_libraries()?;
    std::panic::catch_unwind(CudaContext::device_count)
        .map_err(|_| GpuError::Unavailable("the CUDA driver could not be loaded".into()))?
        .map(|n| n as usize)
        .map_err(|e| GpuError::Unavailable(format!("cuInit/cuDeviceGetCount failed: {e:?}")))
}

impl Gpu {
    /// Device `ordinal`, opened on first use and shared afterwards.
    pub fn get(ordinal: usize) -> Result<Arc<Gpu>, GpuError> {
        let mut gpus = GPUS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gpu) = gpus.get(&ordinal) {
            return Ok(gpu.clone());
        }
        let count = device_count()?;
        if ordinal >= count {
            return Err(GpuError::Unavailable(format!("no device cuda:{ordinal} ({count} device(s) found)")));
        }
        let ctx = CudaContext::new(ordinal).map_err(driver_err("cuCtxCreate"))?;
        // SAFETY: ferrograd issues all work on one stream per device, in order, and frees a buffer
        // only after the work queued before its drop (stream order); no buffer is shared between
        // streams, which is what cudarc's event tracking would guard.
        unsafe { ctx.disable_event_tracking() };
        let (major, minor) = ctx.compute_capability().map_err(driver_err("compute_capability"))?;
        let name = ctx.name().map_err(driver_err("cuDeviceGetName"))?;
        let stream = ctx.default_stream();
        let gpu = Arc::new(Gpu {
            ordinal,
            name,
            arch: format!("sm_{major}{minor}"),
            ctx,
            stream,
            modules: Mutex::default(),
            functions: Mutex::default(),
            cache: MemoryCache::default(),
        });
        gpus.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    /// The device number.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The device's name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The architecture kernels are compiled for, e.g. `"sm_90"`.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The cudarc context (for benchmarks that need events or cuBLAS).
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream all of this device's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Waits until every kernel queued so far has finished, and reports a failed one.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.stream.synchronize().map_err(driver_err("cuStreamSynchronize"))
    }

    /// The kernel `name` from op family `family`, compiling the family's source on first use.
    pub fn function(&self, family: &'static str, name: &str) -> Result<CudaFunction, GpuError> {
        if let Some(f) = self.functions.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(f.clone());
        }
        let module = self.module(family)?;
        let f = module.load_function(name).map_err(driver_err(format!("cuModuleGetFunction({name})")))?;
        self.functions.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), f.clone());
        Ok(f)
    }

    /// The compiled module of op family `family` (compiled with NVRTC once per process).
    fn module(&self, family: &'static str) -> Result<Arc<CudaModule>, GpuError> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = modules.get(family) {
            return Ok(m.clone());
        }
        let ptx = compile::compile_family(family, &self.arch)?;
        let module = self.ctx.load_module(ptx).map_err(driver_err(format!("cuModuleLoadData({family})")))?;
        modules.insert(family, module.clone());
        Ok(module)
    }
}
