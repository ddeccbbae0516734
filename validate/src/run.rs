//! The CPU validation run: detect the host, calibrate a handful of machine parameters on the
//! calibration kernels and microbenchmarks, then predict the test kernels it never saw and compare.

use serde::Serialize;
use vchip_hwmodels::cpu::{CpuModel, CpuSpec};
use vchip_hwmodels::spec::{Count, DramSpec, HardwareSpec, HwKind, NonNegative, Positive};
use vchip_hwmodels::{CostOptions, HardwareModel};

use crate::host::{detect, HostInfo};
use crate::kernels::Kernel;
use crate::stats::{accuracy, Accuracy};
use crate::suite::{is_calibration, kernels};
use crate::timing::{measure, Measurement, TimingConfig};
use crate::ValidateError;

pub use vchip_sim::sweep::SplitMix;

#[derive(Clone, Debug, Serialize)]
pub struct KernelResult {
    pub name: String,
    pub source: String,
    pub kernel: Kernel,
    pub threads: usize,
    /// `calibration` or `test`.
    pub part: &'static str,
    pub measured: Measurement,
    pub predicted_s: f64,
    pub ape_pct: f64,
    pub bound: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CpuReport {
    pub host: HostInfo,
    /// The calibrated host description (`--hw` accepts it).
    pub hardware: HardwareSpec,
    pub microbenchmarks: Vec<(String, f64)>,
    pub kernels: Vec<KernelResult>,
    pub test: Accuracy,
    pub calibration: Accuracy,
    pub duration_s: f64,
}

const CLOCK_MHZ: f64 = 1000.0;

fn spec_with(host: &HostInfo, cpu: CpuSpec, dram_gb_s: f64) -> HardwareSpec {
    HardwareSpec {
        name: "host-cpu".into(),
        kind: HwKind::Cpu,
        description: format!("{} (calibrated by vchip validate)", host.model),
        clock_mhz: Positive(CLOCK_MHZ),
        technology_nm: None,
        voltage_v: None,
        precision: Some("f32".into()),
        systolic: None,
        cpu: Some(cpu),
        buffers: None,
        dram: DramSpec {
            technology: "host".into(),
            capacity_gib: Positive(host.memory_gib.max(1e-3)),
            bandwidth_gb_s: Positive(dram_gb_s),
            energy_pj_per_bit: None,
        },
        vector: None,
        energy: Default::default(),
        area_mm2: Default::default(),
    }
}

fn predict_trace(model: &CpuModel, t: &vchip_workloads::Trace) -> (f64, String) {
    let mut total = 0.0;
    let mut bound = String::from("-");
    for op in &t.ops {
        if let Ok(c) = model.cost_op(t, op, &CostOptions::default()) {
            total += c.cycles as f64 / (CLOCK_MHZ * 1e6);
            bound = c.bound.label().to_string();
        }
    }
    (total, bound)
}

fn model_for(spec: &HardwareSpec, threads: usize) -> Result<CpuModel, ValidateError> {
    let mut s = spec.clone();
    if let Some(c) = s.cpu.as_mut() {
        c.threads = Count(threads as u64);
    }
    CpuModel::new(s).map_err(|e| ValidateError::Model(e.to_string()))
}

fn time_kernel(k: &Kernel, threads: usize, cfg: TimingConfig) -> Measurement {
    let mut run = k.prepare(threads);
    measure(&mut *run, cfg)
}

/// Runs the whole CPU validation. `progress` receives a line per step.
pub fn run_cpu(quick: bool, progress: &dyn Fn(&str)) -> Result<CpuReport, ValidateError> {
    let start = std::time::Instant::now();
    let cfg = if quick {
        TimingConfig::quick()
    } else {
        TimingConfig::full()
    };
    let host = detect();
    let caches: Vec<u64> = if host.caches_kib.len() == 3 {
        host.caches_kib.clone()
    } else {
        vec![32, 1024, 32768]
    };
    progress(&format!(
        "host: {} ({} logical CPUs, {}-bit SIMD, caches {:?} KiB)",
        host.model, host.logical_cpus, host.simd_bits, caches
    ));
    let threads_max = host.logical_cpus.clamp(1, 2);

    // Microbenchmarks: bandwidth per level (copy: read + write bytes), per-element costs in L1, and
    // the large-GEMM rate. These are the machine parameters; the fit below only adds overheads.
    let mut micro = Vec::new();
    let copy_bw = |footprint_bytes: usize, threads: usize| {
        let n = (footprint_bytes / 8).max(256);
        let m = time_kernel(&Kernel::Copy { n }, threads, cfg);
        8.0 * n as f64 / m.median_s / 1e9
    };
    let mut bw = Vec::new();
    let mut levels: Vec<u64> = caches[..2].to_vec();
    for (i, kib) in levels.iter().enumerate() {
        let v = copy_bw(*kib as usize * 512, 1);
        micro.push((
            format!(
                "copy bandwidth, L{} ({} KiB working set), GB/s",
                i + 1,
                kib / 2
            ),
            v,
        ));
        bw.push(v);
    }
    let dram_bytes = (caches[2] as usize * 1024 * 4).clamp(512 << 20, 2 << 30);
    let dram1 = copy_bw(dram_bytes, 1);
    micro.push((
        format!(
            "copy bandwidth, DRAM ({} MiB working set), 1 thread, GB/s",
            dram_bytes >> 20
        ),
        dram1,
    ));
    // The L3 a core really gets (sysfs may report a package total shared by many cores or VMs):
    // the largest working set still clearly faster than DRAM.
    let mut l3 = (caches[1] * 2, dram1);
    for mib in [4usize, 8, 16, 32, 64] {
        if mib * 1024 * 2 > caches[2] as usize {
            break;
        }
        let v = copy_bw(mib << 20, 1);
        micro.push((format!("copy bandwidth, {mib} MiB working set, GB/s"), v));
        if v >= 1.25 * dram1 {
            l3 = (mib as u64 * 1024, v);
        }
    }
    levels.push(l3.0);
    bw.push(l3.1);
    bw.push(dram1);
    micro.push((
        "effective L3 used by the model, KiB".to_string(),
        l3.0 as f64,
    ));
    let dram_all = copy_bw(dram_bytes, threads_max);
    micro.push((
        format!("copy bandwidth, DRAM, {threads_max} threads, GB/s"),
        dram_all,
    ));
    let big = 1024usize;
    let m = time_kernel(
        &Kernel::Gemm {
            m: big,
            n: big,
            k: big,
        },
        1,
        cfg,
    );
    let g_big = 2.0 * (big * big * big) as f64 / m.median_s / 1e9;
    micro.push(("f32 GEMM 1024^3, 1 thread, GFLOP/s".into(), g_big));
    let n_l1 = (caches[0] as usize * 1024 / 16).max(256);
    let per_elem = |k: Kernel| time_kernel(&k, 1, cfg).median_s * 1e9 / n_l1 as f64;
    let simple_ns = per_elem(Kernel::Eltwise {
        op: "relu".into(),
        n: n_l1,
    });
    let exp_ns = per_elem(Kernel::Eltwise {
        op: "exp".into(),
        n: n_l1,
    });
    let tanh_ns = per_elem(Kernel::Eltwise {
        op: "gelu".into(),
        n: n_l1,
    });
    let reduce_ns = per_elem(Kernel::RowSum {
        rows: 8,
        cols: n_l1 / 8,
    });
    micro.push(("ReLU in L1, ns/element".into(), simple_ns));
    micro.push(("exp in L1, ns/element".into(), exp_ns));
    micro.push(("GELU (tanh) in L1, ns/element".into(), tanh_ns));
    micro.push(("row sum in L1, ns/element".into(), reduce_ns));
    for (what, v) in &micro {
        progress(&format!("  {what}: {v:.2}"));
    }

    // Measure every kernel of the suite.
    let suite = kernels(quick);
    let mut measured = Vec::with_capacity(suite.len());
    for (i, c) in suite.iter().enumerate() {
        let m = time_kernel(&c.kernel, c.threads.min(threads_max), cfg);
        progress(&format!(
            "  [{}/{}] {} ({} thr): {:.1} us",
            i + 1,
            suite.len(),
            c.name,
            c.threads,
            m.median_s * 1e6
        ));
        measured.push(m);
    }

    // Fit the few free parameters on the calibration part only.
    let base = |[half, over, par, gather, stencil, scale]: [f64; 6]| CpuSpec {
        model: host.model.clone(),
        cores: Count(host.logical_cpus as u64),
        threads: Count(1),
        simd_bits: Count(host.simd_bits),
        caches_kib: levels.iter().map(|&c| Positive(c as f64)).collect(),
        bandwidth_gb_s: bw.iter().map(|&b| Positive(b)).collect(),
        dram_all_cores_gb_s: Positive(dram_all),
        // The 1024³ rate, rescaled so the efficiency curve passes through it; `scale` lets the fit
        // account for mid-size GEMMs running from cache faster than the 12 MiB 1024³ one.
        gemm_gflops: Positive(g_big * scale * (big as f64 + half) / big as f64),
        gemm_half_size: NonNegative(half),
        simple_ns: Positive(simple_ns),
        exp_ns: Positive(exp_ns),
        tanh_ns: Positive(tanh_ns),
        reduce_ns: Positive(reduce_ns),
        gather_ns: NonNegative(gather),
        stencil_ns: Positive(stencil),
        overhead_us: NonNegative(over),
        parallel_overhead_us: NonNegative(par),
    };
    let calib: Vec<usize> = (0..suite.len()).filter(|&i| is_calibration(i)).collect();
    // Coordinate descent over the six free parameters, minimising the mean |log error| on the
    // calibration part; each is independent enough (different kernel classes) to converge fast.
    let traces: Vec<vchip_workloads::Trace> = suite.iter().map(|c| c.kernel.trace()).collect();
    let loss = |p: [f64; 6]| -> Result<f64, ValidateError> {
        let spec = spec_with(&host, base(p), dram1);
        let mut sum = 0.0;
        for &i in &calib {
            let model = model_for(&spec, suite[i].threads.min(threads_max))?;
            let (pred, _) = predict_trace(&model, &traces[i]);
            sum += (pred / measured[i].median_s).ln().abs();
        }
        Ok(sum)
    };
    let grids: [&[f64]; 6] = [
        &[
            0.0, 8.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0, 128.0, 192.0, 256.0,
        ],
        &[0.0, 0.5, 1.0, 2.0, 4.0, 8.0],
        &[0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0],
        &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0],
        &[0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0],
        &[0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3],
    ];
    let mut p = [8.0, 1.0, 10.0, 2.0, 1.0, 1.0];
    for _round in 0..3 {
        for (j, grid) in grids.iter().enumerate() {
            let mut best = (loss(p)?, p[j]);
            for &v in grid.iter() {
                let mut q = p;
                q[j] = v;
                let l = loss(q)?;
                if l < best.0 {
                    best = (l, v);
                }
            }
            p[j] = best.1;
        }
    }
    let spec = spec_with(&host, base(p), dram1);
    progress(&format!(
        "calibrated: gemm_half_size {}, overhead {} us, parallel overhead {} us, im2col {} ns/element, direct conv {} ns/MAC, GEMM rate x{}",
        p[0], p[1], p[2], p[3], p[4], p[5]
    ));

    let mut results = Vec::new();
    for (i, c) in suite.iter().enumerate() {
        let model = model_for(&spec, c.threads.min(threads_max))?;
        let (p, bound) = predict_trace(&model, &traces[i]);
        let m = &measured[i];
        results.push(KernelResult {
            name: c.name.clone(),
            source: c.source.clone(),
            kernel: c.kernel.clone(),
            threads: c.threads.min(threads_max),
            part: if is_calibration(i) {
                "calibration"
            } else {
                "test"
            },
            measured: m.clone(),
            predicted_s: p,
            ape_pct: 100.0 * (p - m.median_s).abs() / m.median_s,
            bound,
        });
    }
    let part = |name: &str| -> (Vec<f64>, Vec<f64>) {
        let r: Vec<&KernelResult> = results.iter().filter(|r| r.part == name).collect();
        (
            r.iter().map(|r| r.predicted_s).collect(),
            r.iter().map(|r| r.measured.median_s).collect(),
        )
    };
    let (tp, tm) = part("test");
    let (cp, cm) = part("calibration");
    Ok(CpuReport {
        host,
        hardware: spec,
        microbenchmarks: micro,
        test: accuracy(&tp, &tm),
        calibration: accuracy(&cp, &cm),
        kernels: results,
        duration_s: start.elapsed().as_secs_f64(),
    })
}
