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
use vchip_workloads::{NormKind, Op, OpId, OpKind};

use crate::schedule::{Step, StepKind};

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

#[cfg(test)]
mod tests {
    use super::*;
    use vchip_workloads::builder::{ConvSpec, TraceBuilder};
    use vchip_workloads::graph::Pass;
    use vchip_workloads::{DType, EltOp, OpKind};

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
        let names: Vec<Vec<&str>> = steps
            .iter()
            .map(|s| s.ops.iter().map(|&o| g.op(o).name.as_str()).collect())
            .collect();
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
}
