//! A compute kernel's time from its launch geometry, for kernels that are not a vendor library's
//! (the validation harness's own WGSL shaders): the workgroups spread over the SMs, at most as
//! many resident on one SM as its registers and shared memory allow, and the busiest SM sets the
//! time. Each workgroup walks `steps` steps (a GEMM's K slices, or one step for an element-wise
//! kernel); a step costs its latency when few workgroups share the SM and its throughput share
//! when many do. The per-step costs are the shader's own and come from calibration, never from
//! this code; the geometry and the SM count come from the GPU's description.

use crate::spec::gpu::GpuSpec;

/// Registers a shader invocation is assumed to hold when residency is bounded by the register
/// file: 32 (65,536 registers per SM then hold 2,048 invocations, the resident-thread limit of
/// compute capability 8.0 and 9.0, CUDA C Programming Guide, table "Technical Specifications per
/// Compute Capability").
const REGS_PER_INVOCATION: f64 = 32.0;

/// How a kernel is launched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Launch {
    pub workgroups: u64,
    pub invocations_per_workgroup: u64,
    pub smem_bytes_per_workgroup: u64,
    /// Steps each workgroup walks (K slices of a tiled GEMM; 1 for an element-wise kernel).
    pub steps: u64,
}

/// What one workgroup's step costs: alone on its SM (`latency_s`), and per workgroup when the
/// SM interleaves many (`throughput_s`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepCost {
    pub latency_s: f64,
    pub throughput_s: f64,
}

/// Workgroups one SM holds at once: bounded by its shared memory and by its register file.
pub fn resident_workgroups(g: &GpuSpec, launch: &Launch) -> u64 {
    let by_smem = if launch.smem_bytes_per_workgroup == 0 {
        u64::MAX
    } else {
        (g.smem_kib_per_sm.0 * 1024.0 / launch.smem_bytes_per_workgroup as f64) as u64
    };
    let by_regs = (g.regs_kib_per_sm.0 * 1024.0
        / (4.0 * REGS_PER_INVOCATION * launch.invocations_per_workgroup.max(1) as f64))
        as u64;
    by_smem.min(by_regs).max(1)
}

/// The workgroups the busiest SM runs, as rounds of at most `resident` at once: (full rounds,
/// workgroups in the last partial round).
pub fn busiest_sm_rounds(g: &GpuSpec, launch: &Launch) -> (u64, u64) {
    let per_sm = launch.workgroups.div_ceil(g.sms.0.max(1));
    let resident = resident_workgroups(g, launch);
    (per_sm / resident, per_sm % resident)
}

/// Seconds from the first workgroup's start to the last one's end, plus `fixed_s` (the dispatch).
pub fn launch_seconds(g: &GpuSpec, launch: &Launch, step: StepCost, fixed_s: f64) -> f64 {
    let resident = resident_workgroups(g, launch);
    let (full, partial) = busiest_sm_rounds(g, launch);
    let round = |n: u64| step.latency_s.max(n as f64 * step.throughput_s);
    let mut per_step = full as f64 * round(resident);
    if partial > 0 {
        per_step += round(partial);
    }
    fixed_s + launch.steps as f64 * per_step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_hardware;

    fn h200() -> GpuSpec {
        load_hardware("h200").unwrap().gpu.unwrap()
    }

    fn launch(workgroups: u64) -> Launch {
        Launch {
            workgroups,
            invocations_per_workgroup: 256,
            smem_bytes_per_workgroup: 8192,
            steps: 10,
        }
    }

    #[test]
    fn residency_is_the_tighter_of_registers_and_shared_memory() {
        let g = h200();
        // 256 KiB of registers / (256 invocations x 32 registers x 4 B) = 8; 228 KiB / 8 KiB = 28.
        assert_eq!(resident_workgroups(&g, &launch(1)), 8);
        let big_smem = Launch {
            smem_bytes_per_workgroup: 64 * 1024,
            ..launch(1)
        };
        assert_eq!(resident_workgroups(&g, &big_smem), 3);
    }

    #[test]
    fn few_workgroups_pay_latency_many_pay_throughput() {
        let g = h200();
        let step = StepCost {
            latency_s: 2e-6,
            throughput_s: 1e-6,
        };
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        // Up to one workgroup per SM (132): latency-bound, 10 steps x 2 us.
        close(launch_seconds(&g, &launch(132), step, 0.0), 20e-6);
        // Two per SM: max(2, 2 x 1) us per step.
        close(launch_seconds(&g, &launch(133), step, 0.0), 20e-6);
        // Three per SM: throughput-bound, 3 us per step.
        close(launch_seconds(&g, &launch(3 * 132), step, 0.0), 30e-6);
        // Eight per SM: 8 us per step.
        close(launch_seconds(&g, &launch(8 * 132), step, 0.0), 80e-6);
        // Nine per SM: a full round of eight and a round of one (latency), plus the dispatch.
        close(
            launch_seconds(&g, &launch(8 * 132 + 1), step, 5e-6),
            5e-6 + 10.0 * (8e-6 + 2e-6),
        );
    }
}
