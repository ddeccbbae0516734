//! The host CPU as a hardware kind (`kind: cpu`): a roofline over cache levels with a GEMM model
//! that follows how a packed (GotoBLAS-style) GEMM library spends its time, and fixed overheads.
//!
//! Its parameters come from the OS (cores, SIMD, caches: `/proc/cpuinfo`, sysfs) and from
//! microbenchmarks and a small calibration fit run by `vchip validate --device cpu`; no kernel's
//! measured time is looked up. Prediction for an op on `threads` threads:
//! - GEMM-class work (matmul, convolution lowered to im2col + GEMM): the microkernel computes whole
//!   register tiles, so M and N are rounded up to the tile (`gemm_tile_rows` × `gemm_tile_cols`)
//!   before dividing the FLOPs by the microkernel rate; packing A and B and writing C back add
//!   calibrated passes over each operand at the bandwidth of the level that holds it; im2col's
//!   gather adds a per-element cost. Matrix-vector products stream the matrix at a calibrated
//!   share of the copy bandwidth (or run at the reduction rate when that is slower); depthwise
//!   convolutions run at the direct-convolution (stencil) rate;
//! - everything else: per-element costs by class (simple, transcendental, reduction);
//! - memory: bytes moved / bandwidth of the smallest level holding the working set (DRAM: the
//!   all-core figure when several threads run), reads and writes apart in an L2 whose write path
//!   is the bottleneck (see `memory_stream_s`);
//! - threaded element-wise work is divided by `threads × parallel_efficiency`; a threaded GEMM is
//!   scheduled as the library does it: blocks of C handed to whichever thread is free, one
//!   dispatch per K block (see `gemm_threaded_s`);
//! - time = max(compute, memory) + overhead, plus the parallel overhead once per threaded
//!   non-GEMM kernel.

use vchip_workloads::{Op, OpKind, Trace};

use crate::area::Area;
use crate::error::HwError;
use crate::model::*;
use crate::schedule::Level;
pub use crate::spec::cpu::CpuSpec;
use crate::spec::{HardwareSpec, Positive};

/// Most task placements (tasks × threads) a threaded GEMM's K block is scheduled one by one; beyond
/// it the model takes the list-scheduling bound, so a huge GEMM costs microseconds to predict.
const SCHEDULE_LIMIT: u64 = 1 << 14;

/// Time until the last of `threads` workers is done when each task, in order, goes to the worker
/// that is free first (an atomic task counter does exactly this).
fn list_schedule(costs: impl IntoIterator<Item = f64>, threads: usize) -> f64 {
    let mut load = vec![0.0f64; threads.max(1)];
    for cost in costs {
        if let Some(free) = load.iter_mut().min_by(|a, b| a.total_cmp(b)) {
            *free += cost;
        }
    }
    load.into_iter().fold(0.0, f64::max)
}

/// The value at `x` of the curve through (`xs`, `ys`), `xs` increasing: interpolated on log `x`
/// between two points, the end value beyond either end.
fn log_interpolate(xs: &[Positive], ys: &[Positive], x: f64) -> f64 {
    let upper = xs.iter().position(|w| w.0 > x).unwrap_or(xs.len());
    if upper == 0 || upper == xs.len() {
        return ys[upper.saturating_sub(1)].0;
    }
    let (lo, hi) = (upper - 1, upper);
    let frac = (x / xs[lo].0).ln() / (xs[hi].0 / xs[lo].0).ln();
    ys[lo].0 + frac * (ys[hi].0 - ys[lo].0)
}

/// Largest share of its L1 rate at which an L2 fill still counts as bound by the cache's write
/// path rather than by the core's stores: two of the Xeons recorded here filled L2 at 0.47–0.52
/// of their L1 rate (two 16-byte stores a cycle into L1, one line per four cycles into L2), the
/// EPYCs at 0.87–1.0 (one 16-byte store a cycle everywhere). The third Xeon's fill ran 47 GB/s in
/// L1 and 45 in L2, both under half of the first's on the same CPU model: no slowdown to see, so
/// its adds keep the copy's rate.
const FILL_BOUND_BY_CACHE: f64 = 0.75;

/// The main memory's level name.
const LEVEL_DRAM: &str = "dram";

/// Cache level `i`'s name (0 = L1) as costs carry it: `l1`, `l2`, ...
fn cache_level_name(i: usize) -> LevelName {
    const NAMES: [&str; 6] = ["l1", "l2", "l3", "l4", "l5", "l6"];
    NAMES
        .get(i)
        .map_or_else(|| format!("l{}", i + 1).into(), |&n| LevelName::of(n))
}

/// A matrix-vector product's two rates (see `CpuModel::gemv`).
struct Gemv {
    stream_s: f64,
    dots_s: f64,
    level: LevelName,
}

/// A CPU prediction for one op, with the parts the memory-wall report needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    pub total_s: f64,
    /// The time with the memory stream free.
    pub compute_s: f64,
    /// The memory stream alone (bytes over the bandwidth of the level holding the working set; see
    /// `CpuModel::memory_stream_s`).
    pub memory_s: f64,
    pub bound: Bound,
}

pub struct CpuModel {
    spec: HardwareSpec,
    cpu: CpuSpec,
}

impl CpuModel {
    pub fn new(spec: HardwareSpec) -> Result<Self, HwError> {
        let invalid = |key: &str, msg: String| HwError::Invalid {
            file: spec.name.clone(),
            key: key.into(),
            msg,
        };
        let cpu = spec
            .cpu
            .clone()
            .ok_or_else(|| invalid("cpu", "`kind: cpu` needs a `cpu:` section".into()))?;
        let levels = cpu.caches_kib.len() + 1;
        if cpu.bandwidth_gb_s.len() != levels {
            return Err(invalid(
                "cpu.bandwidth_gb_s",
                format!("needs one bandwidth per cache level plus DRAM ({levels} values)"),
            ));
        }
        if !cpu.write_bandwidth_gb_s.is_empty() && cpu.write_bandwidth_gb_s.len() != levels {
            return Err(invalid(
                "cpu.write_bandwidth_gb_s",
                format!(
                    "needs one value per cache level plus DRAM ({levels} values), or leave it out"
                ),
            ));
        }
        if cpu.reduce_ns.is_empty() {
            return Err(invalid(
                "cpu.reduce_ns",
                "needs at least one value (ns per element with data in L1), e.g. [0.4]".into(),
            ));
        }
        let ws = &cpu.reduce_working_set_kib;
        if !ws.is_empty()
            && (ws.len() != cpu.reduce_ns.len() || ws.windows(2).any(|w| w[1].0 <= w[0].0))
        {
            return Err(invalid(
                "cpu.reduce_working_set_kib",
                format!(
                    "needs one increasing working set per `reduce_ns` value ({} values), or leave it out",
                    cpu.reduce_ns.len()
                ),
            ));
        }
        let (lw, lb) = (&cpu.llc_working_set_kib, &cpu.llc_bandwidth_gb_s);
        if lw.len() != lb.len() || lw.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err(invalid(
                "cpu.llc_working_set_kib",
                format!(
                    "needs increasing working sets, one per `llc_bandwidth_gb_s` value ({} values), or leave both out",
                    lb.len()
                ),
            ));
        }
        if cpu.gemm_panel_efficiency.is_empty() {
            return Err(invalid(
                "cpu.gemm_panel_efficiency",
                "needs one value per SIMD vector of the tallest microkernel, e.g. [0.6, 0.9, 0.9, 1, 1, 1]".into(),
            ));
        }
        if cpu.parallel_efficiency.0 > 1.0 {
            return Err(invalid(
                "cpu.parallel_efficiency",
                format!(
                    "is {}, but a thread cannot do more than one thread's work: use a value in (0, 1]",
                    cpu.parallel_efficiency.0
                ),
            ));
        }
        Ok(CpuModel { spec, cpu })
    }

    pub fn cpu(&self) -> &CpuSpec {
        &self.cpu
    }

    /// Bandwidth in bytes/s (all threads together) for a working set of `footprint` bytes, and the
    /// level that serves it.
    fn bandwidth(&self, footprint: f64) -> (f64, LevelName) {
        self.bandwidth_on(footprint, self.cpu.threads.0)
    }

    /// Bandwidth in bytes/s of `threads` threads together for a working set of `footprint` bytes.
    fn bandwidth_on(&self, footprint: f64, threads: u64) -> (f64, LevelName) {
        let t = threads as f64;
        let caches = &self.cpu.caches_kib;
        let i = self.level_of(footprint, threads);
        if i < caches.len() {
            return (self.copy_gb_s(i, footprint) * 1e9 * t, cache_level_name(i));
        }
        let bw = if t > 1.0 {
            self.cpu.dram_all_cores_gb_s.0
        } else {
            self.past_last_cache_gb_s(footprint)
                .unwrap_or(self.cpu.bandwidth_gb_s[caches.len()].0)
        };
        (bw * 1e9, LevelName::of(LEVEL_DRAM))
    }

    /// One thread's copy bandwidth, GB/s, for a working set of `footprint` bytes past the last
    /// cache's end but within the last point of its measured curve (the first working set past
    /// the end, when it still copied faster than DRAM): the curve interpolated on log size.
    /// Part of such a working set still hits; several threads share DRAM there, so only one
    /// thread gets this figure.
    fn past_last_cache_gb_s(&self, footprint: f64) -> Option<f64> {
        let c = &self.cpu;
        let (ws, bw) = (&c.llc_working_set_kib, &c.llc_bandwidth_gb_s);
        let kib = footprint / 1024.0;
        let end = c.caches_kib.last()?.0;
        (kib > end && ws.last().is_some_and(|last| kib <= last.0))
            .then(|| log_interpolate(ws, bw, kib))
    }

    /// Single-thread copy bandwidth, GB/s, of cache level `i` (0 = L1) for a working set of
    /// `footprint` bytes: the measured curve inside the last cache, else the level's one figure.
    fn copy_gb_s(&self, i: usize, footprint: f64) -> f64 {
        let c = &self.cpu;
        if i + 1 == c.caches_kib.len() && !c.llc_working_set_kib.is_empty() {
            return log_interpolate(
                &c.llc_working_set_kib,
                &c.llc_bandwidth_gb_s,
                footprint / 1024.0,
            );
        }
        c.bandwidth_gb_s[i].0
    }

    /// One thread's copy and store-only bandwidths, bytes/s, into the level that holds a working
    /// set of `footprint` bytes.
    fn copy_and_store(&self, footprint: f64) -> (f64, f64) {
        let c = &self.cpu;
        let level = self.level_of(footprint, 1);
        let copy = if level < c.caches_kib.len() {
            self.copy_gb_s(level, footprint) * 1e9
        } else {
            c.bandwidth_gb_s
                .get(level)
                .or(c.bandwidth_gb_s.last())
                .map_or(f64::INFINITY, |b| b.0 * 1e9)
        };
        let store = c
            .write_bandwidth_gb_s
            .get(level)
            .map_or(copy, |w| w.0 * 1e9);
        // A store stream runs at least at a copy's write half: the fill microbenchmark is a plain
        // loop, which on some hosts is bound by its own stores' latency rather than the cache
        // (8 GB/s into L3 on a 16-core Xeon whose copy moved 23 GB/s).
        (copy, store.max(copy / 2.0))
    }

    /// Seconds a thread spends on its `elems` of the C of a GEMM (the whole C being `c_total`
    /// elements) over `blocks` K blocks: the first block stores C at the store-only bandwidth of
    /// the level that holds C, each later one reads and writes it back (accumulation) at the copy
    /// bandwidth, times the calibrated pass count (stores partly overlap the FMAs). C shares that
    /// level with the K block's A and B (`others`, bytes): a C that fits in L2 alone but not next
    /// to them is written to L3 (the 12544 × 32 output of a 3-channel stem convolution, 1.6 MB,
    /// beside its 1.35 MB im2col matrix, on a 2 MiB L2).
    fn c_pass_s(
        &self,
        elems: f64,
        c_total: f64,
        elem: f64,
        first: bool,
        blocks: f64,
        others: f64,
    ) -> f64 {
        let c = &self.cpu;
        let (copy, store) = self.copy_and_store(elem * c_total + others);
        let bytes = elem * elems;
        let again = (blocks - if first { 1.0 } else { 0.0 }).max(0.0);
        let first_store = if first { bytes / store } else { 0.0 };
        c.gemm_operand_passes[2].0 * (first_store + again * bytes / copy)
    }

    /// Seconds an op's memory stream takes to read `read` bytes and write `written` bytes, with
    /// the level that holds them: the working set over the copy bandwidth, except in an L2 whose
    /// write path is the bottleneck. There a fill (store-only: a fetch for ownership and a
    /// write-back per line) runs clearly slower than in L1, so the level, not the core's stores,
    /// set its pace; a written byte then costs what the fill paid per byte, and a read byte what
    /// the copy paid beyond that (a copy is one of each, so it costs what it did). A residual add
    /// (two reads per write) in L2 ran 1.3–1.45× the copy's bytes per second on three Xeons,
    /// while on two EPYCs, whose 16-byte fill stores run at the core's one store per cycle at
    /// every level, adds in L2 and L3 moved bytes at the copy's rate; in L3 the Xeons' adds did
    /// too. GEMMs' roofline stream is costed the same way (the calibration's panel efficiencies
    /// are measured net of it).
    fn memory_stream_s(&self, read: f64, written: f64) -> (f64, LevelName) {
        let c = &self.cpu;
        let footprint = read + written;
        let (bw, level) = self.bandwidth(footprint);
        let copy_s = footprint / bw;
        let threads = c.threads.0.max(1) as f64;
        let private_l2 = c.caches_kib.len() > 2 && level == cache_level_name(1);
        let (Some(fill_l1), Some(fill_l2)) = (
            c.write_bandwidth_gb_s.first(),
            c.write_bandwidth_gb_s.get(1),
        ) else {
            return (copy_s, level);
        };
        if !private_l2 || fill_l2.0 > FILL_BOUND_BY_CACHE * fill_l1.0 {
            return (copy_s, level);
        }
        // One thread's copy rate, bytes/s, and its store rate: at least the copy's write half
        // (a slower fill was bound by its own loop, as `copy_and_store` says) and at most the
        // copy's rate, so a read byte costs between nothing and what the copy charged it.
        let copy = bw / threads;
        let fill = (fill_l2.0 * 1e9).clamp(copy / 2.0, copy);
        let read_cost = 2.0 / copy - 1.0 / fill;
        ((read * read_cost + written / fill) / threads, level)
    }

    /// Bytes of one core's L2 (unbounded on a host that lists no L2).
    fn l2_bytes(&self) -> f64 {
        self.cpu
            .caches_kib
            .get(1)
            .map_or(f64::INFINITY, |l| l.0 * 1024.0)
    }

    /// Index of the smallest level (0 = L1, …, the number of caches = DRAM) that holds a working
    /// set of `footprint` bytes for `threads` threads: private levels scale with threads, the
    /// last level is shared.
    fn level_of(&self, footprint: f64, threads: u64) -> usize {
        let caches = &self.cpu.caches_kib;
        caches
            .iter()
            .enumerate()
            .position(|(i, c)| {
                let share = if i + 1 < caches.len() {
                    threads as f64
                } else {
                    1.0
                };
                footprint <= c.0 * 1024.0 * share
            })
            .unwrap_or(caches.len())
    }

    /// ns per element of a sequential reduction over a working set of `footprint` bytes: between
    /// the measured working sets, interpolated on log size; without them, the rate measured at the
    /// level that holds it (the last value for levels beyond the list).
    fn reduce_ns(&self, footprint: f64) -> f64 {
        let r = &self.cpu.reduce_ns;
        let ws = &self.cpu.reduce_working_set_kib;
        if ws.len() == r.len() && !ws.is_empty() {
            let kib = footprint / self.cpu.threads.0.max(1) as f64 / 1024.0;
            return log_interpolate(ws, r, kib);
        }
        let i = self.level_of(footprint, self.cpu.threads.0);
        r.get(i).or(r.last()).map_or(0.0, |v| v.0)
    }

    /// Share of linear speed-up a threaded kernel gets (1 on one thread).
    fn parallel_efficiency(&self) -> f64 {
        if self.cpu.threads.0 > 1 {
            self.cpu.parallel_efficiency.0
        } else {
            1.0
        }
    }

    /// A matrix-vector product (M or N is 1): one pass over the matrix, streamed at a calibrated
    /// share of the bandwidth of the level holding it, against its dot products' own rate (data in
    /// L1). `None` for a GEMM.
    fn gemv(&self, g: &vchip_workloads::Gemm, elem: f64) -> Option<Gemv> {
        if g.m != 1 && g.n != 1 {
            return None;
        }
        let c = &self.cpu;
        let t = c.threads.0 as f64;
        let eff = self.parallel_efficiency();
        let (m, n, k) = (g.m as f64, g.n as f64, g.k as f64);
        let matrix = elem * m * n * k / if g.m == 1 { m } else { n };
        let (bw, level) = self.bandwidth(matrix);
        Some(Gemv {
            stream_s: matrix / (bw * c.gemv_stream_fraction.0),
            dots_s: m * n * k * self.gemv_dot_ns() * 1e-9 / (t * eff),
            level,
        })
    }

    /// ns per multiply-add of a matrix-vector product's dot products: a reduction's rate in L1,
    /// but never slower than the calibration's GEMV anchor ran in all (an f32 matrix streamed from
    /// DRAM at `gemv_stream_fraction` of the copy bandwidth, its time taken as the stream's): the
    /// library's dot products keep several accumulators, a row sum one, so on a host whose adds
    /// are slow (AMD Zen 4 here: 0.63 ns per element) the row sum's rate would make the model miss
    /// its own anchor by a quarter.
    fn gemv_dot_ns(&self) -> f64 {
        let c = &self.cpu;
        let anchor_ns = c.bandwidth_gb_s.last().map_or(f64::INFINITY, |dram| {
            4.0 / (dram.0 * c.gemv_stream_fraction.0)
        });
        self.reduce_ns(0.0).min(anchor_ns)
    }

    /// Bandwidth, bytes/s, at which one task of a threaded GEMM streams its share of a working
    /// set of `bytes` that the `busy` threads split: the level that holds it counts their
    /// private caches; from DRAM a thread gets no more than its share of what they get together
    /// (a 2-vCPU AMD EPYC Zen 3 copied at 33 GB/s on one thread and 26–29 on two).
    fn task_stream_bw(&self, bytes: f64, busy: u64) -> f64 {
        let threads = busy.max(1);
        let (all, level) = self.bandwidth_on(bytes, threads);
        let share = all / threads as f64;
        if level == LevelName::of(LEVEL_DRAM) {
            share.min(self.bandwidth_on(bytes, 1).0)
        } else {
            share
        }
    }

    /// Seconds for one GEMM (M×K by K×N) of `elem` bytes per element, packing included.
    fn gemm_s(&self, g: &vchip_workloads::Gemm, elem: f64, a_shared: bool) -> f64 {
        let c = &self.cpu;
        let t = c.threads.0 as f64;
        let eff = self.parallel_efficiency();
        if let Some(v) = self.gemv(g, elem) {
            return v.stream_s.max(v.dots_s);
        }
        if t > 1.0 && g.m.saturating_mul(g.n).saturating_mul(g.k) >= c.gemm_par_min_macs.0 {
            let wake = c.gemm_thread_wake_us.0 * 1e-6;
            let wake = if wake > 0.0 {
                wake.min(self.gemm_one_thread_s(g, elem))
            } else {
                0.0
            };
            return self.gemm_threaded_s(g, elem, eff, a_shared) + wake;
        }
        self.gemm_one_thread_s(g, elem)
    }

    /// Seconds for a GEMM (not a GEMV) on the calling thread alone, at one core's bandwidths
    /// whatever `threads` says (a GEMM under the threading threshold, or the bound on a threaded
    /// GEMM's wake-up).
    fn gemm_one_thread_s(&self, g: &vchip_workloads::Gemm, elem: f64) -> f64 {
        let c = &self.cpu;
        let (m, n, k) = (g.m as f64, g.n as f64, g.k as f64);
        let compute = self.panels_s(g.m, g.n, g.k, c.gemm_gflops.0 * 1e9);
        let pb = c.gemm_operand_passes[1].0;
        let bw = |bytes: f64| self.bandwidth_on(bytes, 1).0;
        // A is packed one K block at a time. While an M × kc block fits in the core's L2 the
        // library packs it panel by panel between microkernel calls (faer's single-thread
        // "millikernel" path); a larger block is packed in a pass of its own. Each has its own
        // calibrated pass count, streamed from the level that holds the whole of A beside C: each K
        // block is read once per call and C is written between two calls' reads, so a block that
        // would fit in L2 still comes from where A and C together live (ResNet's 28×28 3×3 layers:
        // a 3.6 MB im2col matrix in 1.6 MB blocks, on a 2 MiB L2; a 12544×32×27 GEMM, whose 1.35
        // MB A fits in L2 but not beside its 1.6 MB C, ran at 85 GFLOP/s on one thread here and
        // 6272×32×27 at 123).
        let kc = k.min(c.gemm_kc.0.max(1) as f64);
        let a_block = elem * m * kc;
        let l2 = self.l2_bytes();
        let a_pass = self.a_pack_passes(a_block) * elem * m * k / bw(elem * (m * k + m * n));
        // B is never packed on this path (faer packs B only for very tall A): the microkernel
        // reads it in place, once per K block, and only a B beyond L2 is a stream it waits on.
        let b_pass = if elem * k * n > l2 {
            pb * elem * k * n / bw(elem * k * n)
        } else {
            0.0
        };
        let blocks = (k / kc).ceil();
        compute
            + a_pass
            + b_pass
            + self.c_pass_s(m * n, m * n, elem, true, blocks, elem * kc * (m + n))
    }

    /// Passes that packing A costs, for a K block of A of `a_block` bytes (at most one block
    /// deep): the calibrated count for a block beyond L2 (packed in a pass of its own) or within
    /// it (packed panel by panel between microkernel calls).
    fn a_pack_passes(&self, a_block: f64) -> f64 {
        if a_block > self.l2_bytes() {
            self.cpu.gemm_operand_passes[0].0
        } else {
            self.cpu.gemm_a_passes_in_l2.0
        }
    }

    /// Rows of the tallest microkernel panel.
    fn panel_rows(&self) -> u64 {
        self.cpu.gemm_panel_efficiency.len() as u64 * self.cpu.gemm_tile_rows.0.max(1)
    }

    /// Seconds of FMAs for an M × N × K GEMM at `rate` FLOP/s: M is cut into full panels and one
    /// shorter panel of whole SIMD vectors (M = 49 costs as 64 rows), N rounds up to whole tiles,
    /// and each panel runs at its height's efficiency.
    fn panels_s(&self, m: u64, n: u64, k: u64, rate: f64) -> f64 {
        let c = &self.cpu;
        let tile_rows = c.gemm_tile_rows.0.max(1);
        let cols = n
            .div_ceil(c.gemm_tile_cols.0.max(1))
            .saturating_mul(c.gemm_tile_cols.0.max(1));
        let eff = |vectors: u64| c.gemm_panel_efficiency[vectors as usize - 1].0;
        let panel = self.panel_rows();
        let full = m / panel;
        let rest = (m % panel).div_ceil(tile_rows);
        let mut row_time = full as f64 * panel as f64 / eff(panel / tile_rows);
        if rest > 0 {
            row_time += (rest * tile_rows) as f64 / eff(rest);
        }
        2.0 * row_time * cols as f64 * k as f64 / rate
    }

    /// A GEMM on several threads, block by block as the library schedules it: per K block, one
    /// dispatch (`parallel_overhead_us`), then tasks of `block_rows × block_cols` taken in order
    /// (rows fastest) by whichever thread is free. A task costs its tiles at the per-thread rate
    /// (`gemm_gflops × parallel_efficiency`) overlapped with the handoff of its C lines from the
    /// other core (`gemm_c_handoff_ns`), in the first block of columns the passes that pack its
    /// rows of A (as on one thread, from where A lives beside C, `task_stream_bw`), in later
    /// ones a re-read of its A panel when there is more than one block of rows (at what that
    /// costs beyond L2), A lines another core wrote (`cross_core_gb_s`), the B passes over its
    /// columns when B is beyond L2, and its share of the passes over C. `a_shared`: several
    /// threads wrote A (a threaded im2col).
    fn gemm_threaded_s(
        &self,
        g: &vchip_workloads::Gemm,
        elem: f64,
        eff: f64,
        a_shared: bool,
    ) -> f64 {
        let c = &self.cpu;
        let threads = c.threads.0.max(1);
        let panel = self.panel_rows();
        let [lo, hi] = c.gemm_par_block_panels.map(|p| p.0.max(1));
        let panels = if g.n >= g.m.saturating_mul(2) {
            lo
        } else {
            g.m.div_ceil(panel)
                .div_ceil(2 * threads)
                .clamp(lo, hi.max(lo))
        };
        let block_rows = panels * panel;
        let block_cols = c.gemm_par_block_cols.0.max(1);
        let row_blocks = g.m.div_ceil(block_rows);
        let col_blocks = g.n.div_ceil(block_cols);
        let rate = c.gemm_gflops.0 * 1e9 * eff;
        let c_total = g.m as f64 * g.n as f64;
        let kc_max = c.gemm_kc.0.max(1);
        // A B beyond L2 is streamed by each task for its columns, as on one thread (the
        // parallel-efficiency anchor's 8 MiB B made a 16-core host's 2-thread scaling look
        // worse than its layers' without this).
        let b_bytes = elem * g.k as f64 * g.n as f64;
        let b_stream = b_bytes > self.l2_bytes();
        // Rows go fastest, so both threads visit every column block: each needs all of B, from
        // the level that holds it for one core.
        let b_bw = self.bandwidth_on(b_bytes, 1).0;
        let pb = c.gemm_operand_passes[1].0;
        // Part of A was last written by another core when tasks of several column blocks share
        // packed panels (the library packs A when N exceeds 3 register tiles per thread; the
        // first column block's tasks pack, later ones read) or several threads filled A (a
        // threaded im2col). Lines still in the writer's L2 (the K block of A fits the threads'
        // L2s together) come from that core at `cross_core_gb_s`, (T - 1) / T of them: a thread
        // reads the K block once while it fits its own L2, otherwise every task its panel again.
        let packed = g.n > 3 * c.gemm_tile_cols.0.max(1) * threads;
        let t_other = (threads - 1) as f64 / threads as f64;
        let shared_by_tasks = packed && col_blocks > 1;
        let cross_bw = c.cross_core_gb_s.0 * 1e9;
        let cross_on = cross_bw > 0.0 && (a_shared || shared_by_tasks);
        // (seconds once per thread, share of each task's panel, whether the tasks that pack A
        // read it too) for a K block of A of `a_block` bytes: lines a threaded im2col left in
        // the other core reach every task; panels another task packed only the tasks that read
        // packed A.
        let cross_of = |a_block: f64| -> (f64, f64, bool) {
            if !cross_on || a_block > threads as f64 * self.l2_bytes() {
                (0.0, 0.0, false)
            } else if col_blocks > 1 && a_block <= self.l2_bytes() {
                (a_block * t_other / cross_bw, 0.0, false)
            } else {
                (0.0, t_other, a_shared)
            }
        };
        // A task's A rows come from where the whole of A lives beside C, as on one thread (each
        // K block is read once per call, C written between two calls' reads), split over the
        // threads: with rows fastest and equal tasks, a thread keeps taking the same blocks of
        // rows, so its share of A and C stays in its own L2.
        let busy = threads.min(row_blocks.saturating_mul(col_blocks));
        let a_bw = self.task_stream_bw(elem * (g.m as f64 * g.k as f64 + c_total), busy);
        // Only what that costs beyond reading it from L2 is extra: on one thread the microkernel
        // streams its packed A block from L2 too, and the rate anchors' time includes that (the
        // Zen 3 VM ran ResNet's 784×512×256 stride-2 downsampling 1.93× faster on two threads,
        // where charging the whole re-read predicted 1.70×; the synthetic grid, never calibrated
        // on, improved on all five recorded machines without that part).
        // A host listing one cache takes it as the level the microkernel reads from.
        let l2_level = 1.min(c.caches_kib.len().saturating_sub(1));
        let l2_bw = self.copy_gb_s(l2_level, 0.0) * 1e9;
        let a_excess = (1.0 / a_bw - 1.0 / l2_bw).max(0.0);
        // The first block of columns packs A (the first task on a row tile packs it for the
        // rest): its tasks pay the one-thread path's passes over their rows of A, chosen as it
        // chooses them (on the first K block's depth), the rest re-read packed A (above). With A
        // unpacked (N within 3 register tiles per thread) every task reads it as packing does.
        // Without these passes the parallel efficiency was fitted low to slow tall, narrow
        // calibration GEMMs down (0.88 on the Zen 3 VM, 0.80 on the 16-core Xeon), and layers
        // on two threads came out 5–10 % slow.
        let pack_passes = self.a_pack_passes(elem * g.m as f64 * g.k.min(kc_max) as f64);
        // The first K block stores C, later ones read and write it back; a task's C handoff
        // overlaps its FMAs (see `gemm_c_handoff_ns`).
        let makespan = |kc: u64, first: bool| -> f64 {
            let a_block = elem * g.m as f64 * kc as f64;
            let (_, task_share, packers_read) = cross_of(a_block);
            let task = |rows: u64, cols: u64, packs: bool| {
                let handoff = c.gemm_c_handoff_ns.0 * 1e-9 * rows as f64 * cols as f64;
                let mut s = self.panels_s(rows, cols, kc, rate).hypot(handoff);
                let bytes = elem * rows as f64 * kc as f64;
                if packs {
                    s += pack_passes * bytes / a_bw;
                } else if row_blocks > 1 && a_excess > 0.0 {
                    s += bytes * a_excess;
                }
                if task_share > 0.0 && (packers_read || !packs) {
                    s += bytes * task_share / cross_bw;
                }
                if b_stream {
                    s += pb * elem * kc as f64 * cols as f64 / b_bw;
                }
                s + self.c_pass_s(
                    rows as f64 * cols as f64,
                    c_total,
                    elem,
                    first,
                    1.0,
                    elem * kc as f64 * (g.m + g.n) as f64,
                )
            };
            let tasks = row_blocks.saturating_mul(col_blocks);
            if tasks.saturating_mul(threads) > SCHEDULE_LIMIT {
                // Too many tasks to place one by one: the list-scheduling bound, work shared
                // evenly plus at most one task more (what `list_schedule` never exceeds).
                let total: f64 = (0..row_blocks)
                    .map(|r| {
                        let rows = block_rows.min(g.m - r * block_rows);
                        task(rows, block_cols, true)
                            + (col_blocks - 1) as f64 * task(rows, block_cols, !packed)
                    })
                    .sum::<f64>();
                let largest =
                    task(block_rows, block_cols, true).max(task(block_rows, block_cols, false));
                return total / threads as f64 + largest;
            }
            list_schedule(
                (0..col_blocks)
                    .flat_map(|cb| {
                        let cols = block_cols.min(g.n - cb * block_cols);
                        (0..row_blocks).map(move |rb| {
                            (
                                block_rows.min(g.m - rb * block_rows),
                                cols,
                                cb == 0 || !packed,
                            )
                        })
                    })
                    .map(|(rows, cols, packs)| task(rows, cols, packs)),
                threads as usize,
            )
        };
        let dispatch = c.parallel_overhead_us.0 * 1e-6;
        // A K block: its tasks, then the once-per-thread cross-core read of A.
        let block_s =
            |kc: u64, first: bool| makespan(kc, first) + cross_of(elem * g.m as f64 * kc as f64).0;
        let (full_blocks, rest) = (g.k / kc_max, g.k % kc_max);
        let mut s = 0.0;
        if full_blocks > 0 {
            s += dispatch + block_s(kc_max, true);
            s += (full_blocks - 1) as f64 * (dispatch + block_s(kc_max, false));
        }
        if rest > 0 {
            s += dispatch + block_s(rest, full_blocks == 0);
        }
        s
    }

    /// Predicted seconds for an op, with the level that bounds it.
    pub fn predict_s(&self, trace: &Trace, op: &Op) -> (f64, Bound) {
        let p = self.predict_parts(trace, op);
        (p.total_s, p.bound)
    }

    /// The prediction with its parts: what the time would be without the memory stream
    /// (`compute_s`: compute, fixed overheads and extras) and the memory stream's own time.
    pub fn predict_parts(&self, trace: &Trace, op: &Op) -> Prediction {
        let t = self.cpu.threads.0 as f64;
        let bytes_r = trace.op_bytes_read(op) as f64;
        let bytes_w = trace.op_bytes_written(op) as f64;
        let footprint = bytes_r + bytes_w;
        let mut extra = 0.0;
        let c = &self.cpu;
        let eff = self.parallel_efficiency();
        let per = |n: u64, ns: f64| n as f64 * ns * 1e-9 / (t * eff);
        let compute = match op.kind {
            OpKind::DataMovement {
                kind: vchip_workloads::MoveKind::Reshape,
                ..
            } => {
                return Prediction {
                    total_s: 0.0,
                    compute_s: 0.0,
                    memory_s: 0.0,
                    bound: Bound::None,
                }
            }
            OpKind::Conv2d(cv) if cv.groups > 1 => per(op.macs, c.stencil_ns.0),
            OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. } => {
                let elem = op
                    .inputs
                    .first()
                    .map_or(4.0, |&i| trace.tensor(i).dtype.bits() as f64 / 8.0);
                let mut s = 0.0;
                // A threaded im2col leaves the patch matrix split between the cores' caches.
                let im2col = |cv: &vchip_workloads::Conv2d| cv.kh * cv.kw > 1 || cv.stride_h > 1;
                let a_shared = t > 1.0 && matches!(op.kind, OpKind::Conv2d(cv) if im2col(&cv));
                for (g, reps) in op.kind.gemms() {
                    s += reps as f64 * self.gemm_s(&g, elem, a_shared);
                    if let OpKind::Conv2d(cv) = op.kind {
                        if im2col(&cv) {
                            // im2col gathers the M×K patch matrix before the GEMM, column by
                            // column, so threads share whole columns.
                            let share = g.k.div_ceil(c.threads.0.max(1)) as f64 / g.k.max(1) as f64;
                            let runs = (g.m / cv.w_out.max(1)) as f64 * g.k as f64;
                            let ns =
                                g.m as f64 * g.k as f64 * c.gather_ns.0 + runs * c.gather_row_ns.0;
                            extra += ns * 1e-9 * share / eff;
                        }
                    }
                }
                if let OpKind::Attention {
                    batch,
                    heads,
                    q_len,
                    kv_len,
                    ..
                } = op.kind
                {
                    let n = batch * heads * q_len * kv_len;
                    s += per(n, c.exp_ns.0 + self.reduce_ns(footprint) + c.simple_ns.0);
                }
                s
            }
            OpKind::Elementwise { op: e, elems } => {
                use vchip_workloads::EltOp::*;
                match e {
                    Gelu | Tanh | Erf => per(elems, c.tanh_ns.0),
                    Silu | Sigmoid | Exp => per(elems, c.exp_ns.0),
                    _ => per(elems, c.simple_ns.0),
                }
            }
            // A max-reduction pass, then exp with the sum accumulated alongside (its latency hides
            // behind exp), then a scaling pass.
            OpKind::Softmax { rows, cols } => per(
                rows * cols,
                c.exp_ns.0 + self.reduce_ns(footprint) + c.simple_ns.0,
            ),
            OpKind::Reduce { elems_in, .. } => per(elems_in, self.reduce_ns(footprint)),
            OpKind::Norm { elems, .. } => {
                per(elems, 2.0 * self.reduce_ns(footprint) + 2.0 * c.simple_ns.0)
            }
            // One operation per window element: the trace's (overflow-checked) FLOP count.
            OpKind::Pool { .. } => per(op.flops, c.simple_ns.0),
            OpKind::Embedding { .. } | OpKind::DataMovement { .. } => 0.0,
        };
        let (mem, level) = self.memory_stream_s(bytes_r, bytes_w);
        let mut fixed = self.cpu.overhead_us.0 * 1e-6;
        // Threaded GEMMs pay their synchronisation per K block (in `gemm_s`); other kernels once.
        if t > 1.0 && op.kind.gemms().is_empty() {
            fixed += self.cpu.parallel_overhead_us.0 * 1e-6;
        }
        let bound = if compute >= mem {
            Bound::Compute
        } else {
            Bound::Memory(level)
        };
        let total_s = compute.max(mem) + extra + fixed;
        // A product of matrix-vector products streams its matrix: when the stream is slower than
        // the dot products, memory is the wall (the time is the same; the attribution differs).
        if let OpKind::MatMul(_) = op.kind {
            let elem = op
                .inputs
                .first()
                .map_or(4.0, |&i| trace.tensor(i).dtype.bits() as f64 / 8.0);
            let parts: Option<Vec<(f64, f64, LevelName)>> = op
                .kind
                .gemms()
                .iter()
                .map(|(g, reps)| {
                    self.gemv(g, elem)
                        .map(|v| (v.stream_s * *reps as f64, v.dots_s * *reps as f64, v.level))
                })
                .collect();
            if let Some(parts) = parts.filter(|p| !p.is_empty()) {
                let stream: f64 = parts.iter().map(|p| p.0).sum();
                let dots: f64 = parts.iter().map(|p| p.1).sum();
                if stream > dots && stream >= mem {
                    return Prediction {
                        total_s,
                        compute_s: total_s - (stream - dots),
                        memory_s: stream,
                        bound: Bound::Memory(parts[0].2),
                    };
                }
            }
        }
        Prediction {
            total_s,
            compute_s: compute + extra + fixed,
            memory_s: mem,
            bound,
        }
    }
}

impl HardwareModel for CpuModel {
    fn spec(&self) -> &HardwareSpec {
        &self.spec
    }

    fn cost_op(&self, trace: &Trace, op: &Op, _opts: &CostOptions) -> Result<OpCost, HwError> {
        let p = self.predict_parts(trace, op);
        let (secs, bound) = (p.total_s, p.bound.clone());
        let mut c = OpCost::zero();
        c.engine = if matches!(
            op.kind,
            OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. }
        ) {
            Engine::Matrix
        } else {
            Engine::Vector
        };
        let cycles = |s: f64| (s * self.spec.clock_hz()).round().min(u64::MAX as f64) as u64;
        c.cycles = cycles(secs);
        // What is left with memory free is compute; the rest is waiting on the memory stream.
        c.compute_cycles = cycles(p.compute_s).min(c.cycles);
        c.stall_cycles = c.cycles - c.compute_cycles;
        c.memory_cycles = cycles(p.memory_s);
        c.mapped_macs = op.macs;
        // The op's operands stream from the level that holds its working set (as in `predict_s`):
        // a GEMV over a matrix beyond L3 moves its bytes at DRAM.
        let (read_bytes, write_bytes) = (trace.op_bytes_read(op), trace.op_bytes_written(op));
        let (_, level) = self.bandwidth(read_bytes.saturating_add(write_bytes) as f64);
        c.traffic = smallvec::smallvec![LevelTraffic {
            level,
            read_bytes,
            write_bytes,
        }];
        c.bound = bound;
        Ok(c)
    }

    fn peak_macs_per_cycle(&self) -> u64 {
        let per_core = self.cpu.gemm_gflops.0 * 1e9 / 2.0 / self.spec.clock_hz();
        (per_core * self.cpu.threads.0 as f64).round().max(1.0) as u64
    }

    fn levels(&self) -> Vec<Level> {
        let c = &self.cpu;
        let threads = c.threads.0 as f64;
        let n = c.caches_kib.len();
        let mut v: Vec<Level> = c
            .caches_kib
            .iter()
            .enumerate()
            .map(|(i, kib)| {
                // Private levels (all but the last cache) serve each thread from its own core.
                let share = if i + 1 < n { threads } else { 1.0 };
                Level {
                    name: cache_level_name(i).to_string(),
                    capacity_bytes: Some((kib.0 * 1024.0 * share) as u64),
                    bytes_per_s: c.bandwidth_gb_s[i].0 * 1e9 * threads,
                    on_chip: true,
                }
            })
            .collect();
        let dram_bw = if threads > 1.0 {
            c.dram_all_cores_gb_s.0
        } else {
            c.bandwidth_gb_s[n].0
        };
        v.push(Level {
            name: LEVEL_DRAM.into(),
            capacity_bytes: self
                .spec
                .dram
                .as_ref()
                .map(|d| (d.capacity_gib.0 * (1u64 << 30) as f64) as u64),
            bytes_per_s: dram_bw * 1e9,
            on_chip: false,
        });
        v
    }

    fn models_energy(&self) -> bool {
        false
    }

    fn models_area(&self) -> bool {
        false
    }

    fn area(&self) -> Area {
        Area::default()
    }
}

#[cfg(test)]
mod tests;
