//! What a network needs of an MCU's memories: the tensor arena as TFLM plans it (or TinyEngine,
//! with depthwise convolutions in place), kernel scratch, persistent runtime state, and flash for
//! weights, biases, scales, the model description and the kernels' code.

use std::collections::BTreeSet;

use vchip_workloads::graph::Graph;
use vchip_workloads::{Op, OpKind, TensorRole};

use super::kernels::{Kernel, LibProfile};
use crate::mcu_report::McuReport;
use crate::plan::arena::{plan_arena_tflm, Buffer};
use crate::plan::place::activation_buffers;
use crate::schedule::{Step, StepKind};
use crate::spec::mcu::{McuSpec, Planner};

/// TFLM rounds every planned buffer up to `MicroArenaBufferAlignment()`, 16 bytes
/// (tflite-micro, micro_allocation_info.cc / micro_arena_constants.h).
const ARENA_ALIGNMENT: u64 = 16;

/// Output channels of a MAC op (its bias is per channel).
fn out_channels(op: &Op) -> u64 {
    match op.kind {
        OpKind::Conv2d(c) => c.c_out,
        OpKind::MatMul(m) => m.n,
        _ => 0,
    }
}

/// Requantisation scales of a MAC op: per output channel for convolutions (TFLite int8's
/// per-axis quantisation), one per tensor for fully connected layers (TFLM's int8
/// FULLY_CONNECTED uses a single multiplier).
fn scale_count(op: &Op) -> u64 {
    match op.kind {
        OpKind::Conv2d(c) => c.c_out,
        OpKind::MatMul(_) => 1,
        _ => 0,
    }
}

/// Flash bytes of the network's parameters, each tensor once however many ops read it: a MAC
/// op's matrix at its dtype plus an int32 bias per output channel and an int32 scale per
/// quantisation channel (TinyEngine's count), whatever bias tensors the trace carries; other
/// parameters as stored.
pub fn params_flash_bytes(g: &Graph, steps: &[Step]) -> u64 {
    let mut seen = vec![false; g.trace.tensors.len()];
    let mut total = 0u64;
    for op in steps.iter().flat_map(|s| s.ops.iter()).map(|&o| g.op(o)) {
        let live: Vec<usize> = op
            .weights
            .iter()
            .map(|w| w.0 as usize)
            .filter(|&w| !g.folded_away.get(w).copied().unwrap_or(false))
            .collect();
        let bytes = |w: usize| g.trace.tensors[w].bytes();
        let matrix = live.iter().copied().max_by_key(|&w| (bytes(w), w));
        let mac = op.macs > 0 && out_channels(op) > 0;
        for &w in &live {
            if seen[w] {
                continue;
            }
            seen[w] = true;
            // A MAC op's other parameters (bias, folded norms) become its int32 bias and scales.
            if !mac || Some(w) == matrix {
                total = total.saturating_add(bytes(w));
            }
            if mac && Some(w) == matrix {
                let extra = 4u64
                    .saturating_mul(out_channels(op))
                    .saturating_add(4u64.saturating_mul(scale_count(op)));
                total = total.saturating_add(extra);
            }
        }
    }
    total
}

/// The largest parameter tensor an op reads (the matrix), for flash read counts. `folded` marks
/// parameters the graph passes folded away.
pub fn matrix_bytes(trace: &vchip_workloads::Trace, folded: &[bool], op: &Op) -> u64 {
    op.weights
        .iter()
        .filter(|w| !folded.get(w.0 as usize).copied().unwrap_or(false))
        .map(|&w| trace.tensor(w).bytes())
        .max()
        .unwrap_or(0)
}

/// Plans memory for `steps` of `g` on `mcu` with library `p`.
pub fn plan(g: &Graph, steps: &[Step], mcu: &McuSpec, p: &LibProfile, board: &str) -> McuReport {
    let acts = activation_buffers(g, steps);
    let mut buffers: Vec<Buffer> = acts
        .iter()
        .map(|(_, b)| Buffer {
            size: b.size.div_ceil(ARENA_ALIGNMENT) * ARENA_ALIGNMENT,
            ..*b
        })
        .collect();
    let mut names: Vec<String> = acts
        .iter()
        .map(|(t, _)| g.trace.tensors[t.0 as usize].name.clone())
        .collect();
    if mcu.planner == Planner::Tinyengine {
        in_place_depthwise(g, steps, &acts, &mut buffers);
    }
    let tensors = buffers.len();
    // Scratch buffers follow the tensors, as TFLM adds them.
    for (i, st) in steps.iter().enumerate() {
        let anchor = g.op(st.ops[0]);
        let s = Kernel::scratch_bytes(anchor, p).div_ceil(ARENA_ALIGNMENT) * ARENA_ALIGNMENT;
        if s > 0 {
            buffers.push(Buffer {
                size: s,
                first: i,
                last: i,
            });
            names.push(format!("scratch of {}", anchor.name));
        }
    }
    let arena = plan_arena_tflm(&buffers);
    // The step where live bytes peak, for the report.
    let n = steps.len().max(1);
    let mut live = vec![0u64; n];
    for b in &buffers {
        for v in &mut live[b.first.min(n - 1)..=b.last.min(n - 1)] {
            *v = v.saturating_add(b.size);
        }
    }
    let peak_step = live
        .iter()
        .enumerate()
        .fold((0, 0), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc })
        .0;
    let mut at_peak: Vec<(u64, usize)> = buffers
        .iter()
        .enumerate()
        .filter(|(_, b)| b.size > 0 && b.first <= peak_step && peak_step <= b.last)
        .map(|(i, b)| (b.size, i))
        .collect();
    at_peak.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let scratch_at_peak = at_peak
        .iter()
        .filter(|&&(_, i)| i >= tensors)
        .map(|&(s, _)| s)
        .sum();

    let mac_ops: Vec<&Op> = steps
        .iter()
        .flat_map(|s| s.ops.iter())
        .map(|&o| g.op(o))
        .filter(|op| op.macs > 0)
        .collect();
    let all_tensors = (0..g.trace.tensors.len())
        .filter(|&t| !g.folded_away.get(t).copied().unwrap_or(false))
        .count() as u64;
    let kernel_calls = steps.len() as u64;
    let requant: u64 = if p.requant_params_in_ram {
        mac_ops
            .iter()
            .map(|op| 8u64.saturating_mul(scale_count(op)))
            .fold(0, u64::saturating_add)
    } else {
        0
    };
    let persistent = p
        .persistent_per_op
        .saturating_mul(kernel_calls)
        .saturating_add(p.persistent_per_tensor.saturating_mul(all_tensors))
        .saturating_add(requant);
    let activation = arena.size;
    let peak_sram = activation
        .saturating_add(persistent)
        .saturating_add(p.runtime_ram);

    let weights_flash = params_flash_bytes(g, steps);
    let kernels: BTreeSet<&'static str> = steps
        .iter()
        .map(|s| Kernel::of(g.op(s.ops[0])).name())
        .collect();
    let code = p
        .code_base
        .saturating_add(p.code_per_kernel.saturating_mul(kernels.len() as u64));
    let model = p
        .model_per_op
        .saturating_mul(kernel_calls)
        .saturating_add(p.model_per_tensor.saturating_mul(all_tensors));
    let flash = weights_flash.saturating_add(code).saturating_add(model);

    let (region, region_bytes) = mcu
        .largest_region()
        .map(|r| (r.name.clone(), (r.size_kib.0 * 1024.0) as u64))
        .unwrap_or_default();
    // The arena, its persistent tail and the runtime's RAM share the largest region (one linker
    // section on the boards here).
    let sram_fits = peak_sram <= region_bytes;
    let flash_fits = flash <= mcu.flash_bytes();
    McuReport {
        board: board.to_string(),
        core: mcu.core.name(),
        library: p.library.name(),
        planner: mcu.planner,
        npu: None,
        clock_mhz: 0.0,
        power_mw: 0.0,
        latency_s: 0.0,
        energy_uj: 0.0,
        activation_ram_bytes: activation,
        scratch_bytes_at_peak: scratch_at_peak,
        persistent_ram_bytes: persistent,
        runtime_ram_bytes: p.runtime_ram,
        peak_sram_bytes: peak_sram,
        sram_bytes: mcu.sram_bytes(),
        largest_region: region,
        largest_region_bytes: region_bytes,
        weights_flash_bytes: weights_flash,
        model_flash_bytes: model,
        code_flash_bytes: code,
        flash_bytes: flash,
        flash_capacity_bytes: mcu.flash_bytes(),
        sram_fits,
        flash_fits,
        fits: sram_fits && flash_fits,
        peak_step,
        live_at_peak: at_peak
            .iter()
            .take(crate::schedule::LIVE_LISTED)
            .map(|&(_, i)| names[i].clone())
            .collect(),
        kernels: kernels.into_iter().collect(),
    }
}

/// TinyEngine's in-place depthwise convolution: the output overwrites the input when nothing
/// reads the input later, so the two share one buffer (the larger of the two, for the input's
/// life and then the output's).
fn in_place_depthwise(
    g: &Graph,
    steps: &[Step],
    acts: &[(vchip_workloads::TensorId, Buffer)],
    buffers: &mut [Buffer],
) {
    let index_of = |t: vchip_workloads::TensorId| {
        let root = g.storage[t.0 as usize];
        acts.iter().position(|(x, _)| *x == root)
    };
    for (i, st) in steps.iter().enumerate() {
        if st.kind == StepKind::View {
            continue;
        }
        let anchor = g.op(st.ops[0]);
        // In place only at channel multiplier 1: the output is exactly the input's size.
        if !matches!(anchor.kind, OpKind::Conv2d(c) if c.groups > 1 && c.groups == c.c_in && c.c_out == c.c_in)
        {
            continue;
        }
        let last_op = g.op(*st.ops.last().unwrap_or(&st.ops[0]));
        let (Some(&input), Some(&output)) = (anchor.inputs.first(), last_op.outputs.first()) else {
            continue;
        };
        if g.trace.tensor(input).role == TensorRole::Input {
            continue;
        }
        let (Some(ii), Some(oi)) = (index_of(input), index_of(output)) else {
            continue;
        };
        if ii == oi || buffers[ii].last != i {
            continue;
        }
        let out = buffers[oi];
        buffers[ii].size = buffers[ii].size.max(out.size);
        buffers[ii].last = out.last;
        buffers[oi].size = 0;
    }
}
