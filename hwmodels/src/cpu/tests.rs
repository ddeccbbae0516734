//! Unit tests of the host-CPU model: each term worked out by hand on a host with round numbers.

use super::*;
use crate::spec::{HwKind, NonNegative, Positive};
use vchip_workloads::builder::{ConvSpec, TraceBuilder};
use vchip_workloads::DType;

/// A host description with round numbers, so expected times can be worked out by hand.
fn host(threads: u64) -> CpuModel {
    let yaml = include_str!("../../tests/fixtures/round-host.yaml")
        .replace("threads: 1\n", &format!("threads: {threads}\n"));
    let spec = HardwareSpec::from_yaml("test-host.yaml", &yaml).expect("valid host YAML");
    assert_eq!(spec.kind, HwKind::Cpu);
    CpuModel::new(spec).expect("valid CPU model")
}

fn gemm_s(model: &CpuModel, m: u64, n: u64, k: u64) -> f64 {
    let mut b = TraceBuilder::new("t");
    let x = b.input("a", vec![m, k], DType::F32).expect("input");
    b.linear("gemm", x, n, false).expect("linear");
    let t = b.finish();
    model.predict_s(&t, &t.ops[0]).0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-12)
}

#[test]
fn parallel_efficiency_above_one_is_rejected() {
    let mut spec = host(2).spec.clone();
    if let Some(c) = spec.cpu.as_mut() {
        c.parallel_efficiency = Positive(1.5);
    }
    let err = CpuModel::new(spec).err().expect("rejected").to_string();
    assert!(err.contains("parallel_efficiency"), "{err}");
}

#[test]
fn gemm_rows_round_up_to_whole_register_tiles() {
    let h = host(1);
    // 64×64×64 at 100 GFLOP/s: 2·64³ / 1e11 s. M = 49 fills the same four 16-row vectors.
    let full = 2.0 * 64.0 * 64.0 * 64.0 / 100e9;
    assert!(close(gemm_s(&h, 64, 64, 64), full));
    assert!(close(gemm_s(&h, 49, 64, 64), full));
    // N = 62 rounds up to 64 columns (tiles of 4).
    assert!(close(gemm_s(&h, 64, 62, 64), full));
}

#[test]
fn each_panel_runs_at_its_height_s_efficiency() {
    let h = host(1);
    // M = 16: a one-vector panel, at 0.5 of the rate in this host.
    let t = gemm_s(&h, 16, 64, 64);
    assert!(close(t, 2.0 * 16.0 * 64.0 * 64.0 / (0.5 * 100e9)), "{t}");
    // M = 112: a full 96-row panel at the full rate, then 16 rows at half of it.
    let t = gemm_s(&h, 112, 64, 64);
    let expected = 2.0 * 64.0 * 64.0 * (96.0 + 16.0 / 0.5) / 100e9;
    assert!(close(t, expected), "{t} {expected}");
}

#[test]
fn a_host_without_panel_efficiencies_is_rejected() {
    let mut spec = host(1).spec.clone();
    if let Some(c) = spec.cpu.as_mut() {
        c.gemm_panel_efficiency.clear();
    }
    let err = CpuModel::new(spec).err().expect("rejected").to_string();
    assert!(err.contains("gemm_panel_efficiency"), "{err}");
}

#[test]
fn gemv_streams_its_matrix_at_the_calibrated_share_of_bandwidth() {
    let h = host(1);
    // 1×4096×4096 f32: a 64 MiB matrix, beyond the 8 MiB L3, so it streams from DRAM at
    // 10 GB/s × 0.5 = 13.4 ms, slower than the dot products (0.5 ns per MAC = 8.4 ms).
    let bytes = 4.0 * 4096.0 * 4096.0;
    let stream = bytes / (10e9 * 0.5);
    let dots = 4096.0 * 4096.0 * 0.5e-9;
    assert!(stream > dots);
    assert!(close(gemm_s(&h, 1, 4096, 4096), stream));
}

#[test]
fn gemv_dot_products_are_never_slower_than_the_anchor_gemv_ran() {
    let mut h = host(1);
    // A row sum at 2 ns per element would make the dot products (33.6 ms) slower than the
    // stream; the anchor GEMV streamed from DRAM at 10 GB/s × 0.5, 0.8 ns per f32 MAC in all, so
    // the dots run at most at that and the stream (13.4 ms) sets the time.
    h.cpu.reduce_ns = vec![Positive(2.0)];
    let stream = 4.0 * 4096.0 * 4096.0 / (10e9 * 0.5);
    assert!(close(gemm_s(&h, 1, 4096, 4096), stream));
    // In L1 the stream is short and the dots bound the time, at the anchor's 0.8 ns.
    let t = gemm_s(&h, 1, 64, 64);
    assert!(close(t, 64.0 * 64.0 * 0.8e-9), "{t}");
}

#[test]
fn the_last_cache_streams_at_its_measured_curve() {
    let add_s = |model: &CpuModel, n: u64| {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![n], DType::F32).expect("input");
        let y = b.input("y", vec![n], DType::F32).expect("input");
        b.eltwise("add", vchip_workloads::EltOp::Add, &[x, y])
            .expect("add");
        let t = b.finish();
        model.predict_s(&t, &t.ops[0]).0
    };
    let mut h = host(1);
    let n = 262_144; // 3 MiB moved: in the 8 MiB L3, at its one figure (40 GB/s) by default
    let bytes = 12.0 * n as f64;
    assert!(close(add_s(&h, n), bytes / 40e9));
    // Measured 60 GB/s at 2 MiB and 30 at 8 MiB: 3 MiB sits log(1.5)/log(4) of the way.
    h.cpu.llc_working_set_kib = vec![Positive(2048.0), Positive(8192.0)];
    h.cpu.llc_bandwidth_gb_s = vec![Positive(60.0), Positive(30.0)];
    let gb_s = 60.0 - 30.0 * 1.5f64.ln() / 4.0f64.ln();
    assert!(close(add_s(&h, n), bytes / (gb_s * 1e9)));
    // Below the first point: the first figure (1.5 MiB moved, beyond the 1 MiB L2).
    assert!(close(add_s(&h, n / 2), bytes / 2.0 / 60e9));
    // L2 and DRAM keep their own figures.
    assert!(close(add_s(&h, 8192), 12.0 * 8192.0 / 100e9));
    let mut spec = h.spec.clone();
    h.cpu.llc_bandwidth_gb_s.pop();
    spec.cpu = Some(h.cpu.clone());
    let e = CpuModel::new(spec)
        .err()
        .expect("one figure per working set");
    assert!(e.to_string().contains("llc_working_set_kib"), "{e}");
}

#[test]
fn threads_share_blocks_of_c_and_pay_a_dispatch_per_k_block() {
    let (one, two) = (host(1), host(2));
    // 128×256×1024: one block of rows (2 panels of 96 ≥ 128), 8 blocks of 32 columns, 4 per
    // thread at efficiency 0.5: the one-thread time, plus 10 µs for each 512-deep K block.
    let t1 = gemm_s(&one, 128, 256, 1024);
    let t2 = gemm_s(&two, 128, 256, 1024);
    assert!(close(t2, t1 + 20e-6), "{t1} {t2}");
}

#[test]
fn threaded_blocks_reread_a_only_at_what_it_costs_beyond_l2() {
    let two = host(2);
    // 256×256×1024: blocks of 192 and 64 rows by 32 columns, taken in turn by the free
    // thread: each thread ends with 4 of each per K block. Every task reads its A panel again,
    // but A beside C (1.25 MiB) splits into the two 1 MiB L2s, and a microkernel streams its A
    // from L2 on one thread too (the rate includes it): the tasks cost their FMAs alone.
    let big = 2.0 * 192.0 * 32.0 * 512.0 / 50e9;
    let small = 2.0 * 64.0 * 32.0 * 512.0 / 50e9;
    let expected = 2.0 * (10e-6 + 4.0 * (big + small));
    let t = gemm_s(&two, 256, 256, 1024);
    assert!(close(t, expected), "{t} {expected}");
    // 1024×256×1024: A beside C (5 MiB) is beyond the L2s, in the 40 GB/s L3 (a thread's share
    // of the two cores' 80). Blocks of 288, 288, 288 and 160 rows by 8 blocks of 32 columns; the
    // first block of columns packs A (no passes in this host), the other seven re-read their
    // 512-deep panels at 1/40 - 1/100 ns per byte, nothing with an L3 at least as fast as L2
    // (200 GB/s). The threads take the tasks as the list schedule says, for 2 K blocks.
    let mut fast_l3 = host(2);
    fast_l3.cpu.bandwidth_gb_s[2] = Positive(200.0);
    let extra = gemm_s(&two, 1024, 256, 1024) - gemm_s(&fast_l3, 1024, 256, 1024);
    let fma_per_row = 2.0 * 32.0 * 512.0 / 50e9;
    let reread_per_row = 512.0 * 4.0 * (1.0 / 40e9 - 1.0 / 100e9);
    let rows = [288.0, 288.0, 288.0, 160.0];
    let tasks = |reread: f64| {
        (0..8)
            .flat_map(move |cb| rows.map(|r| r * (fma_per_row + if cb > 0 { reread } else { 0.0 })))
    };
    let expected = 2.0 * (list_schedule(tasks(reread_per_row), 2) - list_schedule(tasks(0.0), 2));
    assert!(close(extra, expected), "{extra} {expected}");
    assert!(expected > 0.0);
}

#[test]
fn with_a_unpacked_every_threaded_task_reads_it_as_packing_does() {
    // 1152×36×512 on 3 threads: N = 36 is within 3 register tiles per thread (3 × 4 × 3), so the
    // library does not pack A and every task reads its rows as packing does, in both blocks of
    // columns (32 and 4). Blocks of 192 rows (6 of them), 12 tasks; A beside C (2.5 MB) fits the
    // three 1 MiB L2s, so a pass over a task's rows (192 × 512 × 4 bytes, a K block of A beyond
    // one L2: the beyond-L2 count, 1) runs at 100 GB/s.
    let with = |passes: f64| {
        let mut h = host(3);
        h.cpu.gemm_operand_passes[0] = NonNegative(passes);
        gemm_s(&h, 1152, 36, 512)
    };
    let extra = with(1.0) - with(0.0);
    let pass = 192.0 * 512.0 * 4.0 / 100e9;
    let fma = |cols: f64| 2.0 * 192.0 * cols * 512.0 / 50e9;
    let schedule = |second_block_packs: bool, passes: f64| {
        let costs = [32.0, 4.0].into_iter().flat_map(|cols| {
            let packs = cols == 32.0 || second_block_packs;
            std::iter::repeat_n(fma(cols) + if packs { passes * pass } else { 0.0 }, 6)
        });
        list_schedule(costs, 3)
    };
    let every_task = schedule(true, 1.0) - schedule(true, 0.0);
    let first_block_only = schedule(false, 1.0) - schedule(false, 0.0);
    assert!(close(extra, every_task), "{extra} {every_task}");
    assert!(!close(every_task, first_block_only));
}

#[test]
fn threaded_tasks_of_the_first_block_of_columns_pack_a() {
    // 128×256×512 on two threads: one block of 128 rows (2 panels of 96 ≥ 128), 8 blocks of
    // 32 columns. A (256 KiB) beside C (128 KiB) sits in the L2s; with one pass over A in L2
    // the first task (the first block of columns) pays 128 × 512 × 4 bytes at 100 GB/s, the
    // others nothing for A. Each thread takes 4 tasks; the one with the packing task ends last.
    let plain = host(2);
    let mut packing = host(2);
    packing.cpu.gemm_a_passes_in_l2 = NonNegative(1.0);
    let extra = gemm_s(&packing, 128, 256, 512) - gemm_s(&plain, 128, 256, 512);
    assert!(close(extra, 128.0 * 512.0 * 4.0 / 100e9), "{extra}");
}

#[test]
fn list_schedule_gives_each_task_to_the_first_free_thread() {
    // 3, 1, 1, 1 on two threads: 3 | 1+1+1 → 3; 2, 2, 3 → 2+3 | 2 → 5.
    assert_eq!(list_schedule([3.0, 1.0, 1.0, 1.0], 2), 3.0);
    assert_eq!(list_schedule([2.0, 2.0, 3.0], 2), 5.0);
    // Within the bounds the model falls back to for very many tasks.
    let costs: Vec<f64> = (0..1000).map(|i| 1.0 + (i * 37 % 11) as f64).collect();
    let (total, max) = (costs.iter().sum::<f64>(), 11.0);
    let t = list_schedule(costs, 3);
    assert!(t >= total / 3.0 && t <= total / 3.0 + max, "{t}");
}

#[test]
fn a_held_in_l2_is_packed_at_its_own_pass_count() {
    let mut h = host(1);
    let base = gemm_s(&h, 256, 64, 512);
    h.cpu.gemm_a_passes_in_l2 = NonNegative(1.5);
    // A's 512-deep block is 256 × 512 f32 = 512 KiB, within the 1 MiB L2 (100 GB/s).
    let expected = base + 1.5 * 4.0 * 256.0 * 512.0 / 100e9;
    let t = gemm_s(&h, 256, 64, 512);
    assert!(close(t, expected), "{t} {expected}");
}

#[test]
fn im2col_pays_per_element_and_per_row() {
    let conv_s = |model: &CpuModel| {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 8, 14, 14], DType::F32).expect("input");
        b.conv2d("conv", x, ConvSpec::square(16, 3, 1, 1))
            .expect("conv");
        let t = b.finish();
        model.predict_s(&t, &t.ops[0]).0
    };
    let mut h = host(1);
    let base = conv_s(&h);
    h.cpu.gather_ns = NonNegative(1.0);
    h.cpu.gather_row_ns = NonNegative(10.0);
    // 14×14 outputs × (8 channels × 9 taps) = 14,112 elements in 72 columns of 14 rows each.
    let expected = base + (196.0 * 72.0 * 1.0 + 14.0 * 72.0 * 10.0) * 1e-9;
    let t = conv_s(&h);
    assert!(close(t, expected), "{t} {expected}");
}

#[test]
fn reductions_run_at_the_rate_of_the_level_holding_their_rows() {
    let row_sum_s = |model: &CpuModel, rows: u64, cols: u64| {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![rows, cols], DType::F32).expect("input");
        let name = b.qualify("rowsum", "");
        b.push_op(
            name,
            OpKind::Reduce {
                elems_in: rows * cols,
                elems_out: rows,
            },
            vec![x],
            vec![],
            vec![vec![rows]],
        )
        .expect("reduce");
        let t = b.finish();
        model.predict_s(&t, &t.ops[0]).0
    };
    let mut h = host(1);
    h.cpu.reduce_ns = vec![Positive(0.5), Positive(1.0)];
    // 16 KiB sits in L1 (0.5 ns/element); 512 KiB in L2 (1.0); 64 MiB in DRAM, beyond the
    // list, so at its last value. All three are compute-bound on this host.
    assert!(close(row_sum_s(&h, 8, 512), 4096.0 * 0.5e-9));
    assert!(close(row_sum_s(&h, 64, 2048), 131072.0 * 1.0e-9));
    assert!(close(row_sum_s(&h, 1024, 16384), 16777216.0 * 1.0e-9));
    // Measured at 16 KiB and 1024 KiB: 128 KiB (+ 32 B of sums) lies half-way on log size.
    h.cpu.reduce_working_set_kib = vec![Positive(16.0), Positive(1024.0)];
    let kib = 128.0 + 32.0 / 1024.0;
    let ns = 0.5 + 0.5 * (kib / 16.0f64).ln() / 64.0f64.ln();
    assert!(close(row_sum_s(&h, 8, 4096), 32768.0 * ns * 1e-9));
    assert!(close(row_sum_s(&h, 8, 256), 2048.0 * 0.5e-9));
    assert!(close(row_sum_s(&h, 1024, 16384), 16777216.0 * 1.0e-9));
    h.cpu.reduce_working_set_kib = vec![Positive(16.0)];
    let mut spec = h.spec.clone();
    spec.cpu = Some(h.cpu.clone());
    assert!(CpuModel::new(spec).is_err());
}

#[test]
fn small_gemms_stay_on_one_thread() {
    let (one, two) = (host(1), host(2));
    // 16×32×16 = 8192 MACs, under the library's threading threshold.
    assert!(close(gemm_s(&two, 16, 32, 16), gemm_s(&one, 16, 32, 16)));
}

#[test]
fn operand_passes_stream_from_the_level_that_holds_them() {
    let mut h = host(1);
    h.cpu.gemm_operand_passes = [NonNegative(1.0), NonNegative(0.0), NonNegative(0.0)];
    // A is 1024×512 f32 = 2 MiB: its 512-deep panel is beyond L2 (1 MiB), so one pass over
    // A moves 2 MiB at the L3's 40 GB/s.
    let base = 2.0 * 1024.0 * 64.0 * 512.0 / 100e9;
    let pass = 4.0 * 1024.0 * 512.0 / 40e9;
    assert!(close(gemm_s(&h, 1024, 64, 512), base + pass));
    // A 256×2048 A (2 MiB) in 512-deep blocks of 512 KiB: each block fits in L2 and takes the
    // in-L2 pass count, but streams from L3, where the whole of A lives.
    h.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(0.0), NonNegative(0.0)];
    h.cpu.gemm_a_passes_in_l2 = NonNegative(1.0);
    let base = 2.0 * 256.0 * 64.0 * 2048.0 / 100e9;
    let pass = 4.0 * 256.0 * 2048.0 / 40e9;
    assert!(close(gemm_s(&h, 256, 64, 2048), base + pass));
}

#[test]
fn c_is_stored_once_then_rewritten_per_k_block() {
    let mut h = host(1);
    h.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(0.0), NonNegative(1.0)];
    h.cpu.write_bandwidth_gb_s = [200.0, 50.0, 20.0, 5.0].map(Positive).to_vec();
    // 128×128 f32 C = 64 KiB, in L2 (copy 100 GB/s, store 50 GB/s) beside the K block's A and B
    // (256 KiB each). K = 1024: two K blocks, so C is stored once and read and written back once.
    let (m, n, k) = (128.0, 128.0, 1024.0);
    let fmas = 2.0 * m * n * k / 100e9;
    let c = 4.0 * m * n;
    let t = gemm_s(&h, 128, 128, 1024);
    assert!(close(t, fmas + c / 50e9 + c / 100e9), "{t}");
    // A 256×256 C (256 KiB) fits in L2 alone but not beside its 512 KiB blocks of A and B: it
    // goes to L3 (copy 40 GB/s, store 20 GB/s).
    let (m, n) = (256.0, 256.0);
    let c = 4.0 * m * n;
    let t = gemm_s(&h, 256, 256, 1024);
    assert!(
        close(t, 2.0 * m * n * k / 100e9 + c / 20e9 + c / 40e9),
        "{t}"
    );
    // Without store bandwidths, the copy bandwidth serves both.
    h.cpu.write_bandwidth_gb_s.clear();
    let (m, n) = (128.0, 128.0);
    let c = 4.0 * m * n;
    let t = gemm_s(&h, 128, 128, 1024);
    assert!(close(t, fmas + 2.0 * c / 100e9), "{t}");
    // A B beyond L2 (here 1024 × 1024 f32 = 4 MiB, in L3 at 40 GB/s) is streamed once per
    // pass; within L2 it costs nothing.
    h.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(1.0), NonNegative(0.0)];
    let t = gemm_s(&h, 256, 1024, 1024);
    let fmas = 2.0 * 256.0 * 1024.0 * 1024.0 / 100e9;
    assert!(close(t, fmas + 4.0 * 1024.0 * 1024.0 / 40e9), "{t}");
    let t = gemm_s(&h, 256, 256, 512);
    assert!(close(t, 2.0 * 256.0 * 256.0 * 512.0 / 100e9), "{t}");
}

#[test]
fn a_threaded_gemm_pays_the_wake_up_once_but_never_more_than_its_one_thread_time() {
    let (one, plain) = (host(1), host(2));
    let mut waking = host(2);
    waking.cpu.gemm_thread_wake_us = NonNegative(20.0);
    // 512³: one thread needs 2.7 ms, so the whole 20 µs is paid, once for its one K block and
    // once for the four blocks of a K = 2048 GEMM alike.
    for k in [512, 2048] {
        let extra = gemm_s(&waking, 512, 512, k) - gemm_s(&plain, 512, 512, k);
        assert!(close(extra, 20e-6), "K = {k}: {extra}");
    }
    // 32³ (above the threading threshold): the calling thread is done in 0.66 µs, before the
    // other thread is up.
    let extra = gemm_s(&waking, 32, 32, 32) - gemm_s(&plain, 32, 32, 32);
    assert!(close(extra, gemm_s(&one, 32, 32, 32)), "{extra}");
}

#[test]
fn pooling_costs_one_simple_operation_per_window_element() {
    use vchip_workloads::builder::PoolWindow;
    use vchip_workloads::PoolKind;
    let mut h = host(1);
    // Slow enough per element that the op is compute-bound whatever the level.
    h.cpu.simple_ns = Positive(10.0);
    let mut b = TraceBuilder::new("t");
    let x = b
        .input("x", vec![1, 64, 112, 112], DType::F32)
        .expect("input");
    let window = PoolWindow {
        k: 3,
        stride: 2,
        pad: 1,
        ceil_mode: false,
    };
    b.pool("pool", x, PoolKind::Max, window).expect("pool");
    let t = b.finish();
    // 64 × 56 × 56 outputs × 9 taps at 10 ns each.
    let s = h.predict_s(&t, &t.ops[0]).0;
    assert!(close(s, 64.0 * 56.0 * 56.0 * 9.0 * 10e-9), "{s}");
}

#[test]
fn a_streams_from_where_it_fits_beside_c() {
    let mut h = host(1);
    h.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(0.0), NonNegative(0.0)];
    h.cpu.gemm_a_passes_in_l2 = NonNegative(1.0);
    // A is 2048×64 f32 = 512 KiB, within the 1 MiB L2 alone. Beside a 2048×32 C (256 KiB) it
    // stays there (100 GB/s); beside a 2048×128 C (1 MiB) it streams from L3 (40 GB/s).
    let a = 4.0 * 2048.0 * 64.0;
    for (n, bw) in [(32u64, 100e9), (128, 40e9)] {
        let fmas = 2.0 * 2048.0 * n as f64 * 64.0 / 100e9;
        let t = gemm_s(&h, 2048, n, 64);
        assert!(close(t, fmas + a / bw), "N = {n}: {t}");
    }
}

#[test]
fn c_is_stored_at_least_at_a_copys_write_half() {
    let mut h = host(1);
    h.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(0.0), NonNegative(1.0)];
    // A store-only figure of 10 GB/s in L2 below the copy's 100 / 2: the store runs at 50.
    h.cpu.write_bandwidth_gb_s = [200.0, 10.0, 20.0, 5.0].map(Positive).to_vec();
    let c = 4.0 * 128.0 * 128.0;
    let fmas = 2.0 * 128.0 * 128.0 * 512.0 / 100e9;
    let t = gemm_s(&h, 128, 128, 512);
    assert!(close(t, fmas + c / 50e9), "{t}");
}

#[test]
fn threaded_tasks_stream_their_columns_of_a_b_beyond_l2() {
    let mut plain = host(2);
    plain.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(0.0), NonNegative(0.0)];
    let mut streaming = host(2);
    streaming.cpu.gemm_operand_passes = [NonNegative(0.0), NonNegative(1.0), NonNegative(0.0)];
    // B is 512×1024 f32 = 2 MiB, beyond the 1 MiB L2 (L3: 40 GB/s). 64 rows make one block of
    // rows and 32 equal tasks of 32 columns; each thread takes 16, each task reading 512×32 of B.
    let extra = gemm_s(&streaming, 64, 1024, 512) - gemm_s(&plain, 64, 1024, 512);
    assert!(close(extra, 16.0 * 4.0 * 512.0 * 32.0 / 40e9), "{extra}");
    // A B within L2 costs nothing.
    let extra = gemm_s(&streaming, 64, 128, 512) - gemm_s(&plain, 64, 128, 512);
    assert!(close(extra, 0.0), "{extra}");
}

#[test]
fn threaded_tasks_pack_a_at_their_share_of_dram() {
    // A (4096×512 f32, 8 MiB) beside C (0.5 MiB) is beyond the 8 MiB L3, so each task packs
    // its rows of A (the beyond-L2 count, 2 passes; 32 columns leave A unpacked, so every task
    // reads it so) from DRAM at its thread's share of the all-core bandwidth: 16 / 2 = 8 GB/s,
    // below one core's 10. With 40 GB/s for all cores a thread gets one core's 10. Blocks of 384
    // rows (the eleventh 256) alternate between the two threads: the first takes 2,176 rows.
    let two_passes = |mut h: CpuModel| {
        h.cpu.gemm_operand_passes[0] = NonNegative(2.0);
        h.cpu.gemm_a_passes_in_l2 = NonNegative(0.0);
        h
    };
    let shared = two_passes(host(2));
    let mut wide = two_passes(host(2));
    wide.cpu.dram_all_cores_gb_s = Positive(40.0);
    let extra = gemm_s(&shared, 4096, 32, 512) - gemm_s(&wide, 4096, 32, 512);
    let a_rows = 4.0 * 2176.0 * 512.0;
    assert!(
        close(extra, 2.0 * (a_rows / 8e9 - a_rows / 10e9)),
        "{extra}"
    );
    // An A whose K block alone (2048×160 f32: 1.25 MiB) is beyond one core's L2 but which,
    // beside C (2048×32: 0.25 MiB), fits the two L2s together: each thread's half is read from
    // its own L2, so a slower L3 changes nothing (reading A from where its K block alone would
    // live, L3, it would).
    let mut slow_l3 = two_passes(host(2));
    slow_l3.cpu.bandwidth_gb_s[2] = Positive(20.0);
    let (l2, also_l2) = (
        gemm_s(&shared, 2048, 32, 160),
        gemm_s(&slow_l3, 2048, 32, 160),
    );
    assert!(close(l2, also_l2), "{l2} {also_l2}");
    // Beyond both L2s (4096×160 + 4096×32 f32: 3 MiB) it comes from L3, and the slower L3 shows.
    assert!(gemm_s(&slow_l3, 4096, 32, 160) > gemm_s(&shared, 4096, 32, 160));
}

#[test]
fn a_threaded_gemm_task_overlaps_its_fmas_with_its_c_handoff() {
    let plain = host(2);
    let mut handing = host(2);
    handing.cpu.gemm_c_handoff_ns = NonNegative(1.0);
    // 192 × 64: one block of rows, two of 32 columns, one task per thread. At K = 4 a task's
    // FMAs take 2·192·32·4 / (100 GFLOP/s × 0.5) = 0.98304 µs, its 6144 C elements 6.144 µs:
    // the task takes √(0.98304² + 6.144²) µs, after the 10 µs dispatch.
    let t = gemm_s(&handing, 192, 64, 4);
    assert!(close(t, 10e-6 + 0.98304e-6f64.hypot(6.144e-6)), "{t}");
    // At K = 512 the FMAs (125.8 µs) all but hide it: 0.15 µs more.
    let k = 512;
    let fmas: f64 = 2.0 * 192.0 * 32.0 * 512.0 / 50e9;
    let extra = gemm_s(&handing, 192, 64, k) - gemm_s(&plain, 192, 64, k);
    assert!(close(extra, fmas.hypot(6.144e-6) - fmas), "{extra}");
}

#[test]
fn threads_read_a_panels_packed_by_the_other_core_at_the_cross_core_bandwidth() {
    let plain = host(2);
    let mut crossing = host(2);
    crossing.cpu.cross_core_gb_s = NonNegative(10.0);
    let extra = |m, n, k| gemm_s(&crossing, m, n, k) - gemm_s(&plain, m, n, k);
    // 192 × 64 × 512: one block of rows, two column blocks sharing A packed by whichever task came
    // first; the 384 KiB K block fits L2, so each thread reads the other's half once.
    assert!(close(extra(192, 64, 512), 192.0 * 512.0 * 4.0 * 0.5 / 10e9));
    // N = 32: one column block, each task packs its own panel; nothing crosses.
    assert!(extra(192, 32, 512).abs() < 1e-15);
    // A 4 MiB K block no longer fits the two 1 MiB L2s: the lines come from L3 as before.
    assert!(extra(2048, 64, 512).abs() < 1e-15);
}

/// Seconds the host predicts for a residual add (two reads, one write) and a ReLU (one of each)
/// of `n` f32 elements.
fn add_and_relu_s(h: &CpuModel, n: u64) -> (f64, f64) {
    use vchip_workloads::EltOp;
    let mut b = TraceBuilder::new("t");
    let x = b.input("x", vec![n], DType::F32).expect("input");
    let y = b.input("y", vec![n], DType::F32).expect("input");
    b.eltwise("add", EltOp::Add, &[x, y]).expect("add");
    b.eltwise("relu", EltOp::Relu, &[x]).expect("relu");
    let t = b.finish();
    (h.predict_s(&t, &t.ops[0]).0, h.predict_s(&t, &t.ops[1]).0)
}

#[test]
fn an_l2_whose_fill_is_cache_bound_reads_cheaper_than_it_writes() {
    let mut h = host(1);
    h.cpu.simple_ns = Positive(1e-6);
    // 64 Ki elements: an add moves 768 KiB, a ReLU 512 KiB, both in the 1 MiB L2 (copy 100 GB/s).
    let n = 64 * 1024;
    let bytes = 4.0 * n as f64;
    // Fills at the core's rate in L1 and L2 (as on the EPYCs): every byte at the copy's rate.
    h.cpu.write_bandwidth_gb_s = [60.0, 55.0, 50.0, 8.0].map(Positive).to_vec();
    let (add, relu) = add_and_relu_s(&h, n);
    assert!(close(add, 3.0 * bytes / 100e9), "{add}");
    assert!(close(relu, 2.0 * bytes / 100e9), "{relu}");
    // An L2 fill at 40 % of its L1 rate (as on two of the Xeons): a written byte costs the
    // fill's 1/80 ns, a read byte what the copy's 2/100 ns leaves, 3/400 ns. A ReLU still costs
    // a copy.
    h.cpu.write_bandwidth_gb_s = [200.0, 80.0, 20.0, 8.0].map(Positive).to_vec();
    let (add, relu) = add_and_relu_s(&h, n);
    let read = 2.0 / 100e9 - 1.0 / 80e9;
    assert!(close(add, 2.0 * bytes * read + bytes / 80e9), "{add}");
    assert!(close(relu, 2.0 * bytes / 100e9), "{relu}");
    // A fill below the copy's write half (40 GB/s here) was bound by its own loop: stores run at
    // 50 GB/s, and reads cost nothing beyond them.
    h.cpu.write_bandwidth_gb_s = [200.0, 40.0, 20.0, 8.0].map(Positive).to_vec();
    let (add, _) = add_and_relu_s(&h, n);
    assert!(close(add, bytes / 50e9), "{add}");
    // On two threads each streams half of it in its own L2 at the same rates.
    let mut two = host(2);
    two.cpu.simple_ns = Positive(1e-6);
    two.cpu.write_bandwidth_gb_s = [200.0, 80.0, 20.0, 8.0].map(Positive).to_vec();
    let (add2, _) = add_and_relu_s(&two, n);
    assert!(
        close(add2, (2.0 * bytes * read + bytes / 80e9) / 2.0 + 10e-6),
        "{add2}"
    );
    // In L3 (256 Ki elements: 3 MiB) and beyond it (4 Mi: 48 MiB, DRAM) the bytes move at the
    // copy's rate again.
    h.cpu.write_bandwidth_gb_s = [200.0, 80.0, 20.0, 8.0].map(Positive).to_vec();
    for (elems, bw) in [(256 * 1024u64, 40e9), (4 * 1024 * 1024, 10e9)] {
        let (add, _) = add_and_relu_s(&h, elems);
        assert!(close(add, 12.0 * elems as f64 / bw), "{elems}: {add}");
    }
}

#[test]
fn one_thread_streams_just_past_the_last_cache_at_its_curve_s_last_point() {
    let mut h = host(1);
    h.cpu.simple_ns = Positive(1e-6);
    // The 8 MiB L3 copied 40 GB/s at 4 and 8 MiB and 20 at 16 MiB (past its end); DRAM 10.
    h.cpu.llc_working_set_kib = [4096.0, 8192.0, 16384.0].map(Positive).to_vec();
    h.cpu.llc_bandwidth_gb_s = [40.0, 40.0, 20.0].map(Positive).to_vec();
    // A 12 MiB ReLU (6 MiB in, 6 MiB out): on one thread at the figure interpolated on log size
    // between 8 and 16 MiB; on two threads at the all-core DRAM figure (16 GB/s); at 24 MiB,
    // past the curve, at DRAM's 10.
    let relu_s = |model: &CpuModel, mib: u64| {
        use vchip_workloads::EltOp;
        let mut b = TraceBuilder::new("t");
        let x = b
            .input("x", vec![mib * 1024 * 1024 / 8], DType::F32)
            .expect("input");
        b.eltwise("relu", EltOp::Relu, &[x]).expect("relu");
        let t = b.finish();
        model.predict_s(&t, &t.ops[0]).0
    };
    let bytes = 12.0 * 1024.0 * 1024.0;
    let bw = 40.0 + (1.5f64).ln() / 2f64.ln() * (20.0 - 40.0);
    assert!(
        close(relu_s(&h, 12), bytes / (bw * 1e9)),
        "{}",
        relu_s(&h, 12)
    );
    let mut two = host(2);
    two.cpu.simple_ns = h.cpu.simple_ns;
    two.cpu.llc_working_set_kib = h.cpu.llc_working_set_kib.clone();
    two.cpu.llc_bandwidth_gb_s = h.cpu.llc_bandwidth_gb_s.clone();
    assert!(close(relu_s(&two, 12), bytes / 16e9 + 10e-6));
    assert!(close(relu_s(&h, 24), 2.0 * bytes / 10e9));
}
