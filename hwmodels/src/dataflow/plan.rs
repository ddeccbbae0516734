//! A dataflow chip's schedule: the graph cut into sections that fit the chip's units, and every
//! stored tensor placed in a memory tier.
//!
//! Sections: ops join the open section in execution order while its stages fit the compute units
//! and their buffers fit the memory units (PMUs). A stage streams its tiles through PMU buffers:
//! two PMUs for a weight it streams (double buffering), and per output up to two PMUs of tiles
//! (the whole tensor when smaller). The PMUs no section needs hold data across sections.
//!
//! Placement, largest benefit per byte first: a tensor homed in a tier is moved at that tier's
//! speed each time it is written or read, so its benefit per byte is its accesses per run (a
//! weight read by one op: 1; an activation written once and read twice: 3). Each goes to the
//! innermost tier with room for it over its whole lifetime (weights live throughout).

use vchip_workloads::graph::{is_view, Graph};
use vchip_workloads::{Op, TensorRole};

use crate::model::Boundary;
use crate::plan::arena::Buffer;
use crate::plan::place::activation_buffers_over;
use crate::schedule::{materialised, step_spans, LevelId, Step, StepKind};

/// PMUs a stage needs for its buffers: two per streamed weight, and per output its tiles (up to
/// two PMUs, fewer for a small tensor, at least one).
pub fn stage_pmus(g: &Graph, op: &Op, pmu_bytes: u64) -> u64 {
    let pmu = pmu_bytes.max(1);
    let weights = 2 * op.weights.len() as u64;
    let outputs: u64 = op
        .outputs
        .iter()
        .map(|&t| g.trace.tensor(t).bytes().min(2 * pmu).div_ceil(pmu).max(1))
        .sum();
    weights + outputs
}

/// Cuts `g`'s execution order into sections of at most `max_stages` stages (non-view ops) whose
/// stage buffers take at most `pmus` PMUs. An op that alone needs more still gets a section of
/// its own (its buffers then hold fewer tiles). Also returns the PMUs the busiest section's
/// buffers take.
pub fn sections(g: &Graph, max_stages: u64, pmus: u64, pmu_bytes: u64) -> (Vec<Step>, u64) {
    let mut steps = Vec::new();
    let mut cur: smallvec::SmallVec<[vchip_workloads::OpId; 4]> = smallvec::SmallVec::new();
    let (mut stages, mut used, mut busiest) = (0u64, 0u64, 0u64);
    let close = |cur: &mut smallvec::SmallVec<[vchip_workloads::OpId; 4]>,
                 steps: &mut Vec<Step>| {
        if !cur.is_empty() {
            steps.push(Step {
                ops: std::mem::take(cur),
                kind: StepKind::Section,
            });
        }
    };
    for &id in &g.order {
        let op = g.op(id);
        if is_view(op) {
            cur.push(id);
            continue;
        }
        let need = stage_pmus(g, op, pmu_bytes);
        if stages > 0 && (stages + 1 > max_stages || used + need > pmus) {
            close(&mut cur, &mut steps);
            (stages, used) = (0, 0);
        }
        cur.push(id);
        stages += 1;
        used += need;
        busiest = busiest.max(used);
    }
    close(&mut cur, &mut steps);
    (steps, busiest)
}

/// Layer by layer: one op per step (views apart), for the unfused baseline.
pub fn one_op_per_step(g: &Graph) -> Vec<Step> {
    g.order
        .iter()
        .map(|&o| Step {
            ops: smallvec::smallvec![o],
            kind: if is_view(g.op(o)) {
                StepKind::View
            } else {
                StepKind::Op
            },
        })
        .collect()
}

/// Where each tensor lives: `capacities[l]` bytes per level (`None`: unbounded), `first_level`
/// the innermost level tensors may go to (levels before it are skipped). Tensors produced and
/// read inside one section stream through its buffers and have no home. The network's
/// inputs arrive in, and its outputs leave through, level `io_level` where `boundary` says so.
pub fn place(
    g: &Graph,
    steps: &[Step],
    capacities: &[Option<u64>],
    first_level: LevelId,
    (io_level, boundary): (LevelId, Boundary),
) -> Vec<Option<LevelId>> {
    let n_tensors = g.trace.tensors.len();
    let spans = step_spans(g, steps);
    let mat = materialised(g, steps);
    let mut home: Vec<Option<LevelId>> = vec![None; n_tensors];
    let last_step = steps.len().saturating_sub(1);
    // (benefit per byte, creation order, tensor, buffer)
    let mut wanted: Vec<(u64, usize, usize, Buffer)> = Vec::with_capacity(n_tensors);
    let mut reads = vec![0u64; n_tensors];
    for op in &g.trace.ops {
        for &t in op.inputs.iter().chain(&op.weights) {
            reads[g.storage[t.0 as usize].0 as usize] += 1;
        }
    }
    let sections = steps.iter().any(|s| s.kind == StepKind::Section);
    // The network's inputs and outputs, held in the I/O level before anything is placed.
    let mut io: Vec<(usize, Buffer)> = Vec::new();
    for (t, b) in activation_buffers_over(g, &spans, &mat) {
        let t = t.0 as usize;
        let read = !g.consumers[t].is_empty();
        if sections && b.first == b.last && g.producer[t].is_some() && read {
            // Produced and consumed within one section: it streams through the stages' PMU
            // buffers a few tiles at a time and is never stored whole.
            continue;
        }
        let arrives = g.producer[t].is_none() && g.trace.tensors[t].role == TensorRole::Input;
        let leaves = g.consumers[t].is_empty();
        if (arrives && !boundary.inputs_on_chip()) || (leaves && !boundary.outputs_on_chip()) {
            io.push((t, b));
            continue;
        }
        let written = u64::from(g.producer[t].is_some());
        wanted.push((written + reads[t], t, t, b));
    }
    for (t, tensor) in g.trace.tensors.iter().enumerate() {
        let stored_weight = matches!(tensor.role, TensorRole::Weight | TensorRole::Constant)
            && g.storage[t].0 as usize == t
            && !g.folded_away.get(t).copied().unwrap_or(false)
            && (reads[t] > 0 || tensor.role == TensorRole::Weight);
        if stored_weight {
            let b = Buffer {
                size: tensor.bytes(),
                first: 0,
                last: last_step,
            };
            wanted.push((reads[t].max(1), t, t, b));
        }
    }
    // Largest benefit per byte first (all of a tensor's accesses move its whole size, so the
    // count is the benefit per byte); ties in creation order.
    wanted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let n_steps = steps.len().max(1);
    let mut live: Vec<Vec<u64>> = vec![vec![0u64; n_steps]; capacities.len()];
    let outer = capacities.len().saturating_sub(1);
    for (t, b) in io {
        for v in &mut live[io_level.min(outer)][b.first.min(n_steps - 1)..=b.last.min(n_steps - 1)]
        {
            *v = v.saturating_add(b.size);
        }
        home[t] = Some(io_level.min(outer));
    }
    for (_, _, t, b) in wanted {
        let span = b.first.min(n_steps - 1)..=b.last.min(n_steps - 1);
        let level = (first_level..capacities.len())
            .find(|&l| match capacities[l] {
                None => true,
                Some(c) => live[l][span.clone()]
                    .iter()
                    .all(|&v| v.saturating_add(b.size) <= c),
            })
            // Nowhere with room: the outermost tier, whose peak then reports it does not fit.
            .unwrap_or(outer);
        for v in &mut live[level][span.clone()] {
            *v = v.saturating_add(b.size);
        }
        home[t] = Some(level);
    }
    home
}

#[cfg(test)]
mod tests {
    use super::*;
    use vchip_workloads::builder::TraceBuilder;
    use vchip_workloads::{DType, EltOp};

    /// x → fc1 → relu → fc2: 1×64 activations, two 64×64 weights.
    fn mlp() -> Graph {
        let mut b = TraceBuilder::new("mlp");
        let x = b.input("x", vec![1, 64], DType::Bf16).unwrap();
        let h = b.linear("fc1", x, 64, false).unwrap();
        let h = b.eltwise("relu", EltOp::Relu, &[h]).unwrap();
        b.linear("fc2", h, 64, false).unwrap();
        Graph::new(b.finish()).unwrap()
    }

    #[test]
    fn a_section_closes_when_its_buffers_outgrow_the_pmus() {
        let g = mlp();
        // fc1: 2 PMUs for its weight + 1 for its output; relu 1; fc2 3.
        let pmu = 64 * 1024;
        assert_eq!(stage_pmus(&g, &g.trace.ops[0], pmu), 3);
        assert_eq!(
            sections(&g, 100, 7, pmu).1,
            7,
            "3 + 1 + 3 PMUs in one section"
        );
        assert_eq!(sections(&g, 100, 7, pmu).0.len(), 1);
        let (cut, busiest) = sections(&g, 100, 6, pmu);
        assert_eq!(
            cut.len(),
            2,
            "3 + 1 PMUs, then fc2's 3 do not fit beside them"
        );
        assert_eq!(cut[0].ops.len(), 2);
        assert!(cut.iter().all(|s| s.kind == StepKind::Section));
        // The stage limit cuts too.
        assert_eq!(busiest, 4, "the first section's 3 + 1 PMUs");
        assert_eq!(sections(&g, 1, 100, pmu).0.len(), 3);
    }

    #[test]
    fn placement_fills_the_inner_level_by_benefit_then_spills() {
        let g = mlp();
        let steps = one_op_per_step(&g);
        let w = |name: &str| g.trace.tensors.iter().position(|t| t.name == name).unwrap();
        let (w1, w2) = (w("fc1.weight"), w("fc2.weight"));
        // Room for one weight and the small activations in level 0.
        let wb = g.trace.tensors[w1].bytes();
        assert_eq!(wb, g.trace.tensors[w2].bytes());
        let home = place(
            &g,
            &steps,
            &[Some(wb + 1024), Some(1 << 20), None],
            0,
            (1, Boundary::Block),
        );
        let inner = [home[w1], home[w2]]
            .iter()
            .filter(|&&h| h == Some(0))
            .count();
        assert_eq!(
            inner, 1,
            "one weight fits the inner level, the other spills"
        );
        assert!([home[w1], home[w2]].contains(&Some(1)));
        // Activations (written once, read once: benefit 2) go before weights (read once).
        let relu_out = g.trace.ops[1].outputs[0].0 as usize;
        assert_eq!(home[relu_out], Some(0));
        // Skipping level 0 puts everything in level 1.
        let home = place(
            &g,
            &steps,
            &[Some(1 << 20), Some(1 << 20), None],
            1,
            (1, Boundary::Block),
        );
        assert_eq!(home[w1], Some(1));
        assert_eq!(home[relu_out], Some(1));
        // A whole network's input arrives in, and its output leaves through, the I/O level.
        let home = place(
            &g,
            &steps,
            &[Some(1 << 20), Some(1 << 20), None],
            0,
            (1, Boundary::Network),
        );
        let (x, y) = (g.trace.ops[0].inputs[0], g.trace.ops[2].outputs[0]);
        assert_eq!((home[x.0 as usize], home[y.0 as usize]), (Some(1), Some(1)));
        assert_eq!(home[relu_out], Some(0));
        // In one section the activations between stages stream and are stored nowhere.
        let (one, _) = sections(&g, 100, 100, 1 << 16);
        let home = place(
            &g,
            &one,
            &[Some(1 << 20), Some(1 << 20), None],
            0,
            (1, Boundary::Network),
        );
        assert_eq!(home[relu_out], None);
        assert_eq!(home[w1], Some(0));
    }
}
