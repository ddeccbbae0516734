//! The CPU validation run: detect the host, time microbenchmarks and kernels (`measure_cpu`),
//! then calibrate a handful of machine parameters and predict the test kernels calibration never
//! saw (the `calibrate` module).

use serde::{Deserialize, Serialize};

use crate::affinity;
use crate::host::{detect, HostInfo};
use crate::kernels::{Kernel, KernelCase};
use crate::suite::kernels;
use crate::timing::{measure_samples, summarize, Measurement, TimingConfig};
use crate::ValidateError;

pub use vchip_explore::sweep::SplitMix;

/// Measures every `(kernel, threads)` item in `rounds` interleaved passes (each with a share of the
/// timing budget) and keeps, per item, the pass with the lowest median. On a shared or virtualised
/// host the machine's speed drifts over seconds (here a DRAM-sized GEMV once ran 20× slower in one
/// pass than in the next, with every other kernel unaffected); disturbances
/// only ever add time, so the quietest pass is the closest to the kernel's own cost, and
/// interleaving gives every item the same chances of a quiet pass.
fn measure_interleaved(
    items: &[(Kernel, usize)],
    cfg: TimingConfig,
    rounds: usize,
    progress: &dyn Fn(&str),
) -> Result<Vec<Measurement>, ValidateError> {
    let rounds = rounds.max(1);
    let per_round = TimingConfig {
        rel_ci: cfg.rel_ci,
        min_samples: cfg.min_samples.div_ceil(rounds).max(5),
        max_samples: cfg.max_samples.div_ceil(rounds),
        budget_s: cfg.budget_s / rounds as f64,
    };
    // Each thread that times kernels is pinned to one CPU (the caller, which runs the one-thread
    // kernels, to the first; pool worker i to the i-th), so no kernel migrates mid-measurement
    // and loses its cached data. The caller's own set is restored afterwards.
    let cpus = affinity::allowed_cpus();
    let widest = items.iter().map(|&(_, t)| t).max().unwrap_or(1);
    let pinned = cpus.len() >= widest && affinity::pin_current_thread(&cpus[..1]);
    progress(&if pinned {
        format!("  threads pinned, one per CPU of {:?}", &cpus[..widest])
    } else {
        "  threads not pinned (fewer allowed CPUs than threads, or the OS refused)".to_string()
    });
    // Multi-threaded kernels run on a pool of exactly their thread count, called from one of its
    // workers, as an inference runtime calls its kernels: a call from outside the pool would also
    // pay for waking the caller (two wake-ups on a 2-vCPU VM: 20–60 µs a call, measured, against
    // ~5 µs from inside).
    let mut pools = std::collections::BTreeMap::new();
    for &(_, t) in items {
        if t > 1 && !pools.contains_key(&t) {
            let worker_cpus = cpus.clone();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .start_handler(move |i| {
                    if pinned {
                        affinity::pin_current_thread(&worker_cpus[i..=i]);
                    }
                })
                .build()
                .map_err(|e| {
                    ValidateError::Unavailable(format!("cannot start a pool of {t} threads: {e}"))
                })?;
            pools.insert(t, pool);
        }
    }
    let mut best: Vec<Option<Measurement>> = vec![None; items.len()];
    for r in 0..rounds {
        progress(&format!("  timing pass {}/{rounds}", r + 1));
        for (i, (k, threads)) in items.iter().enumerate() {
            let time = || {
                let mut run = k.prepare(*threads);
                summarize(measure_samples(&mut *run, per_round))
            };
            let m = match pools.get(threads) {
                Some(pool) => pool.install(time),
                None => time(),
            };
            if best[i].as_ref().is_none_or(|b| m.median_s < b.median_s) {
                best[i] = Some(m);
            }
        }
    }
    if pinned {
        affinity::pin_current_thread(&cpus);
    }
    Ok(best
        .into_iter()
        .map(|m| m.unwrap_or_else(|| summarize(Vec::new())))
        .collect())
}

/// Synthetic GEMM shapes (M = output rows, N = output columns, K = depth) up to `max_macs`, on one
/// thread and, every other shape, on all threads.
fn gemm_shapes(
    ms: &[usize],
    ns: &[usize],
    ks: &[usize],
    max_macs: usize,
    threads_max: usize,
) -> Vec<(Kernel, usize)> {
    let mut v = Vec::new();
    for (i, (&m, &n, &k)) in ms
        .iter()
        .flat_map(|m| {
            ns.iter()
                .flat_map(move |n| ks.iter().map(move |k| (m, n, k)))
        })
        .enumerate()
    {
        if m * n * k > max_macs {
            continue;
        }
        v.push((Kernel::Gemm { m, n, k }, 1));
        if threads_max > 1 && i % 2 == 0 {
            v.push((Kernel::Gemm { m, n, k }, threads_max));
        }
    }
    v
}

/// The synthetic test grid: reported as its own part, never used by calibration.
fn gemm_grid(quick: bool, threads_max: usize) -> Vec<(Kernel, usize)> {
    if quick {
        gemm_shapes(
            &[16, 96, 1024],
            &[48, 512],
            &[96, 1536],
            1 << 30,
            threads_max,
        )
    } else {
        gemm_shapes(
            &[16, 40, 96, 320, 1024, 4096],
            &[48, 160, 512, 1536],
            &[32, 96, 384, 1536],
            1 << 30,
            threads_max,
        )
    }
}

/// Synthetic GEMMs that calibrate, with sizes none of the test grid has: pure GEMMs pin down the
/// operand passes, which the network convolutions alone confound with the im2col cost (both grow
/// with M × K).
/// Some have a B beyond L2 (640 × 1536, 2048 × 768 and more): the one stream a GEMM cannot keep
/// in cache, which few network kernels in the calibration part have.
fn gemm_calibration(quick: bool, threads_max: usize) -> Vec<(Kernel, usize)> {
    if quick {
        gemm_shapes(&[200, 2000], &[24, 640], &[48, 768], 1 << 28, threads_max)
    } else {
        gemm_shapes(
            &[24, 200, 2000, 5000],
            &[24, 96, 640, 2048],
            &[48, 768, 1536],
            1 << 28,
            threads_max,
        )
    }
}

/// Everything a CPU validation run timed, enough to calibrate and predict again without timing
/// (`vchip validate --device cpu --from measurements.json`): the model can be refined and
/// re-checked against the same measurements, and runs from other machines can be re-analysed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CpuMeasurements {
    /// The vchip version that timed them (the kernel set belongs to a version).
    pub vchip_version: String,
    pub quick: bool,
    pub host: HostInfo,
    /// Every microbenchmark and kernel, in the order the plan lists them.
    pub items: Vec<MeasuredItem>,
    /// Seconds spent timing.
    pub duration_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MeasuredItem {
    pub kernel: Kernel,
    pub threads: usize,
    pub measured: Measurement,
}

/// What a run times, derived from the host and `quick` alone (so saved measurements can be matched
/// to it again): microbenchmarks first, then the synthetic GEMMs, then the network kernel suite.
pub(crate) struct Plan {
    pub caches: Vec<u64>,
    pub threads_max: usize,
    pub tile_rows: usize,
    /// Vectors of rows in the library's tallest f32 microkernel.
    pub panel_vectors: usize,
    pub dram_bytes: usize,
    pub l3_candidates: Vec<usize>,
    /// Elements of the L1-resident element-wise microbenchmarks.
    pub n_l1: usize,
    pub rowsum_rows: [usize; 4],
    pub rowsum_elems: [usize; 4],
    /// Compute-bound GEMMs of whole panels within L2: the microkernel rate is the median of
    /// what they give. One anchor alone ran at one of two rates from run to run here (186–189
    /// or 200–207 GFLOP/s, every pass of a run alike, while the kernels did not follow), and the
    /// machine's speed drifts between such levels: the median of three, measured at three places
    /// in a pass, follows the kernels better than any one.
    pub rate_anchors: Vec<Kernel>,
    pub short_panels: Vec<Kernel>,
    pub par_anchor: Kernel,
    pub gemv_bytes: f64,
    pub items: Vec<(Kernel, usize)>,
    pub i_l1: usize,
    pub i_l2: usize,
    pub i_dram1: usize,
    pub i_dram_all: usize,
    pub i_rate: Vec<usize>,
    pub i_panels: Vec<usize>,
    pub i_par: usize,
    pub i_gemv: usize,
    pub i_relu: usize,
    pub i_exp: usize,
    pub i_gelu: usize,
    pub i_rowsums: Vec<usize>,
    pub i_l3: Vec<usize>,
    /// A copy over twice the L2, when that is below the first L3 candidate.
    pub i_l3_near: Option<usize>,
    /// Store-only streams over the same working sets as the copies: L1, L2, each L3 candidate,
    /// DRAM.
    pub i_fill_l1: usize,
    pub i_fill_l2: usize,
    pub i_fill_l3: Vec<usize>,
    pub i_fill_dram: usize,
    /// Passes over half an L2 handed between two threads and kept on one (`Kernel::HandOff`),
    /// when there are two threads: the cross-core read cost.
    pub i_handoff: Option<[usize; 2]>,
    /// Synthetic GEMMs of the test grid and of calibration, with their item indices.
    pub grid: Vec<(Kernel, usize, usize)>,
    pub calib_gemms: Vec<(Kernel, usize, usize)>,
    /// Index of the first suite kernel.
    pub n_micro: usize,
    pub suite: Vec<KernelCase>,
}

/// A copy of `footprint` bytes (source and destination together) moves 8 bytes per f32.
pub(crate) fn copy_elems(footprint_bytes: usize) -> usize {
    (footprint_bytes / 8).max(256)
}

/// Passes of a `Kernel::HandOff` microbenchmark: ~200 µs a run at a few µs a pass.
pub(crate) const HANDOFF_PHASES: usize = 32;

/// Floats of a `Kernel::HandOff` buffer: half of an L2 of `l2_kib` KiB, so a pass leaves it in
/// the writer's L2.
pub(crate) fn handoff_elems(l2_kib: u64) -> usize {
    (l2_kib as usize * 1024 / 2 / 4).max(256)
}

/// A store-only stream of `footprint` bytes writes 4 bytes per f32.
pub(crate) fn fill_elems(footprint_bytes: usize) -> usize {
    (footprint_bytes / 4).max(256)
}

impl Plan {
    pub fn new(host: &HostInfo, quick: bool) -> Plan {
        let caches: Vec<u64> = if host.caches_kib.len() == 3 {
            host.caches_kib.clone()
        } else {
            vec![32, 1024, 32768]
        };
        let threads_max = host.logical_cpus.clamp(1, 2);
        // Microbenchmarks: bandwidth per level (copy: read + write bytes), per-element costs in
        // L1, the GEMM rate and its parallel efficiency, a DRAM-sized GEMV. These are the machine
        // parameters; the fit sets the overheads, the im2col and direct-convolution costs and the
        // GEMM's operand passes.
        let copy = |footprint_bytes: usize| Kernel::Copy {
            n: copy_elems(footprint_bytes),
        };
        let dram_bytes = (caches[2] as usize * 1024 * 4).clamp(512 << 20, 2 << 30);
        // Candidate L3 working sets: sysfs may report a package total shared by many cores or
        // VMs, so the L3 a core really gets is found by measurement.
        let l3_candidates: Vec<usize> = [4usize, 8, 16, 32, 64]
            .into_iter()
            .take_while(|mib| mib * 1024 * 2 <= caches[2] as usize)
            .collect();
        // The GEMM rate anchor: compute-bound, one K block, two full microkernel panels of rows,
        // operands (1.4 MiB) within L2. A larger anchor (1024³, 12 MiB) streams A from the L3
        // that this VM shares with its neighbours: its rate moved between 139 and 195 GFLOP/s
        // from run to run here, far more than the kernels'.
        let tile_rows = (host.simd_bits / 32).max(1) as usize;
        // Vectors of rows in faer's tallest f32 microkernel: 96 rows with AVX-512, 24 with AVX2.
        let panel_vectors = if host.simd_bits >= 512 { 6 } else { 3 };
        let (big_n, big_k) = (384usize, 512usize);
        let panel = panel_vectors * tile_rows;
        let rate_anchors: Vec<Kernel> = [
            (2 * panel, big_n, big_k),
            (2 * panel, 352, 480),
            (3 * panel, 256, 448),
        ]
        .into_iter()
        .map(|(m, n, k)| Kernel::Gemm { m, n, k })
        .collect();
        // One shorter panel each (1 … panel_vectors - 1 vectors of rows), same N and K: the rate
        // of each panel height relative to a full one.
        let short_panels: Vec<Kernel> = (1..panel_vectors)
            .map(|v| Kernel::Gemm {
                m: v * tile_rows,
                n: big_n,
                k: big_k,
            })
            .collect();
        // A DRAM-sized matrix-vector product (Llama decode projections are of this kind).
        let (gemv_n, gemv_k) = (8192usize, 4096usize);
        let n_l1 = (caches[0] as usize * 1024 / 16).max(256);
        let eltwise = |op: &str| Kernel::Eltwise {
            op: op.into(),
            n: n_l1,
        };
        let mut items: Vec<(Kernel, usize)> = Vec::new();
        let mut add = |k: Kernel, threads: usize| {
            items.push((k, threads));
            items.len() - 1
        };
        let i_l1 = add(copy(caches[0] as usize * 512), 1);
        let i_l2 = add(copy(caches[1] as usize * 512), 1);
        let i_dram1 = add(copy(dram_bytes), 1);
        let i_dram_all = add(copy(dram_bytes), threads_max);
        // The rate anchors sit at three places in a pass (after the DRAM copies, after the
        // grid, after the calibration GEMMs): what ran just before one can slow it (all three
        // anchors measured back to back once ran at 184 GFLOP/s in every pass of a run whose
        // kernels ran at the usual speed).
        let mut i_rate: Vec<usize> = vec![add(rate_anchors[0].clone(), 1)];
        let i_panels: Vec<usize> = short_panels.iter().map(|k| add(k.clone(), 1)).collect();
        // A GEMM on all threads with a single block of rows (so no task re-reads A): it joins the
        // calibration part, where it and the threaded calibration kernels set the parallel
        // efficiency.
        let par_anchor = Kernel::Gemm {
            m: 192,
            n: 2048,
            k: 1024,
        };
        let i_par = add(par_anchor.clone(), threads_max);
        let i_gemv = add(
            Kernel::Gemm {
                m: 1,
                n: gemv_n,
                k: gemv_k,
            },
            1,
        );
        let i_relu = add(eltwise("relu"), 1);
        let i_exp = add(eltwise("exp"), 1);
        let i_gelu = add(eltwise("gelu"), 1);
        // Row sums with their data in L1, L2 (half of it), L3 (8 MiB, within the effective L3
        // of the machines seen so far) and DRAM: a dependent chain of adds waits on loads that
        // miss L1.
        let rowsum_rows = [8usize, 64, 256, 1024];
        let rowsum_elems = [
            n_l1,
            caches[1] as usize * 1024 / 2 / 4,
            (8 << 20) / 4,
            dram_bytes / 4 / 4,
        ];
        let i_rowsums: Vec<usize> = rowsum_rows
            .iter()
            .zip(rowsum_elems)
            .map(|(&rows, elems)| {
                add(
                    Kernel::RowSum {
                        rows,
                        cols: elems / rows,
                    },
                    1,
                )
            })
            .collect();
        let i_l3: Vec<usize> = l3_candidates
            .iter()
            .map(|mib| add(copy(mib << 20), 1))
            .collect();
        // Where twice the L2 comes before the first candidate (a 512 KiB L2), the L3's curve
        // starts there: a working set just beyond L2 streams nearer L2's speed than 4 MiB's.
        let near_l2 = caches[1] as usize * 1024 * 2;
        let i_l3_near = l3_candidates
            .first()
            .is_some_and(|mib| near_l2 < mib << 20)
            .then(|| add(copy(near_l2), 1));
        let fill = |footprint_bytes: usize| Kernel::Fill {
            n: fill_elems(footprint_bytes),
        };
        let i_fill_l1 = add(fill(caches[0] as usize * 512), 1);
        let i_fill_l2 = add(fill(caches[1] as usize * 512), 1);
        let i_fill_l3: Vec<usize> = l3_candidates
            .iter()
            .map(|mib| add(fill(mib << 20), 1))
            .collect();
        let i_fill_dram = add(fill(dram_bytes), 1);
        let i_handoff = (threads_max > 1).then(|| {
            [true, false].map(|remote| {
                add(
                    Kernel::HandOff {
                        n: handoff_elems(caches[1]),
                        phases: HANDOFF_PHASES,
                        remote,
                    },
                    threads_max,
                )
            })
        });
        // A grid of synthetic GEMM shapes, a second test set that calibration never sees: it
        // shows how the GEMM model does away from network layers (tiny M, tiny K, threads on
        // small work).
        let grid: Vec<(Kernel, usize, usize)> = gemm_grid(quick, threads_max)
            .into_iter()
            .map(|(k, t)| (k.clone(), t, add(k, t)))
            .collect();
        i_rate.push(add(rate_anchors[1].clone(), 1));
        let calib_gemms: Vec<(Kernel, usize, usize)> = gemm_calibration(quick, threads_max)
            .into_iter()
            .map(|(k, t)| (k.clone(), t, add(k, t)))
            .collect();
        i_rate.push(add(rate_anchors[2].clone(), 1));
        let n_micro = items.len();
        let suite = kernels(quick);
        items.extend(
            suite
                .iter()
                .map(|c| (c.kernel.clone(), c.threads.min(threads_max))),
        );
        Plan {
            caches,
            threads_max,
            tile_rows,
            panel_vectors,
            dram_bytes,
            l3_candidates,
            n_l1,
            rowsum_rows,
            rowsum_elems,
            rate_anchors,
            short_panels,
            par_anchor,
            gemv_bytes: 4.0 * (gemv_n * gemv_k) as f64,
            items,
            i_l1,
            i_l2,
            i_dram1,
            i_dram_all,
            i_rate,
            i_panels,
            i_par,
            i_gemv,
            i_relu,
            i_exp,
            i_gelu,
            i_rowsums,
            i_l3,
            i_l3_near,
            i_fill_l1,
            i_fill_l2,
            i_fill_l3,
            i_fill_dram,
            i_handoff,
            grid,
            calib_gemms,
            n_micro,
            suite,
        }
    }
}

/// Times every microbenchmark and kernel of a CPU validation run on this host.
pub fn measure_cpu(quick: bool, progress: &dyn Fn(&str)) -> Result<CpuMeasurements, ValidateError> {
    let start = std::time::Instant::now();
    let cfg = if quick {
        TimingConfig::quick()
    } else {
        TimingConfig::full()
    };
    let rounds = if quick { 3 } else { 6 };
    let host = detect();
    let plan = Plan::new(&host, quick);
    progress(&format!(
        "host: {} ({} logical CPUs, {}-bit SIMD, caches {:?} KiB)",
        host.model, host.logical_cpus, host.simd_bits, plan.caches
    ));
    progress(&format!(
        "timing {} microbenchmarks and {} kernels in {rounds} interleaved passes",
        plan.n_micro,
        plan.suite.len()
    ));
    let measured = measure_interleaved(&plan.items, cfg, rounds, progress)?;
    for (i, (c, m)) in plan.suite.iter().zip(&measured[plan.n_micro..]).enumerate() {
        progress(&format!(
            "  [{}/{}] {} ({} thr): {:.1} us",
            i + 1,
            plan.suite.len(),
            c.name,
            c.threads,
            m.median_s * 1e6
        ));
    }
    Ok(CpuMeasurements {
        vchip_version: env!("CARGO_PKG_VERSION").into(),
        quick,
        host,
        items: plan
            .items
            .iter()
            .zip(measured)
            .map(|((kernel, threads), measured)| MeasuredItem {
                kernel: kernel.clone(),
                threads: *threads,
                measured,
            })
            .collect(),
        duration_s: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every microbenchmark and kernel a run times is also a valid one-op trace (the model costs
    /// the synthetic ones, and `Kernel::trace` asserts its shapes in debug builds), for a full
    /// and a quick plan alike.
    #[test]
    fn every_planned_item_is_a_one_op_trace() {
        let host = HostInfo {
            model: "test".into(),
            logical_cpus: 2,
            simd_bits: 512,
            fma: true,
            caches_kib: vec![48, 2048, 491520],
            mhz: 2600.0,
            memory_gib: 16.0,
        };
        for quick in [false, true] {
            let plan = Plan::new(&host, quick);
            assert_eq!(plan.items.len(), plan.n_micro + plan.suite.len());
            for (k, _) in &plan.items {
                assert_eq!(k.trace().ops.len(), 1, "{k:?}");
            }
        }
    }
}
