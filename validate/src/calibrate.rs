//! Calibration and prediction from a run's measurements: microbenchmarks give the machine
//! parameters, a small fit on the calibration part sets the rest, and every kernel is predicted
//! from its shape alone.

use serde::Serialize;
use vchip_hwmodels::cpu::{CpuModel, CpuSpec};
use vchip_hwmodels::spec::{Count, DramSpec, HardwareSpec, HwKind, NonNegative, Positive};
use vchip_hwmodels::{CostOptions, Fusion};

use crate::host::HostInfo;
use crate::kernels::Kernel;
use crate::run::{copy_elems, fill_elems, CpuMeasurements, Plan};
use crate::stats::{accuracy, Accuracy};
use crate::suite::is_calibration;
use crate::timing::Measurement;
use crate::ValidateError;

#[derive(Clone, Debug, Serialize)]
pub struct KernelResult {
    pub name: String,
    pub source: String,
    pub kernel: Kernel,
    pub threads: usize,
    /// `calibration`, `test`, or `grid` (synthetic GEMM shapes, never used by calibration).
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
    /// Synthetic GEMM shapes, never used by calibration (a second, off-network test set).
    pub grid: Accuracy,
    /// Kernels of this vchip's set that the measurements lack (an older recording): not
    /// predicted, not counted in any part.
    pub skipped: Vec<String>,
    pub duration_s: f64,
}

/// Bandwidth, GB/s, at which a thread reads lines another core wrote and still holds in its L2
/// (`CpuSpec::cross_core_gb_s`) for recordings made before the hand-off microbenchmark measured
/// it. Set from timings on this repository's 2-vCPU Xeon VM: a 196×256×2304 GEMM lost 0.29 ms on
/// 2 threads to reading A panels the other thread had packed (5 K blocks × ~0.8 MB per thread:
/// ~13 GB/s), and two threads wrote C lines last written by the other core at ~10 GB/s each.
/// Fitted on the calibration part it wandered between 7.5 and 30 GB/s from run to run of one
/// machine; 10 GB/s held on the 16-core Xeon host of the H200 machine too, but on an AMD EPYC Zen 3
/// VM, whose two vCPUs share an L3, a core read lines its neighbour had just written at 46–65 GB/s.
const CROSS_CORE_GB_S: f64 = 10.0;

/// Clock of the calibrated description when the OS reports none: the model works in seconds, so
/// the clock only sets what a reported cycle is.
const FALLBACK_CLOCK_MHZ: f64 = 1000.0;

fn spec_with(host: &HostInfo, cpu: CpuSpec, dram_gb_s: f64) -> HardwareSpec {
    HardwareSpec {
        name: "host-cpu".into(),
        kind: HwKind::Cpu,
        description: format!("{} (calibrated by vchip validate)", host.model),
        // The clock /proc/cpuinfo reports, so `simulate` on the calibrated host counts this
        // CPU's cycles.
        clock_mhz: Positive(if host.mhz > 0.0 {
            host.mhz
        } else {
            FALLBACK_CLOCK_MHZ
        }),
        technology_nm: None,
        voltage_v: None,
        precision: Some("f32".into()),
        systolic: None,
        cpu: Some(cpu),
        mcu: None,
        gpu: None,
        dataflow: None,
        buffers: None,
        dram: Some(DramSpec {
            technology: "host".into(),
            capacity_gib: Positive(host.memory_gib.max(1e-3)),
            bandwidth_gb_s: Positive(dram_gb_s),
            energy_pj_per_bit: None,
            host_link: false,
        }),
        vector: None,
        energy: Default::default(),
        area_mm2: Default::default(),
    }
}

/// A kernel's predicted time and bound, through the engine as `simulate` runs it: layer by layer
/// (each kernel is timed as written, with no rewrite or fusion).
fn predict_trace(model: &CpuModel, t: &vchip_workloads::Trace) -> (f64, String) {
    let opts = CostOptions {
        fusion: Fusion::Off,
        ..CostOptions::default()
    };
    match vchip_sim::simulate(t, model, &opts) {
        Ok(r) => (
            r.totals.latency_s,
            r.layers
                .last()
                .map_or("-".into(), |l| l.cost.bound.label().to_string()),
        ),
        Err(_) => (0.0, "-".into()),
    }
}

fn model_for(spec: &HardwareSpec, threads: usize) -> Result<CpuModel, ValidateError> {
    let mut s = spec.clone();
    if let Some(c) = s.cpu.as_mut() {
        c.threads = Count(threads as u64);
    }
    CpuModel::new(s).map_err(|e| ValidateError::Model(e.to_string()))
}

/// Calibrates the host model on the calibration part of `m` and predicts every kernel.
pub fn calibrate(m: &CpuMeasurements, progress: &dyn Fn(&str)) -> Result<CpuReport, ValidateError> {
    let start = std::time::Instant::now();
    let host = m.host.clone();
    let plan = Plan::new(&host, m.quick);
    // Items are matched by kernel and thread count, so a recording made with an older kernel set
    // still loads: the kernels it lacks are skipped (and counted), but calibration needs every
    // microbenchmark anchor.
    // A kernel the plan times more than once (a copy that anchors two levels) pairs its n-th
    // occurrence with the recording's n-th.
    let found: Vec<Option<&Measurement>> = plan
        .items
        .iter()
        .enumerate()
        .map(|(i, (k, t))| {
            let nth = plan.items[..i]
                .iter()
                .filter(|p| p.0 == *k && p.1 == *t)
                .count();
            m.items
                .iter()
                .filter(|item| item.kernel == *k && item.threads == *t)
                .nth(nth)
                .map(|item| &item.measured)
        })
        .collect();
    if let Some((i, t)) = found.iter().enumerate().find_map(|(i, f)| {
        f.filter(|m| !(m.median_s.is_finite() && m.median_s > 0.0))
            .map(|m| (i, m.median_s))
    }) {
        return Err(ValidateError::Unavailable(format!(
            "these measurements give {} a median time of {t} s; a time must be positive: the file is damaged, time the kernels again with `vchip validate --device cpu`",
            dims(&plan.items[i].0)
        )));
    }
    // The hand-off pair and the copy over twice the L2 came later than the other
    // microbenchmarks: a recording without them keeps `CROSS_CORE_GB_S` and a last-cache curve
    // that starts at 4 MiB.
    let optional: std::collections::BTreeSet<usize> = plan
        .grid
        .iter()
        .chain(&plan.calib_gemms)
        .map(|g| g.2)
        .chain(plan.i_handoff.into_iter().flatten())
        .chain(plan.i_l3_near)
        .collect();
    if let Some(i) = (0..plan.n_micro).find(|i| found[*i].is_none() && !optional.contains(i)) {
        return Err(ValidateError::Unavailable(format!(
            "these measurements ({} items, vchip {}) lack the microbenchmark {} on {} thread(s) that this vchip ({}) calibrates with{}: time them again with `vchip validate --device cpu{}`",
            m.items.len(),
            m.vchip_version,
            dims(&plan.items[i].0),
            plan.items[i].1,
            env!("CARGO_PKG_VERSION"),
            if m.quick { " (a --quick run)" } else { "" },
            if m.quick { " --quick" } else { "" },
        )));
    }
    let skipped: Vec<String> = plan
        .suite
        .iter()
        .zip(&found[plan.n_micro..])
        .filter(|(_, f)| f.is_none())
        .map(|(c, _)| c.name.clone())
        .chain(
            plan.grid
                .iter()
                .chain(&plan.calib_gemms)
                .filter(|g| found[g.2].is_none())
                .map(|g| format!("gemm {}", dims(&g.0))),
        )
        .collect();
    // A missing optional item's placeholder is never read: `present` guards every use.
    let present: Vec<bool> = found.iter().map(Option::is_some).collect();
    let all: Vec<Measurement> = found
        .iter()
        .map(|f| f.cloned().unwrap_or_else(Measurement::missing))
        .collect();
    let (micro_m, measured) = all.split_at(plan.n_micro);
    let Plan {
        ref caches,
        threads_max,
        tile_rows,
        panel_vectors,
        dram_bytes,
        ref l3_candidates,
        n_l1,
        rowsum_rows,
        rowsum_elems,
        ref rate_anchors,
        ref short_panels,
        ref par_anchor,
        gemv_bytes,
        i_l1,
        i_l2,
        i_dram1,
        i_dram_all,
        ref i_rate,
        ref i_panels,
        i_par,
        i_gemv,
        i_relu,
        i_exp,
        i_gelu,
        ref i_rowsums,
        ref i_l3,
        ref suite,
        ..
    } = plan;
    let copy_bw = |m: &Measurement, footprint_bytes: usize| {
        8.0 * copy_elems(footprint_bytes) as f64 / m.median_s / 1e9
    };
    let mut micro = Vec::new();
    let l1 = copy_bw(&micro_m[i_l1], caches[0] as usize * 512);
    let l2 = copy_bw(&micro_m[i_l2], caches[1] as usize * 512);
    let dram1 = copy_bw(&micro_m[i_dram1], dram_bytes);
    let dram_all = copy_bw(&micro_m[i_dram_all], dram_bytes);
    micro.push((
        format!(
            "copy bandwidth, L1 ({} KiB working set), GB/s",
            caches[0] / 2
        ),
        l1,
    ));
    micro.push((
        format!(
            "copy bandwidth, L2 ({} KiB working set), GB/s",
            caches[1] / 2
        ),
        l2,
    ));
    micro.push((
        format!(
            "copy bandwidth, DRAM ({} MiB working set), 1 thread, GB/s",
            dram_bytes >> 20
        ),
        dram1,
    ));
    let fill_bw = |i: usize, footprint_bytes: usize| {
        4.0 * fill_elems(footprint_bytes) as f64 / micro_m[i].median_s / 1e9
    };
    let fill_dram = fill_bw(plan.i_fill_dram, dram_bytes);
    // The effective L3: the largest candidate working set whose bandwidth is still nearer the
    // smallest candidate's than DRAM's (a level ends where bandwidth falls towards the next).
    // Its (working set, copy bandwidth, store-only bandwidth).
    let mut l3 = (caches[1] * 2, dram1, fill_dram);
    // The copy bandwidth at each candidate up to the effective L3 (the model's curve inside
    // it), and at the first candidate past it when that one still copied faster than DRAM: one
    // thread streams a working set between the two at the interpolated figure, not DRAM's (on
    // the Zen 3 VM a copy ran 75, 67 and 54 GB/s at 4, 8 and 16 MiB, DRAM 34; ending the curve
    // at 8 MiB put ResNet's 9.6 MB residual add, measured at 77 GB/s, at 34: +127 %).
    let mut curve = Vec::new();
    let mut threshold = f64::INFINITY;
    let mut last_within = None;
    for (j, (mib, &i)) in l3_candidates.iter().zip(i_l3).enumerate() {
        let v = copy_bw(&micro_m[i], mib << 20);
        micro.push((format!("copy bandwidth, {mib} MiB working set, GB/s"), v));
        curve.push((*mib as f64 * 1024.0, v));
        if j == 0 {
            threshold = dram1 + 0.5 * (v - dram1);
        }
        if v > dram1 && v >= threshold {
            l3 = (*mib as u64 * 1024, v, fill_bw(plan.i_fill_l3[j], mib << 20));
            last_within = Some(j);
        }
    }
    let mut llc_curve: Vec<(f64, f64)> = match last_within {
        Some(j) => {
            let past = curve.get(j + 1).filter(|p| p.1 > dram1);
            curve[..=j].iter().chain(past).copied().collect()
        }
        None => Vec::new(),
    };
    if let Some(i) = plan
        .i_l3_near
        .filter(|&i| present[i] && !llc_curve.is_empty())
    {
        let v = copy_bw(&micro_m[i], caches[1] as usize * 1024 * 2);
        micro.push((
            format!(
                "copy bandwidth, {} KiB working set (twice L2), GB/s",
                caches[1] * 2
            ),
            v,
        ));
        llc_curve.insert(0, (caches[1] as f64 * 2.0, v));
    }
    let levels: Vec<u64> = vec![caches[0], caches[1], l3.0];
    let bw = [l1, l2, l3.1, dram1];
    let write_bw = [
        fill_bw(plan.i_fill_l1, caches[0] as usize * 512),
        fill_bw(plan.i_fill_l2, caches[1] as usize * 512),
        l3.2,
        fill_dram,
    ];
    for (level, v) in ["L1", "L2", "L3", "DRAM"].iter().zip(&write_bw) {
        micro.push((format!("store-only bandwidth, {level}, GB/s"), *v));
    }
    micro.push((
        "effective L3 used by the model, KiB".to_string(),
        l3.0 as f64,
    ));
    micro.push((
        format!("copy bandwidth, DRAM, {threads_max} threads, GB/s"),
        dram_all,
    ));
    let t_par = micro_m[i_par].median_s;
    for (k, &i) in rate_anchors.iter().zip(i_rate) {
        micro.push((
            format!("f32 GEMM {}, 1 thread, GFLOP/s", dims(k)),
            2.0 * gemm_macs(k) / micro_m[i].median_s / 1e9,
        ));
    }
    let gemv_fraction = (gemv_bytes / micro_m[i_gemv].median_s / 1e9 / dram1).min(1.0);
    micro.push((
        format!(
            "GEMV {} matrix stream, share of DRAM copy bandwidth",
            dims(&plan.items[i_gemv].0)
        ),
        gemv_fraction,
    ));
    let per_elem = |i: usize| micro_m[i].median_s * 1e9 / n_l1 as f64;
    let (simple_ns, exp_ns, tanh_ns) = (per_elem(i_relu), per_elem(i_exp), per_elem(i_gelu));
    let reduce_ns: Vec<f64> = i_rowsums
        .iter()
        .zip(rowsum_rows.iter().zip(rowsum_elems))
        .map(|(&i, (&rows, elems))| micro_m[i].median_s * 1e9 / ((elems / rows) * rows) as f64)
        .collect();
    micro.push(("ReLU in L1, ns/element".into(), simple_ns));
    micro.push(("exp in L1, ns/element".into(), exp_ns));
    micro.push(("GELU (tanh) in L1, ns/element".into(), tanh_ns));
    for (level, ns) in ["L1", "L2", "L3", "DRAM"].iter().zip(&reduce_ns) {
        micro.push((format!("row sum in {level}, ns/element"), *ns));
    }
    let cross_core = cross_core_gb_s(&plan, &found);
    micro.push((
        match cross_core.1 {
            CrossCore::Measured => "cross-core reads (hand-off less same-core passes), GB/s",
            CrossCore::Free => {
                "cross-core reads, GB/s (0: hand-off passes took no longer than same-core ones, so no charge)"
            }
            CrossCore::Assumed => {
                "cross-core reads, GB/s (assumed: these measurements have no hand-off passes)"
            }
        }
        .to_string(),
        cross_core.0,
    ));
    for (what, v) in &micro {
        progress(&format!("  {what}: {v:.2}"));
    }
    for (i, (c, m)) in suite.iter().zip(measured).enumerate() {
        if !present[plan.n_micro + i] {
            continue;
        }
        progress(&format!(
            "  [{}/{}] {} ({} thr): {:.1} us",
            i + 1,
            suite.len(),
            c.name,
            c.threads,
            m.median_s * 1e6
        ));
    }

    let base =
        |gflops: f64,
         par_eff: f64,
         panel_eff: &[f64],
         [over, par, gather, stencil, pa, pb, pc, gather_row, pa_l2, wake, handoff, _]: [f64;
             12]| {
            CpuSpec {
                model: host.model.clone(),
                cores: Count(host.logical_cpus as u64),
                threads: Count(1),
                simd_bits: Count(host.simd_bits),
                caches_kib: levels.iter().map(|&c| Positive(c as f64)).collect(),
                bandwidth_gb_s: bw.iter().map(|&b| Positive(b)).collect(),
                write_bandwidth_gb_s: write_bw.iter().map(|&b| Positive(b)).collect(),
                llc_working_set_kib: llc_curve.iter().map(|p| Positive(p.0)).collect(),
                llc_bandwidth_gb_s: llc_curve.iter().map(|p| Positive(p.1)).collect(),
                dram_all_cores_gb_s: Positive(dram_all),
                gemm_gflops: Positive(gflops),
                gemm_tile_rows: Count(tile_rows as u64),
                gemm_tile_cols: Count(4),
                gemm_kc: Count(512),
                gemm_par_block_cols: Count(32),
                gemm_par_block_panels: [Count(2), Count(4)],
                gemm_par_min_macs: Count(16384),
                gemm_panel_efficiency: panel_eff.iter().map(|&e| Positive(e)).collect(),
                gemv_stream_fraction: Positive(gemv_fraction),
                gemm_operand_passes: [NonNegative(pa), NonNegative(pb), NonNegative(pc)],
                gemm_a_passes_in_l2: NonNegative(pa_l2),
                simple_ns: Positive(simple_ns),
                exp_ns: Positive(exp_ns),
                tanh_ns: Positive(tanh_ns),
                reduce_ns: reduce_ns.iter().map(|&v| Positive(v)).collect(),
                reduce_working_set_kib: rowsum_elems
                    .iter()
                    .map(|&e| Positive(e as f64 * 4.0 / 1024.0))
                    .collect(),
                gather_ns: NonNegative(gather),
                gather_row_ns: NonNegative(gather_row),
                stencil_ns: Positive(stencil),
                overhead_us: NonNegative(over),
                parallel_overhead_us: NonNegative(par),
                parallel_efficiency: Positive(par_eff),
                gemm_thread_wake_us: NonNegative(wake),
                gemm_c_handoff_ns: NonNegative(handoff),
                cross_core_gb_s: NonNegative(cross_core.0),
            }
        };
    // The rate and the panel efficiencies follow from one-thread anchors measured above, for
    // given fitted parameters: each is the share of an anchor's measured time, less what the model
    // charges it besides FMAs, that the model's FMA time at a trial rate accounts for.
    let fma_share = |spec: CpuSpec, kernel: &Kernel, measured_s: f64| {
        let at = |gflops: f64| -> Result<f64, ValidateError> {
            let mut s = spec.clone();
            s.gemm_gflops = Positive(gflops);
            Ok(predict_trace(&model_for(&spec_with(&host, s, dram1), 1)?, &kernel.trace()).0)
        };
        let (t_fma, t_rest) = (at(spec.gemm_gflops.0)?, at(1e9)?);
        Ok::<f64, ValidateError>((t_fma - t_rest) / (measured_s - t_rest).max(0.5 * measured_s))
    };
    let full_panels = vec![1.0; panel_vectors];
    let full = |p: [f64; 12]| -> Result<CpuSpec, ValidateError> {
        // The anchors are all full panels, so the rate does not depend on the short ones.
        let trial = 100.0;
        let mut q = p;
        q[0] = 0.0;
        let mut rates = Vec::with_capacity(rate_anchors.len());
        for (k, &i) in rate_anchors.iter().zip(i_rate) {
            let share = fma_share(base(trial, 1.0, &full_panels, q), k, micro_m[i].median_s)?;
            rates.push(trial * share);
        }
        rates.sort_by(f64::total_cmp);
        // The median: the machine's speed drifts between two levels ~10 % apart from minute to
        // minute, and the kernels land on either.
        let r = rates[rates.len() / 2];
        let mut panel_eff = Vec::with_capacity(panel_vectors);
        for (k, &i) in short_panels.iter().zip(i_panels) {
            let share = fma_share(base(r, 1.0, &full_panels, p), k, micro_m[i].median_s)?;
            panel_eff.push(share.clamp(0.05, 1.0));
        }
        panel_eff.push(1.0);
        let par_eff = if threads_max > 1 { p[11] } else { 1.0 };
        Ok(base(r, par_eff, &panel_eff, p))
    };

    let calib: Vec<usize> = (0..suite.len()).filter(|&i| is_calibration(i)).collect();
    // Coordinate descent over the twelve free parameters (overheads, the threaded-GEMM wake-up and
    // C handoff, the parallel efficiency, im2col and direct-convolution costs, GEMM operand
    // passes), minimising the mean |log error| on the calibration part; each is independent
    // enough (different kernel classes) to converge fast. The parallel efficiency is fitted on
    // every threaded calibration kernel, the 2-thread anchor among them, rather than read off the
    // anchor alone: one anchor's time drifts with the VM (0.79 in a run whose rate anchors ran in
    // the fast phase and its 2-thread kernels did not; fitted, 0.85).
    // Every calibration item as (trace, threads, measured seconds).
    let calib_items: Vec<(vchip_workloads::Trace, usize, f64)> = calib
        .iter()
        .filter(|&&i| present[plan.n_micro + i])
        .map(|&i| {
            (
                suite[i].kernel.trace(),
                suite[i].threads.min(threads_max),
                measured[i].median_s,
            )
        })
        .chain(
            plan.calib_gemms
                .iter()
                .filter(|(_, _, i)| present[*i])
                .map(|(k, t, i)| (k.trace(), *t, all[*i].median_s)),
        )
        .chain((threads_max > 1).then(|| (par_anchor.trace(), threads_max, t_par)))
        .collect();
    let loss = |p: [f64; 12]| -> Result<f64, ValidateError> {
        let spec = spec_with(&host, full(p)?, dram1);
        let mut sum = 0.0;
        for (trace, threads, secs) in &calib_items {
            let (pred, _) = predict_trace(&model_for(&spec, *threads)?, trace);
            sum += (pred / secs).ln().abs();
        }
        Ok(sum)
    };
    let passes: &[f64] = &[0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0];
    let grids: [&[f64]; 12] = [
        &[0.0, 0.5, 1.0, 2.0, 4.0, 8.0],
        &[
            0.0, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 40.0, 60.0,
        ],
        &[0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0],
        &[
            0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5, 3.0,
        ],
        passes,
        passes,
        passes,
        &[0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0],
        passes,
        &[0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0],
        &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0],
        &[0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975, 1.0],
    ];
    let mut p = [1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.9];
    // The im2col costs per element and per row trade against each other on the few calibration
    // convolutions, so they are searched together (one coordinate at a time stalls).
    let blocks: [&[usize]; 11] = [
        &[0],
        &[1],
        &[2, 7],
        &[3],
        &[4],
        &[5],
        &[6],
        &[8],
        &[9],
        &[10],
        &[11],
    ];
    for _round in 0..3 {
        for block in blocks {
            let mut best = (loss(p)?, p);
            let mut pick = vec![0usize; block.len()];
            'search: loop {
                let mut q = p;
                for (&j, &g) in block.iter().zip(&pick) {
                    q[j] = grids[j][g];
                }
                let l = loss(q)?;
                if l < best.0 {
                    best = (l, q);
                }
                // Next combination, the first coordinate fastest.
                for (b, &j) in block.iter().enumerate() {
                    pick[b] += 1;
                    if pick[b] < grids[j].len() {
                        continue 'search;
                    }
                    pick[b] = 0;
                }
                break;
            }
            p = best.1;
        }
    }
    let cpu = full(p)?;
    let par_eff = cpu.parallel_efficiency.0;
    if threads_max > 1 {
        micro.push((
            format!(
                "parallel efficiency on {threads_max} threads (fitted; the {} anchor calibrates with the rest)",
                dims(par_anchor)
            ),
            par_eff,
        ));
    }
    micro.push((
        "GEMM microkernel rate (median rate anchor less operand passes), GFLOP/s".into(),
        cpu.gemm_gflops.0,
    ));
    for (v, e) in cpu.gemm_panel_efficiency.iter().enumerate() {
        micro.push((
            format!(
                "GEMM panel of {} rows: share of the full panel's rate",
                (v + 1) * tile_rows
            ),
            e.0,
        ));
    }
    let spec = spec_with(&host, cpu, dram1);
    progress(&format!(
        "calibrated: overhead {} us, parallel overhead {} us, parallel efficiency {:.2}, im2col {} ns/element + {} ns/row, direct conv {} ns/MAC, GEMM passes over A/B/C {}/{}/{} (A within L2: {}), threaded GEMM wake-up {} us, C handoff {} ns/element",
        p[0], p[1], par_eff, p[2], p[7], p[3], p[4], p[5], p[6], p[8], p[9], p[10]
    ));

    let result = |name: String,
                  source: String,
                  kernel: &Kernel,
                  threads: usize,
                  part: &'static str,
                  m: &Measurement|
     -> Result<KernelResult, ValidateError> {
        let (p, bound) = predict_trace(&model_for(&spec, threads)?, &kernel.trace());
        Ok(KernelResult {
            name,
            source,
            kernel: kernel.clone(),
            threads,
            part,
            measured: m.clone(),
            predicted_s: p,
            ape_pct: 100.0 * (p - m.median_s).abs() / m.median_s,
            bound,
        })
    };
    let mut results = Vec::new();
    for (i, c) in suite.iter().enumerate() {
        if !present[plan.n_micro + i] {
            continue;
        }
        let part = if is_calibration(i) {
            "calibration"
        } else {
            "test"
        };
        let threads = c.threads.min(threads_max);
        results.push(result(
            c.name.clone(),
            c.source.clone(),
            &c.kernel,
            threads,
            part,
            &measured[i],
        )?);
    }
    let synthetic = plan
        .calib_gemms
        .iter()
        .map(|item| (item, "calibration"))
        .chain(plan.grid.iter().map(|item| (item, "grid")));
    for ((k, threads, i), part) in synthetic {
        if !present[*i] {
            continue;
        }
        results.push(result(
            format!("gemm {}", dims(k)),
            "synthetic".into(),
            k,
            *threads,
            part,
            &all[*i],
        )?);
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
    let (gp, gm) = part("grid");
    Ok(CpuReport {
        host,
        hardware: spec,
        microbenchmarks: micro,
        test: accuracy(&tp, &tm),
        calibration: accuracy(&cp, &cm),
        grid: accuracy(&gp, &gm),
        kernels: results,
        skipped,
        duration_s: m.duration_s + start.elapsed().as_secs_f64(),
    })
}

/// Where the cross-core bandwidth came from.
enum CrossCore {
    Measured,
    /// Passes handed between cores took no longer than passes kept on one.
    Free,
    /// The recording has no hand-off timings (an older one, or a one-CPU host).
    Assumed,
}

/// The cross-core read bandwidth, GB/s: the bytes of the hand-off passes over the time they took
/// beyond the same passes kept on one core; 0 (no cross-core charge) when they took no longer.
/// Without both timings (an older recording, a one-CPU host), `CROSS_CORE_GB_S`.
fn cross_core_gb_s(plan: &Plan, found: &[Option<&Measurement>]) -> (f64, CrossCore) {
    let Some([remote, local]) = plan.i_handoff else {
        return (CROSS_CORE_GB_S, CrossCore::Assumed);
    };
    let (Some(remote_m), Some(local_m), Kernel::HandOff { n, phases, .. }) =
        (found[remote], found[local], &plan.items[remote].0)
    else {
        return (CROSS_CORE_GB_S, CrossCore::Assumed);
    };
    let bytes = 4.0 * *n as f64 * *phases as f64;
    let extra_s = remote_m.median_s - local_m.median_s;
    if extra_s <= 0.0 {
        return (0.0, CrossCore::Free);
    }
    (bytes / extra_s / 1e9, CrossCore::Measured)
}

/// `M×N×K` of a GEMM kernel, for labels.
fn dims(k: &Kernel) -> String {
    match k {
        Kernel::Gemm { m, n, k } => format!("{m}x{n}x{k}"),
        other => format!("{other:?}"),
    }
}

fn gemm_macs(k: &Kernel) -> f64 {
    match k {
        Kernel::Gemm { m, n, k } => (m * n * k) as f64,
        _ => 0.0,
    }
}
