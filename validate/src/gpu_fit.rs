//! The GPU model against the wgpu kernels: each kernel predicted from its launch geometry on the
//! GPU's description (`vchip_hwmodels::gpu::launch`), with the shader's own step costs
//! calibrated on a calibration part (named below) and the rest predicted, as the CPU side does.
//!
//! The calibrated figures are what the GPU description cannot know about a WGSL shader compiled
//! through Vulkan: the dispatch's fixed cost, one tiled-GEMM K step's latency (one workgroup on
//! its SM) and throughput (many interleaved), how much the convolution's im2col gather slows a
//! step, and an element-wise workgroup's latency with its data in L2 and in HBM. The SM count,
//! residency (registers, shared memory), L2 size and bandwidths are the description's.

use vchip_hwmodels::gpu::kernels::Gpu;
use vchip_hwmodels::gpu::launch::{busiest_sm_rounds, launch_seconds, Launch, StepCost};
use vchip_hwmodels::HardwareSpec;

pub use crate::gpu_report::{AccuracySummary, GpuFit, ShaderCosts};
use crate::gpu_report::{GpuKernel, GpuReport, K_SLICE};
use crate::stats::accuracy;
use crate::ValidateError;

/// The tiled shader's geometry (`gpu.rs`): 64×64 outputs per workgroup of 16×16 invocations, K in
/// slices of 16, two 16×64 f32 tiles staged in workgroup memory.
const TILED_INVOCATIONS: u64 = 256;
const TILED_SMEM_BYTES: u64 = 2 * 16 * 64 * 4;
/// The element-wise shader: one element per invocation, workgroups of 256.
const ELTWISE_INVOCATIONS: u64 = 256;

/// The calibration part, by kernel name; the others are predicted. Two small GEMMs with at most
/// one workgroup per SM and different K pin the dispatch cost and a K step's latency, the GEMM
/// with the most workgroups per SM its throughput, one convolution the gather, and one ReLU in
/// L2 and one in HBM the element-wise latencies.
pub const CALIBRATION: [&str; 6] = [
    "gemm ragged 100x70x33",
    "bert-base attn_out 128x768x768",
    "gemm 2048^3",
    "resnet50 layer3 conv 3x3",
    "relu 1M",
    "relu 16M",
];

/// Fits the GPU model to a run's timings (`hw`: a preset name or YAML file; by default the preset
/// the adapter's name matches) and says in `fidelity` what the timings are worth.
pub fn analyse(r: &mut GpuReport, hw: Option<&str>) -> Result<(), ValidateError> {
    r.fit = None;
    for k in &mut r.kernels {
        k.part = None;
        k.predicted_s = None;
    }
    if r.device_type == "Cpu" && hw.is_none() {
        r.fidelity =
            "not applicable: software adapter (CPU), timings say nothing about GPU speed".into();
        return Ok(());
    }
    let Some(name) = hw.or_else(|| preset_for_adapter(&r.adapter)) else {
        r.fidelity = format!(
            "not predicted: no GPU preset matches the adapter `{}`; pass --hw with its description",
            r.adapter
        );
        return Ok(());
    };
    let spec = vchip_hwmodels::load_hardware(name)
        .map_err(|e| ValidateError::Model(format!("--hw {name}: {e}")))?;
    if spec.gpu.is_none() {
        return Err(ValidateError::Model(format!(
            "`{name}` is not a GPU description (kind: gpu): pass a GPU preset or file with --hw"
        )));
    }
    // A run whose kernels cannot calibrate the model still keeps its timings.
    if let Err(e) = fit(r, &spec, name) {
        r.fidelity = format!("not predicted: {e}");
        return Ok(());
    }
    let (cal, test) = r
        .fit
        .as_ref()
        .map_or((0, 0), |f| (f.calibration.kernels, f.test.kernels));
    r.fidelity = format!(
        "the GPU model (`{name}`) predicts each kernel from its launch geometry; the shader's step costs are calibrated on {cal} kernels and the other {test} are the test part"
    );
    Ok(())
}

/// The preset whose GPU an adapter name (as Vulkan reports it) names.
pub fn preset_for_adapter(adapter: &str) -> Option<&'static str> {
    let a = adapter.to_ascii_uppercase();
    [
        ("H200", "h200"),
        ("H100", "h100-sxm"),
        ("A100", "a100-sxm-80gb"),
        ("4090", "rtx-4090"),
        ("MI300X", "mi300x"),
    ]
    .into_iter()
    .find(|(key, _)| a.contains(key))
    .map(|(_, preset)| preset)
}

/// What a kernel is to the model.
enum Shape {
    Tiled { launch: Launch, gather: bool },
    Eltwise { launch: Launch, bytes: f64 },
}

fn shape(k: &GpuKernel) -> Shape {
    match (*k, k.tiled_dims(), k.tiled_groups()) {
        (GpuKernel::Add { n } | GpuKernel::Relu { n }, _, _) => {
            let streams = if matches!(k, GpuKernel::Add { .. }) {
                3.0
            } else {
                2.0
            };
            Shape::Eltwise {
                launch: Launch {
                    // The workgroups that work: `grid_1d` rounds a launch beyond 65,535 groups up
                    // to whole rows of them, and those past `n` return at once.
                    workgroups: u64::from(n).div_ceil(ELTWISE_INVOCATIONS),
                    invocations_per_workgroup: ELTWISE_INVOCATIONS,
                    smem_bytes_per_workgroup: 0,
                    steps: 1,
                },
                bytes: 4.0 * streams * f64::from(n),
            }
        }
        (_, dims, groups) => {
            let (depth, (cols, rows)) = (dims.map_or(0, |d| d.2), groups.unwrap_or_default());
            Shape::Tiled {
                launch: Launch {
                    workgroups: cols.saturating_mul(rows),
                    invocations_per_workgroup: TILED_INVOCATIONS,
                    smem_bytes_per_workgroup: TILED_SMEM_BYTES,
                    steps: depth.div_ceil(K_SLICE),
                },
                gather: matches!(k, GpuKernel::Conv { .. }),
            }
        }
    }
}

/// A kernel's time on `gpu` at the shader's costs `c`.
fn predict(gpu: &Gpu, k: &GpuKernel, c: &ShaderCosts) -> f64 {
    let us = 1e-6;
    match shape(k) {
        Shape::Tiled { launch, gather } => {
            let f = if gather { c.conv_gather_factor } else { 1.0 };
            let step = StepCost {
                latency_s: f * c.gemm_step_latency_us * us,
                throughput_s: f * c.gemm_step_throughput_us * us,
            };
            launch_seconds(gpu.g, &launch, step, c.dispatch_us * us)
        }
        Shape::Eltwise { launch, bytes } => {
            // Re-run back to back, a kernel finds its data where it left it.
            let (latency, rate) = if gpu.holds_in_l2(bytes) {
                (c.eltwise_latency_l2_us, gpu.l2_rate())
            } else {
                // Only a run with no element-wise kernel beyond L2 lacks the HBM figure.
                (c.eltwise_latency_hbm_us.unwrap_or(f64::NAN), gpu.hbm_rate())
            };
            // A workgroup's share of the level's bandwidth when every SM streams.
            let per_workgroup = bytes / launch.workgroups.max(1) as f64;
            let step = StepCost {
                latency_s: latency * us,
                throughput_s: per_workgroup * gpu.g.sms.0 as f64 / rate,
            };
            launch_seconds(gpu.g, &launch, step, c.dispatch_us * us)
        }
    }
}

/// The value in [0, hi] at which the increasing `f` reaches `target` (bisection); `None` when
/// `target` lies outside f's range there (the anchor ran faster than the rest of the model allows,
/// or absurdly slowly).
fn solve(f: impl Fn(f64) -> f64, target: f64, hi: f64) -> Option<f64> {
    if !(f(0.0) < target && f(hi) >= target) {
        return None;
    }
    let (mut lo, mut hi) = (0.0, hi);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(0.5 * (lo + hi))
}

fn measured<'a>(r: &'a GpuReport, name: &str) -> Result<(&'a GpuKernel, f64), ValidateError> {
    let k = r.kernels.iter().find(|k| k.name == name).ok_or_else(|| {
        ValidateError::Model(format!(
            "the calibration kernel `{name}` is missing from this run (a software adapter or an older kernel set): the GPU model cannot be calibrated"
        ))
    })?;
    let t = k.measured.median_s;
    if !(t.is_finite() && t > 0.0) {
        return Err(ValidateError::Model(format!(
            "the calibration kernel `{name}` has no usable time ({t} s): the GPU model cannot be calibrated"
        )));
    }
    Ok((&k.kernel, t))
}

/// A recorded kernel whose geometry the shaders could not have run: a zero dimension.
fn check_geometry(k: &crate::gpu_report::GpuKernelResult) -> Result<(), ValidateError> {
    let dims: Vec<u32> = match k.kernel {
        GpuKernel::Gemm { m, n, k } => vec![m, n, k],
        GpuKernel::Conv {
            c,
            h,
            oc,
            k,
            stride,
        } => vec![c, h, oc, k, stride],
        GpuKernel::Add { n } | GpuKernel::Relu { n } => vec![n],
    };
    if dims.contains(&0) {
        return Err(ValidateError::Model(format!(
            "kernel `{}` has a dimension of 0 ({dims:?}): not a run of this harness",
            k.name
        )));
    }
    Ok(())
}

/// Calibrates the shader's costs on [`CALIBRATION`], predicts every kernel, and fills in the
/// report's predictions, parts and fit.
pub fn fit(r: &mut GpuReport, hw: &HardwareSpec, hw_name: &str) -> Result<(), ValidateError> {
    let g = hw.gpu.as_ref().ok_or_else(|| {
        ValidateError::Model(format!(
            "`{hw_name}` is not a GPU description (kind: gpu): pass a GPU preset or file with --hw"
        ))
    })?;
    let dram = hw.dram.as_ref().ok_or_else(|| {
        ValidateError::Model(format!("`{hw_name}` has no dram section (HBM bandwidth)"))
    })?;
    let dev = Gpu {
        g,
        hbm_bytes_per_s: dram.bandwidth_gb_s.0 * 1e9,
    };
    for k in &r.kernels {
        check_geometry(k)?;
    }
    let (k_small, t_small) = measured(r, CALIBRATION[0])?;
    let (k_long, t_long) = measured(r, CALIBRATION[1])?;
    let (k_wide, t_wide) = measured(r, CALIBRATION[2])?;
    let (k_conv, t_conv) = measured(r, CALIBRATION[3])?;
    let (k_l2, t_l2) = measured(r, CALIBRATION[4])?;
    let (k_hbm, t_hbm) = measured(r, CALIBRATION[5])?;
    let steps = |k: &GpuKernel| match shape(k) {
        Shape::Tiled { launch, .. } | Shape::Eltwise { launch, .. } => launch.steps as f64,
    };
    // Latency and dispatch from the two one-workgroup-per-SM GEMMs: t = d + steps x latency.
    for k in [k_small, k_long] {
        if let Shape::Tiled { launch, .. } = shape(k) {
            if busiest_sm_rounds(g, &launch) != (0, 1) {
                return Err(ValidateError::Model(format!(
                    "the latency anchors must put at most one workgroup on an SM of {hw_name}"
                )));
            }
        }
    }
    let (s_small, s_long) = (steps(k_small), steps(k_long));
    if !(s_long > s_small && t_long > t_small) {
        return Err(ValidateError::Model(format!(
            "`{}` ({s_long} K steps, {:.1} us) must take more steps and more time than `{}` ({s_small}, {:.1} us) to pin a K step's latency",
            CALIBRATION[1],
            t_long * 1e6,
            CALIBRATION[0],
            t_small * 1e6
        )));
    }
    let latency_s = (t_long - t_small) / (s_long - s_small);
    // A dispatch shorter than timing noise can come out slightly negative: it is then nil.
    let dispatch_s = (t_small - s_small * latency_s).max(0.0);
    let mut c = ShaderCosts {
        dispatch_us: dispatch_s * 1e6,
        gemm_step_latency_us: latency_s * 1e6,
        gemm_step_throughput_us: 0.0,
        conv_gather_factor: 1.0,
        eltwise_latency_l2_us: 0.0,
        eltwise_latency_hbm_us: None,
    };
    // Each remaining cost is the value at which its anchor's prediction meets its measurement
    // (every prediction grows with the cost it solves for).
    let solve_for = |c: &ShaderCosts,
                     anchor: usize,
                     k: &GpuKernel,
                     t: f64,
                     set: fn(&mut ShaderCosts, f64)| {
        let x = solve(
            |x| {
                let mut trial = c.clone();
                set(&mut trial, x);
                predict(&dev, k, &trial)
            },
            t,
            1e4,
        );
        x.filter(|x| x.is_finite() && *x > 0.0).ok_or_else(|| {
            ValidateError::Model(format!(
                "`{}` ({:.1} us) is outside what the model can reach from the other anchors on {hw_name}: the GPU model cannot be calibrated",
                CALIBRATION[anchor],
                t * 1e6
            ))
        })
    };
    c.gemm_step_throughput_us =
        solve_for(&c, 2, k_wide, t_wide, |c, x| c.gemm_step_throughput_us = x)?;
    c.conv_gather_factor = solve_for(&c, 3, k_conv, t_conv, |c, x| c.conv_gather_factor = x)?;
    let bytes = |k: &GpuKernel| match shape(k) {
        Shape::Eltwise { bytes, .. } => bytes,
        Shape::Tiled { .. } => 0.0,
    };
    if !dev.holds_in_l2(bytes(k_l2)) {
        return Err(ValidateError::Model(format!(
            "on {hw_name}, `{}` must fit in L2",
            CALIBRATION[4]
        )));
    }
    c.eltwise_latency_l2_us = solve_for(&c, 4, k_l2, t_l2, |c, x| c.eltwise_latency_l2_us = x)?;
    // A GPU whose L2 holds the larger ReLU too (MI300X's 256 MB Infinity Cache) runs every
    // element-wise kernel of the set from L2: nothing pins an HBM latency, and the larger ReLU
    // is predicted, not calibrated on.
    let mut pinned: Vec<&str> = CALIBRATION.to_vec();
    if dev.holds_in_l2(bytes(k_hbm)) {
        pinned.retain(|n| *n != CALIBRATION[5]);
    } else {
        c.eltwise_latency_hbm_us = Some(solve_for(&c, 5, k_hbm, t_hbm, |c, x| {
            c.eltwise_latency_hbm_us = Some(x)
        })?);
    }
    let predictions: Vec<f64> = r
        .kernels
        .iter()
        .map(|k| predict(&dev, &k.kernel, &c))
        .collect();
    if let Some(k) = r
        .kernels
        .iter()
        .zip(&predictions)
        .find(|(_, p)| !p.is_finite())
    {
        return Err(ValidateError::Model(format!(
            "kernel `{}` has no prediction from the calibrated costs (an element-wise kernel beyond L2 in a run whose anchors all fit there)",
            k.0.name
        )));
    }
    let mut parts: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    for (k, &p) in r.kernels.iter_mut().zip(&predictions) {
        let calibration = pinned.contains(&k.name.as_str());
        k.predicted_s = Some(p);
        k.part = Some(if calibration { "calibration" } else { "test" }.to_string());
        if k.measured.median_s.is_finite() && k.measured.median_s > 0.0 {
            let part = &mut parts[usize::from(calibration)];
            part.0.push(p);
            part.1.push(k.measured.median_s);
        }
    }
    let [test, cal] = parts;
    r.fit = Some(GpuFit {
        hardware: hw_name.to_string(),
        costs: c,
        test: accuracy(&test.0, &test.1).into(),
        calibration: accuracy(&cal.0, &cal.1).into(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapters_map_to_their_presets() {
        assert_eq!(preset_for_adapter("NVIDIA H200"), Some("h200"));
        assert_eq!(
            preset_for_adapter("NVIDIA H100 80GB HBM3"),
            Some("h100-sxm")
        );
        assert_eq!(
            preset_for_adapter("NVIDIA A100-SXM4-80GB"),
            Some("a100-sxm-80gb")
        );
        assert_eq!(
            preset_for_adapter("NVIDIA GeForce RTX 4090"),
            Some("rtx-4090")
        );
        assert_eq!(preset_for_adapter("AMD Instinct MI300X"), Some("mi300x"));
        assert_eq!(preset_for_adapter("llvmpipe (LLVM 19.1.7, 256 bits)"), None);
    }

    #[test]
    fn launch_geometry_follows_the_shaders() {
        // 2048^3: 32 x 32 workgroups of 64x64, 128 K slices of 16.
        match shape(&GpuKernel::Gemm {
            m: 2048,
            n: 2048,
            k: 2048,
        }) {
            Shape::Tiled { launch, gather } => {
                assert_eq!((launch.workgroups, launch.steps), (1024, 128));
                assert!(!gather);
            }
            Shape::Eltwise { .. } => panic!("a GEMM is tiled"),
        }
        // ResNet-50 layer 3 conv: 14x14 = 196 pixels (4 tiles), 64 channels (1 tile), 576 taps.
        match shape(&GpuKernel::Conv {
            c: 64,
            h: 14,
            oc: 64,
            k: 3,
            stride: 1,
        }) {
            Shape::Tiled { launch, gather } => {
                assert_eq!((launch.workgroups, launch.steps), (4, 36));
                assert!(gather);
            }
            Shape::Eltwise { .. } => panic!("a convolution is tiled"),
        }
        match shape(&GpuKernel::Add { n: 1 << 20 }) {
            Shape::Eltwise { launch, bytes } => {
                assert_eq!(launch.workgroups, 4096);
                assert_eq!(bytes, 12.0 * (1 << 20) as f64);
            }
            Shape::Tiled { .. } => panic!("an add is element-wise"),
        }
    }
}
