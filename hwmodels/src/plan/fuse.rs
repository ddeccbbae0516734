//! Epilogue fusion: an anchor op (a product, or a vector op) absorbs the element-wise work that
//! follows it on the same data (bias, activation, residual add, per-channel norm, quantize), so the
//! intermediate never leaves the output path. What XLA, TensorRT and the TPU's activation pipeline
//! do (Jouppi et al., ISCA 2017, §2: the activation unit sits between accumulators and buffer).
//!
//! An op joins the step that produced one of its inputs when that input is read by nothing else
//! and is not a network output, the op's output has as many elements (no broadcast growth), and the
//! kind allows it. The step runs at the position of its last op: every other input of an epilogue
//! (a residual) is produced before that op, and the anchor's output has no other reader, so moving
//! the anchor later keeps the order valid.

use vchip_workloads::graph::{is_view, Graph};
use vchip_workloads::{DType, MoveKind, NormKind, Op, OpId, OpKind};

use crate::schedule::{step_of_ops, Step, StepKind};

/// Which ops a kind lets start a fusible step and which it lets join one.
pub struct FusionRules {
    pub anchor: fn(&Op) -> bool,
    pub epilogue: fn(&Op) -> bool,
}

/// Matrix kernels: convolutions, products, attention.
pub fn is_matrix(op: &Op) -> bool {
    matches!(
        op.kind,
        OpKind::Conv2d(_) | OpKind::MatMul(_) | OpKind::Attention { .. }
    )
}

/// What a matrix engine's output path applies on the way from the accumulators to memory:
/// element-wise functions (bias, activation, residual add, quantize/cast) and per-channel affine
/// norms (a BatchNorm the fold pass could not merge): the TPU's activation pipeline, a GPU GEMM's
/// epilogue.
pub fn is_epilogue(op: &Op) -> bool {
    matches!(
        op.kind,
        OpKind::Elementwise { .. }
            | OpKind::Norm {
                kind: NormKind::Batch,
                ..
            }
    )
}

/// Matrix kernels with their element-wise epilogues (systolic arrays and GPUs).
pub const MATRIX_EPILOGUES: FusionRules = FusionRules {
    anchor: is_matrix,
    epilogue: is_epilogue,
};

/// Groups the graph's ops into steps, in a valid execution order.
pub fn fuse_epilogues(g: &Graph, rules: &FusionRules) -> Vec<Step> {
    let mut groups: Vec<(smallvec::SmallVec<[OpId; 4]>, usize)> = Vec::with_capacity(g.order.len());
    // Output tensor of an open group (still extendable) → group index, indexed by tensor (a
    // hash map of it was a tenth of scheduling a small network).
    let mut open: Vec<Option<usize>> = vec![None; g.trace.tensors.len()];
    for &id in &g.order {
        let op = g.op(id);
        let pos = g.position[id.0 as usize];
        if is_view(op) {
            groups.push((smallvec::smallvec![id], pos));
            continue;
        }
        let single_out = op.outputs.len() == 1;
        if (rules.epilogue)(op) && single_out {
            let out_elems = g.trace.tensor(op.outputs[0]).numel();
            // Among the inputs that end an open group, join the most recently extended one.
            let join = op
                .inputs
                .iter()
                .filter(|&&t| {
                    g.consumers[t.0 as usize].len() == 1 && g.trace.tensor(t).numel() == out_elems
                })
                .filter_map(|t| open[t.0 as usize].map(|gi| (gi, *t)))
                .max_by_key(|&(gi, _)| groups[gi].1);
            if let Some((gi, t)) = join {
                open[t.0 as usize] = None;
                groups[gi].0.push(id);
                groups[gi].1 = pos;
                open[op.outputs[0].0 as usize] = Some(gi);
                continue;
            }
        }
        groups.push((smallvec::smallvec![id], pos));
        if single_out && ((rules.anchor)(op) || (rules.epilogue)(op)) {
            open[op.outputs[0].0 as usize] = Some(groups.len() - 1);
        }
    }
    // Already in order unless a fused step moved past a later op (then stably sorted).
    if !groups.is_sorted_by_key(|g| g.1) {
        groups.sort_by_key(|g| g.1);
    }
    groups
        .into_iter()
        .map(|(ops, _)| {
            let kind = if ops.len() > 1 {
                StepKind::Fused
            } else if is_view(g.op(ops[0])) {
                StepKind::View
            } else {
                StepKind::Op
            };
            Step { ops, kind }
        })
        .collect()
}

/// Whether a step's result feeds attention only: as queries, or as keys and values through the
/// KV-cache write.
fn feeds_attention_only(g: &Graph, step: &Step) -> bool {
    let Some(&last) = step.ops.last() else {
        return false;
    };
    let out = &g.op(last).outputs;
    out.len() == 1
        && !g.consumers[out[0].0 as usize].is_empty()
        && g.consumers[out[0].0 as usize].iter().all(|&c| {
            matches!(
                g.op(c).kind,
                OpKind::Attention { .. }
                    | OpKind::DataMovement {
                        kind: MoveKind::KvCacheWrite,
                        ..
                    }
            )
        })
}

/// Horizontal fusion of the Q, K and V projections: weight GEMMs that read the same activations
/// and feed only attention run as one GEMM over their concatenated weights, as every serving
/// engine lays them out (vLLM's `QKVParallelLinear`, TensorRT-LLM's fused QKV linear, gpt-fast's
/// `wqkv`, the checkpoints of GPT-2 `c_attn` and Falcon `query_key_value`). Each keeps its own
/// epilogue (RoPE on Q and K). The merged step runs at its last member's place; a group is left
/// alone when a step in between reads one of its members. Siblings must share the number formats
/// and the batch. Traces whose Q, K and V reach attention through reshapes (ONNX exports) keep
/// three kernels.
pub fn merge_qkv_projections(g: &Graph, steps: Vec<Step>) -> Vec<Step> {
    // Siblings share the input and the number formats (a precision override on one projection
    // keeps it apart: one kernel runs one format).
    let key = |s: &Step| -> Option<(u32, u64, DType, Option<DType>)> {
        let a = g.op(*s.ops.first()?);
        let OpKind::MatMul(gemm) = a.kind else {
            return None;
        };
        let projection = !a.weights.is_empty() && a.inputs.len() == 1 && feeds_attention_only(g, s);
        let weight_dtype = a.weights.first().map(|&w| g.trace.tensor(w).dtype);
        projection.then(|| (a.inputs[0].0, gemm.batch, a.dtype, weight_dtype))
    };
    let mut members: std::collections::BTreeMap<_, Vec<usize>> = Default::default();
    for (i, s) in steps.iter().enumerate() {
        if let Some(k) = key(s) {
            members.entry(k).or_default().push(i);
        }
    }
    let step_of = step_of_ops(g, &steps);
    // Member step → the step it joins (the group's last).
    let mut joins = vec![None; steps.len()];
    for group in members.values().filter(|m| m.len() > 1) {
        let (first, last) = (group[0], group[group.len() - 1]);
        let read_between = group[..group.len() - 1].iter().any(|&m| {
            let last_op = steps[m].ops[steps[m].ops.len() - 1];
            g.op(last_op).outputs.iter().any(|t| {
                g.consumers[t.0 as usize].iter().any(|&c| {
                    let at = step_of[c.0 as usize];
                    at > first && at < last && !group.contains(&at)
                })
            })
        });
        if !read_between {
            for &m in &group[..group.len() - 1] {
                joins[m] = Some(last);
            }
        }
    }
    let mut pending: Vec<smallvec::SmallVec<[OpId; 4]>> = vec![Default::default(); steps.len()];
    let mut out = Vec::with_capacity(steps.len());
    for (i, mut s) in steps.into_iter().enumerate() {
        if let Some(j) = joins[i] {
            let ops = std::mem::take(&mut s.ops);
            pending[j].extend(ops);
            continue;
        }
        if !pending[i].is_empty() {
            let mut ops = std::mem::take(&mut pending[i]);
            ops.extend(s.ops);
            s = Step {
                ops,
                kind: StepKind::Fused,
            };
        }
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vchip_workloads::builder::{ConvSpec, TraceBuilder};
    use vchip_workloads::graph::Pass;
    use vchip_workloads::{DType, EltOp, OpKind};

    fn step_names<'g>(g: &'g Graph, steps: &[Step]) -> Vec<Vec<&'g str>> {
        steps
            .iter()
            .map(|s| s.ops.iter().map(|&o| g.op(o).name.as_str()).collect())
            .collect()
    }

    fn rules() -> FusionRules {
        FusionRules {
            anchor: |op| matches!(op.kind, OpKind::Conv2d(_) | OpKind::MatMul(_)),
            epilogue: |op| matches!(op.kind, OpKind::Elementwise { .. } | OpKind::Norm { .. }),
        }
    }

    #[test]
    fn a_residual_block_fuses_its_add_into_the_later_conv() {
        // conv_a → relu → conv_b ; conv_s (shortcut) ; add(conv_b, conv_s) → relu
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 8, 8, 8], DType::F32).unwrap();
        let a = b.conv2d("a", x, ConvSpec::square(8, 3, 1, 1)).unwrap();
        let a = b.batchnorm("a_bn", a).unwrap();
        let a = b.eltwise("a_relu", EltOp::Relu, &[a]).unwrap();
        let m = b.conv2d("b", a, ConvSpec::square(8, 3, 1, 1)).unwrap();
        let s = b.conv2d("s", x, ConvSpec::square(8, 1, 1, 0)).unwrap();
        let y = b.eltwise("add", EltOp::Add, &[m, s]).unwrap();
        b.eltwise("out_relu", EltOp::Relu, &[y]).unwrap();
        let g = Graph::with_passes(b.finish(), &Pass::ALL).unwrap();
        let steps = fuse_epilogues(&g, &rules());
        let names = step_names(&g, &steps);
        // The add joins the shortcut conv (the later of its producers), the main conv stands alone.
        assert_eq!(
            names,
            vec![vec!["a", "a_relu"], vec!["b"], vec!["s", "add", "out_relu"]]
        );
        assert_eq!(steps[0].kind, StepKind::Fused);
        assert_eq!(steps[1].kind, StepKind::Op);
    }

    #[test]
    fn a_tensor_read_twice_is_not_fused() {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 4, 4, 4], DType::F32).unwrap();
        let c = b.conv2d("c", x, ConvSpec::square(4, 1, 1, 0)).unwrap();
        b.eltwise("r1", EltOp::Relu, &[c]).unwrap();
        b.eltwise("r2", EltOp::Sigmoid, &[c]).unwrap();
        let g = Graph::new(b.finish()).unwrap();
        let steps = fuse_epilogues(&g, &rules());
        assert_eq!(steps.len(), 3);
        assert!(steps.iter().all(|s| s.kind == StepKind::Op));
    }

    #[test]
    fn q_k_v_projections_run_as_one_gemm_and_a_sibling_mlp_stays_apart() {
        // x → q (+rope), k (+rope), v → attention; x → up → gelu (a parallel block's MLP).
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 16, 64], DType::F16).unwrap();
        let q = b.linear("q", x, 64, false).unwrap();
        let q = b.eltwise("rope_q", EltOp::Rope, &[q]).unwrap();
        let k = b.linear("k", x, 64, false).unwrap();
        let k = b.eltwise("rope_k", EltOp::Rope, &[k]).unwrap();
        let v = b.linear("v", x, 64, false).unwrap();
        let up = b.linear("up", x, 256, false).unwrap();
        b.eltwise("gelu", EltOp::Gelu, &[up]).unwrap();
        b.attention("attn", q, k, v, 4, 4, true).unwrap();
        let g = Graph::with_passes(b.finish(), &Pass::ALL).unwrap();
        let steps = merge_qkv_projections(&g, fuse_epilogues(&g, &MATRIX_EPILOGUES));
        let names = step_names(&g, &steps);
        assert_eq!(
            names,
            vec![
                vec!["q", "rope_q", "k", "rope_k", "v"],
                vec!["up", "gelu"],
                vec!["attn"]
            ]
        );
        assert_eq!(steps[0].kind, StepKind::Fused);
    }
}
