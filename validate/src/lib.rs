//! vchip-validate: measures reality and reports how far the models are from it.
//!
//! For: real kernels on the host CPU (faer GEMM, im2col convolution, depthwise, element-wise,
//! reductions, softmax, copies) timed with confidence intervals; detecting and calibrating the
//! host-CPU hardware model from microbenchmarks; accuracy statistics (MAPE, ±10/±20 %, Spearman and
//! Kendall with bootstrap intervals) on a test part that calibration never sees. On GPUs: WGSL
//! kernels through wgpu, checked against the CPU and predicted by the GPU model from their launch
//! geometry, the shader's step costs calibrated the same way.
//! Not for: defining models. Calibration feeds numbers into a hardware description, not code paths.

pub mod affinity;
pub mod calibrate;
pub mod gpu;
pub mod gpu_fit;
pub mod gpu_report;
pub mod host;
pub mod kernels;
pub mod run;
pub mod stats;
pub mod suite;
pub mod timing;

pub use calibrate::{CpuReport, KernelResult};

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("model: {0}")]
    Model(String),
    #[error("{0}")]
    Unavailable(String),
}
