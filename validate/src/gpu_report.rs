//! What a GPU validation run records and reports: the kernels, their timings, and the GPU
//! model's predictions and fit. Shared by the runner (`gpu.rs`) and the model's fit (`gpu_fit.rs`);
//! a written `gpu-report.json` loads back into these types (`--from`).

use serde::{Deserialize, Serialize};

use crate::stats::Accuracy;
use crate::timing::Measurement;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GpuKernel {
    Gemm {
        m: u32,
        n: u32,
        k: u32,
    },
    Conv {
        c: u32,
        h: u32,
        oc: u32,
        k: u32,
        stride: u32,
    },
    Add {
        n: u32,
    },
    Relu {
        n: u32,
    },
}

/// The tiled shader's output tile (rows and columns per workgroup) and K slice.
pub const TILE: u64 = 64;
pub const K_SLICE: u64 = 16;

/// A convolution's output side: square image and kernel, zero padding k/2, as the shaders and
/// the CPU reference compute it.
pub fn conv_out_side(h: u64, k: u64, stride: u64) -> u64 {
    (h + 2 * (k / 2)).saturating_sub(k) / stride.max(1) + 1
}

impl GpuKernel {
    /// The GEMM the tiled shader computes, (rows, columns, depth): a GEMM's own, or a
    /// convolution's as an implicit GEMM (out channels, output pixels, taps); `None` for the
    /// element-wise kernels.
    pub fn tiled_dims(&self) -> Option<(u64, u64, u64)> {
        match *self {
            GpuKernel::Gemm { m, n, k } => Some((m.into(), n.into(), k.into())),
            GpuKernel::Conv {
                c,
                h,
                oc,
                k,
                stride,
            } => {
                let (c, k) = (u64::from(c), u64::from(k));
                let oh = conv_out_side(h.into(), k, stride.into());
                Some((oc.into(), oh.saturating_mul(oh), c.saturating_mul(k * k)))
            }
            GpuKernel::Add { .. } | GpuKernel::Relu { .. } => None,
        }
    }

    /// The tiled shader's grid: one workgroup per 64×64 tile of the output.
    pub fn tiled_groups(&self) -> Option<(u64, u64)> {
        self.tiled_dims()
            .map(|(rows, cols, _)| (cols.div_ceil(TILE), rows.div_ceil(TILE)))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuKernelResult {
    pub name: String,
    pub kernel: GpuKernel,
    /// Largest |gpu − cpu| relative to the largest |cpu| value.
    pub max_rel_error: f64,
    pub correct: bool,
    pub measured: Measurement,
    pub gflops: f64,
    /// Compulsory traffic (inputs read once, output written once) over the median time.
    pub gb_s: f64,
    /// `calibration` or `test`, once the GPU model has been fitted.
    #[serde(default)]
    pub part: Option<String>,
    /// The GPU model's time for this kernel.
    #[serde(default)]
    pub predicted_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuReport {
    pub adapter: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub timestamp_queries: bool,
    /// Whether these timings say anything about a GPU's speed, and whether a model predicts them.
    pub fidelity: String,
    pub kernels: Vec<GpuKernelResult>,
    /// The GPU model's calibration and accuracy (none on a software adapter, or where no GPU
    /// description matches the adapter).
    #[serde(default)]
    pub fit: Option<GpuFit>,
}

/// The shader's calibrated costs, µs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ShaderCosts {
    pub dispatch_us: f64,
    pub gemm_step_latency_us: f64,
    pub gemm_step_throughput_us: f64,
    /// A convolution's K step over a GEMM's (the im2col addresses computed while staging B).
    pub conv_gather_factor: f64,
    pub eltwise_latency_l2_us: f64,
    /// None where the GPU's L2 holds every element-wise kernel of the run.
    pub eltwise_latency_hbm_us: Option<f64>,
}

/// The model's side of a GPU validation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuFit {
    /// The GPU description predictions come from (a preset name or a file).
    pub hardware: String,
    pub costs: ShaderCosts,
    pub test: AccuracySummary,
    pub calibration: AccuracySummary,
}

/// [`Accuracy`] without its bootstrap intervals' internals, and loadable again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccuracySummary {
    pub kernels: usize,
    pub mape_pct: f64,
    pub median_ape_pct: f64,
    pub within_10_pct: f64,
    pub within_20_pct: f64,
    pub spearman: f64,
    pub spearman_low: f64,
    pub spearman_high: f64,
}

impl From<Accuracy> for AccuracySummary {
    fn from(a: Accuracy) -> Self {
        AccuracySummary {
            kernels: a.kernels,
            mape_pct: a.mape_pct,
            median_ape_pct: a.median_ape_pct,
            within_10_pct: a.within_10_pct,
            within_20_pct: a.within_20_pct,
            spearman: a.spearman.value,
            spearman_low: a.spearman.low,
            spearman_high: a.spearman.high,
        }
    }
}
