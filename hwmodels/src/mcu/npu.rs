//! An Ethos-U microNPU, estimated with the structure of Arm Vela's performance estimator
//! (ethos-u-vela `npu_performance.py`, read for structure only): per op, the larger of the MAC
//! array's cycles and each memory area's transfer cycles, plus a command overhead; the network is
//! the sum. The array works in output micro-blocks (OFM ublocks of 1×1×8 on the 32- and 64-MAC
//! configurations, 2×1×8 on 128 and 2×2×8 on 256; Ethos-U55 TRM) over IFM depth steps of
//! `macs / (ublock pixels × 8)` channels, so shapes that are not multiples waste lanes.

use vchip_workloads::{Op, OpKind};

use super::kernels::Kernel;
use crate::spec::mcu::NpuSpec;

/// Cycles per command the NPU spends outside the MAC array (Vela's per-operation overhead
/// floor; assumption: a few hundred cycles).
const COMMAND_OVERHEAD: f64 = 300.0;

fn round_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to.max(1)).saturating_mul(to.max(1))
}

/// (compute cycles, memory stall cycles, flash bytes read), in cycles of the board clock.
pub fn cycles(
    n: &NpuSpec,
    k: &Kernel,
    op: &Op,
    matrix_bytes: u64,
    activation_bytes: u64,
    board_mhz: f64,
) -> (u64, u64, u64) {
    let macs_per_cycle = n.macs_per_cycle.0;
    let ublock_px = match macs_per_cycle {
        0..=64 => 1,
        65..=128 => 2,
        _ => 4,
    };
    let depth_step = (macs_per_cycle / (ublock_px * 8)).max(1);
    let dpu = match (k, op.kind) {
        (Kernel::Depthwise { macs, .. }, _) => {
            // One IFM channel per OFM channel: of the `depth_step`-deep dot product one lane
            // works (Vela maps depthwise so), at ublock granularity in the plane.
            macs.saturating_mul(depth_step) as f64 / macs_per_cycle as f64
        }
        (Kernel::Conv { .. } | Kernel::Pointwise { .. }, OpKind::Conv2d(c)) => {
            let plane = round_up(c.h_out.saturating_mul(c.w_out), ublock_px);
            let eff = c
                .batch
                .saturating_mul(plane)
                .saturating_mul(round_up(c.c_out, 8))
                .saturating_mul(c.kh.saturating_mul(c.kw))
                .saturating_mul(round_up(c.c_in / c.groups.max(1), depth_step));
            eff as f64 / macs_per_cycle as f64
        }
        (Kernel::FullyConnected { .. }, OpKind::MatMul(m)) => {
            let eff = m
                .batch
                .saturating_mul(round_up(m.m, ublock_px))
                .saturating_mul(round_up(m.n, 8))
                .saturating_mul(round_up(m.k, depth_step));
            eff as f64 / macs_per_cycle as f64
        }
        (Kernel::FullyConnected { macs, .. }, _) => *macs as f64 / macs_per_cycle as f64,
        (Kernel::Eltwise { elems } | Kernel::Softmax { elems }, _) => {
            // One output ublock per cycle.
            *elems as f64 / (ublock_px * 8) as f64
        }
        (Kernel::Pool { reads }, _) => *reads as f64 / (ublock_px * 8) as f64,
        _ => 0.0,
    };
    let npu_mhz = n.clock_mhz.map_or(board_mhz, |c| c.0);
    let to_board = board_mhz / npu_mhz;
    let per_cycle = |gb_s: f64| gb_s * 1e9 / (npu_mhz * 1e6);
    let sram = activation_bytes as f64 / per_cycle(n.sram_gb_s.0);
    let flash = matrix_bytes as f64 / per_cycle(n.flash_gb_s.0);
    let compute = (dpu + COMMAND_OVERHEAD) * to_board;
    let total = (dpu.max(sram).max(flash) + COMMAND_OVERHEAD) * to_board;
    let stall = (total - compute).max(0.0);
    (compute.round() as u64, stall.round() as u64, matrix_bytes)
}
