//! The `cpu:` section of the hardware schema (`kind: cpu`): what `vchip validate --device cpu`
//! measures and calibrates on the host.

use serde::{Deserialize, Serialize};

use super::{Count, NonNegative, Positive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    /// CPU model name, as /proc/cpuinfo reports it.
    #[serde(default)]
    pub model: String,
    /// Physical cores available.
    pub cores: Count,
    /// Threads a kernel uses.
    pub threads: Count,
    /// SIMD register width in bits (256 for AVX2, 512 for AVX-512).
    pub simd_bits: Count,
    /// L1d, L2 (per core) and L3 (shared) capacities in KiB.
    pub caches_kib: Vec<Positive>,
    /// Single-thread read+write bandwidth from L1, L2, L3 and DRAM, GB/s (calibrated).
    pub bandwidth_gb_s: Vec<Positive>,
    /// Single-thread bandwidth of a store-only stream from L1, L2, L3 and DRAM, GB/s (calibrated;
    /// a GEMM writing C pays this, not the copy rate: a fill measured here runs below a copy's
    /// writes in L3 and DRAM, which `memcpy` streams with wide and non-temporal stores). When
    /// absent, the copy bandwidth.
    #[serde(default)]
    pub write_bandwidth_gb_s: Vec<Positive>,
    /// Working sets, KiB, at which the single-thread copy bandwidth inside the last cache was
    /// measured, increasing; `llc_bandwidth_gb_s` holds the figures. A working set that the last
    /// cache holds streams at the figure interpolated on log size between the points, clamped to
    /// the end ones (a large L3 loses hits gradually as the working set grows: an AMD EPYC VM
    /// copied 96 GB/s at 4 and 8 MiB and 74 at 16 MiB of its 32 MiB L3). The last point may lie
    /// past the cache's end (the first working set measured there, when it still copied faster
    /// than DRAM): one thread streams a working set between the end and that point at the
    /// interpolated figure, several threads at `dram_all_cores_gb_s`. Absent: the level's one
    /// figure in `bandwidth_gb_s`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llc_working_set_kib: Vec<Positive>,
    /// Copy bandwidth, GB/s, at each of `llc_working_set_kib` (calibrated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llc_bandwidth_gb_s: Vec<Positive>,
    /// DRAM bandwidth with all cores streaming, GB/s (calibrated).
    pub dram_all_cores_gb_s: Positive,
    /// f32 GFLOP/s per core of the GEMM microkernel, packing excluded (calibrated on a compute-bound
    /// GEMM whose operands fit in L2).
    pub gemm_gflops: Positive,
    /// Rows (M, output pixels or tokens) of the GEMM microkernel's register tile: one SIMD vector
    /// of f32 (16 with AVX-512, 8 with AVX2; faer's private-gemm-x86 0.1.22 masks partial vectors).
    pub gemm_tile_rows: Count,
    /// Columns (N) of the register tile (faer's private-gemm-x86 0.1.22 f32 kernels: 4).
    pub gemm_tile_cols: Count,
    /// Share of the copy bandwidth a matrix-vector product streams its matrix at (calibrated on a
    /// DRAM-sized GEMV: a chain of dot products keeps fewer loads in flight than a copy).
    pub gemv_stream_fraction: Positive,
    /// Share of `gemm_gflops` a row panel of 1, 2, … SIMD vectors reaches; the number of entries
    /// is the tallest microkernel's height in vectors (faer's private-gemm-x86 0.1.22 f32: 6, a
    /// 96 × 4 tile on AVX-512), so the last entry is 1. Short panels keep few accumulators and
    /// leave FMA latency and loads exposed (measured here: 0.6 for one vector, 0.9 for two).
    /// Calibrated on L2-resident GEMMs one panel tall.
    pub gemm_panel_efficiency: Vec<Positive>,
    /// Depth of the K blocks a GEMM library works in (faer's private-gemm-x86 0.1.22: 512);
    /// threads synchronise once per block.
    pub gemm_kc: Count,
    /// A threaded GEMM hands out blocks of C as tasks to whichever thread is free. Columns per
    /// block: faer's private-gemm-x86 0.1.22 takes 8 register tiles of 4 = 32.
    #[serde(default = "default_par_block_cols")]
    pub gemm_par_block_cols: Count,
    /// Rows per block, in microkernel panels (6 SIMD vectors of rows, the tallest kernel): the
    /// library aims at about two blocks per thread within these bounds (faer: 2 to 4 panels, 2
    /// when N ≥ 2M). Blocks are taken rows fastest: the first block of columns packs A (its
    /// tasks pay A's passes below), and with more than one block of rows every later task reads
    /// its packed panel of A again, at what the level that holds A costs beyond L2.
    #[serde(default = "default_par_block_panels")]
    pub gemm_par_block_panels: [Count; 2],
    /// Smallest GEMM (M·N·K) the library splits over threads; smaller ones run on the calling
    /// thread (faer 0.24: 4096 × the element size in bytes = 16384 for f32).
    #[serde(default = "default_par_min_macs")]
    pub gemm_par_min_macs: Count,
    /// Passes over A, B and C at their level's copy bandwidth that a GEMM does not hide behind
    /// its FMAs (packing A and B into tile order, writing C back), calibrated. A's count applies
    /// when one K block of A exceeds L2 (packed in a pass of its own); on several threads the
    /// tasks of the first block of columns pay it over their rows (they pack A for the rest).
    pub gemm_operand_passes: [NonNegative; 3],
    /// Passes over A when one K block of A fits in L2, at the bandwidth of the level holding it:
    /// the library packs it panel by panel between microkernel calls, a cost that only narrow
    /// GEMMs (small N) notice (calibrated; 0 when absent); threaded, as the count above.
    #[serde(default)]
    pub gemm_a_passes_in_l2: NonNegative,
    /// ns per element of simple vectorised element-wise work (add, ReLU) on one core (calibrated).
    pub simple_ns: Positive,
    /// ns per `exp` (softmax, sigmoid, SiLU) on one core (calibrated).
    pub exp_ns: Positive,
    /// ns per `tanh`/`erf` (GELU) on one core (calibrated).
    pub tanh_ns: Positive,
    /// ns per element of a sequential reduction (row sums, norms, softmax max/sum) with its data
    /// in L1, L2, L3 and DRAM (calibrated on row sums at each level; levels beyond the list use
    /// its last value). A dependent chain of adds waits on loads that miss L1 (measured here:
    /// 0.38 ns in L1, ~0.48 ns from L3).
    pub reduce_ns: Vec<Positive>,
    /// Working set per thread, KiB, that each `reduce_ns` value was measured at, increasing. When
    /// given, a reduction between two measured working sets takes the rate interpolated on log
    /// size (caches lose hits gradually as the working set grows, not at the capacity: a 384 KiB
    /// row sum here ran at 0.43 ns, between the 12 KiB and 1 MiB rates of 0.38 and 0.48); when
    /// absent, the rate of the level that holds the working set.
    #[serde(default)]
    pub reduce_working_set_kib: Vec<Positive>,
    /// ns per element gathered by im2col before a convolution's GEMM, single-threaded (calibrated).
    pub gather_ns: NonNegative,
    /// ns per contiguous run the im2col gather writes (one output row of one patch column:
    /// K × output rows of them), the loop and bounds set-up that short rows pay often (calibrated;
    /// 0 when absent).
    #[serde(default)]
    pub gather_row_ns: NonNegative,
    /// ns per MAC of a direct (depthwise) convolution on one core (calibrated).
    pub stencil_ns: Positive,
    /// Fixed cost per kernel, µs (calibrated).
    pub overhead_us: NonNegative,
    /// Extra fixed cost of a multi-threaded kernel, µs, paid once per kernel or, by a GEMM, once
    /// per K block (calibrated).
    pub parallel_overhead_us: NonNegative,
    /// Cost, µs, of bringing the other threads into a threaded GEMM, once per call (faer takes
    /// its workers once around all K blocks), but never more than the GEMM's single-thread time:
    /// on a small GEMM the calling thread has done the work before they arrive (calibrated; 0
    /// when absent). On this VM waking a vCPU costs tens of µs.
    #[serde(default)]
    pub gemm_thread_wake_us: NonNegative,
    /// ns a thread of a threaded GEMM spends per element of C it writes in a K block, when the
    /// line may last have been written by another core (calibrated; 0 when absent). Blocks of C go
    /// to whichever thread is free, so from one call (or K block) to the next about half the lines
    /// move between cores on two threads. The stores drain behind the block's FMAs: a task takes
    /// the root of the sum of squares of the two, near the longer one when either dominates and
    /// up to √2 × it where they are equal. Measured here: two threads write C at ~0.23 ns per
    /// element together however small C is (K = 4, C from 0.5 to 8 MB), slower than one thread
    /// alone (0.11–0.16 ns); for K ≥ 64 the FMAs hide it, and at K = 32, where both take about as
    /// long, a 12544 × 32 GEMM took 1.9 × its FMA time.
    #[serde(default)]
    pub gemm_c_handoff_ns: NonNegative,
    /// GB/s at which a thread reads data another core last wrote: a panel of A that another
    /// thread's task packed, or an im2col matrix that several threads filled (absent or 0: read
    /// at the bandwidth of the level holding it). The lines come from the other core's L2, not
    /// from a cache level of the reader's own. `vchip validate` measures it: the bytes of
    /// read-modify-write passes over half an L2 handed between two threads, over the time they
    /// take beyond the same passes kept on one thread (0 where handing over takes no longer);
    /// recordings made before that microbenchmark get 10 GB/s, from timings on a
    /// 2-vCPU Xeon VM (see `CROSS_CORE_GB_S` in vchip-validate's calibration).
    #[serde(default)]
    pub cross_core_gb_s: NonNegative,
    /// Speed-up per thread relative to one thread, in (0, 1] (calibrated on the threaded
    /// calibration kernels, among them a GEMM with one block of rows).
    pub parallel_efficiency: Positive,
}

fn default_par_block_cols() -> Count {
    Count(32)
}

fn default_par_min_macs() -> Count {
    Count(16384)
}

fn default_par_block_panels() -> [Count; 2] {
    [Count(2), Count(4)]
}
