//! Whole-graph analysis of a trace: producers and consumers of every tensor, a checked topological
//! order, tensor lifetimes, views that alias their input, and inference-time rewrites as named
//! passes.
//!
//! Built once per model and shared (a sweep builds it once, not once per point). Hardware models
//! read it to fuse ops, keep activations on chip and plan memory; they never mutate it.

use serde::Serialize;

use crate::error::WorkloadError;
use crate::ir::{EltOp, MoveKind, NormKind, Op, OpId, OpKind, TensorId, TensorRole, Trace};

/// First and last position (in the topological order) at which a tensor must exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Lifetime {
    /// Position of the producing op; 0 for graph inputs.
    pub first: usize,
    /// Position of the last consumer; the last position for graph outputs.
    pub last: usize,
}

/// A rewrite applied to the trace, as listed in `simulate`'s output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PassRecord {
    pub pass: &'static str,
    /// What the pass does, for readers of the output.
    pub what: &'static str,
    /// Ops removed or merged, by name.
    pub ops: Vec<String>,
}

/// Inference-time rewrites. Each is what TPU/Edge-TPU/TensorRT-class compilers do unconditionally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pass {
    /// BatchNorm after a convolution or linear layer becomes that layer's scaled weights and bias
    /// (Jacob et al., CVPR 2018, §3.2; TFLite/TensorRT fold it before any kernel is chosen).
    FoldBatchnorm,
    /// A bias `Add` of a constant vector right after a MatMul/Conv becomes the product's bias (ONNX
    /// exports linear layers with transposed weights as MatMul + Add).
    FoldBiasAdd,
}

impl Pass {
    pub const ALL: [Pass; 2] = [Pass::FoldBatchnorm, Pass::FoldBiasAdd];

    pub fn name(self) -> &'static str {
        match self {
            Pass::FoldBatchnorm => "fold-batchnorm",
            Pass::FoldBiasAdd => "fold-bias-add",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Pass::FoldBatchnorm => "BatchNorm folded into the preceding convolution/linear layer",
            Pass::FoldBiasAdd => "constant bias Add folded into the preceding product",
        }
    }
}

/// The analysed graph. Owns its (possibly rewritten) trace; the imported trace is untouched.
#[derive(Clone, Debug)]
pub struct Graph {
    pub trace: Trace,
    /// Producing op of each tensor (None for inputs, weights, constants).
    pub producer: Vec<Option<OpId>>,
    /// Ops reading each tensor as an activation operand, in topological order.
    pub consumers: Consumers,
    /// A checked topological order of the ops.
    pub order: Vec<OpId>,
    /// Position of each op in `order`.
    pub position: Vec<usize>,
    /// The tensor whose storage each tensor uses: itself, or for views the root they alias.
    pub storage: Vec<TensorId>,
    /// Lifetime of each activation's storage (None for weights, constants and unused tensors).
    pub lifetime: Vec<Option<Lifetime>>,
    /// Passes applied, in order.
    pub passes: Vec<PassRecord>,
    /// Tensors whose data a rewrite absorbed (a folded BatchNorm's scale and statistics): they
    /// occupy no memory in the rewritten model.
    pub folded_away: Vec<bool>,
}

/// Each tensor's readers as one flat list with offsets (one allocation, not one per tensor):
/// `consumers[t]` is tensor `t`'s slice.
#[derive(Clone, Debug, Default)]
pub struct Consumers {
    /// `start[t]..start[t + 1]` indexes tensor `t`'s readers in `ops`.
    start: Vec<u32>,
    ops: Vec<OpId>,
}

impl std::ops::Index<usize> for Consumers {
    type Output = [OpId];
    #[inline]
    fn index(&self, t: usize) -> &[OpId] {
        &self.ops[self.start[t] as usize..self.start[t + 1] as usize]
    }
}

impl Consumers {
    /// Readers of each of `n_t` tensors, in op-index order.
    fn of(trace: &Trace, n_t: usize) -> Consumers {
        let mut start = vec![0u32; n_t + 1];
        for op in &trace.ops {
            for &t in &op.inputs {
                start[t.0 as usize + 1] += 1;
            }
        }
        for i in 0..n_t {
            start[i + 1] += start[i];
        }
        let mut fill: Vec<u32> = start[..n_t].to_vec();
        let mut ops = vec![OpId(0); start[n_t] as usize];
        for (i, op) in trace.ops.iter().enumerate() {
            for &t in &op.inputs {
                let at = &mut fill[t.0 as usize];
                ops[*at as usize] = OpId(i as u32);
                *at += 1;
            }
        }
        Consumers { start, ops }
    }

    /// Orders each tensor's readers by their position in the schedule.
    fn sort_by_position(&mut self, position: &[usize]) {
        for w in self.start.windows(2) {
            self.ops[w[0] as usize..w[1] as usize].sort_by_key(|o| position[o.0 as usize]);
        }
    }
}

/// Ops that cost nothing and alias their input: a reshape (flatten/squeeze/unsqueeze lower to it)
/// only reinterprets the shape.
#[inline]
pub fn is_view(op: &Op) -> bool {
    matches!(
        op.kind,
        OpKind::DataMovement {
            kind: MoveKind::Reshape,
            ..
        }
    ) && op.inputs.len() == 1
        && op.outputs.len() == 1
}

impl Graph {
    /// Analyses `trace` as imported (no rewrites).
    pub fn new(trace: Trace) -> Result<Graph, WorkloadError> {
        Self::with_passes(trace, &[])
    }

    /// Applies `passes` in order, then analyses the result.
    pub fn with_passes(mut trace: Trace, passes: &[Pass]) -> Result<Graph, WorkloadError> {
        let mut records = Vec::new();
        let mut folded_away = vec![false; trace.tensors.len()];
        for &p in passes {
            let ops = match p {
                Pass::FoldBatchnorm => {
                    fold_into_product(&mut trace, is_batchnorm, &mut folded_away)
                }
                Pass::FoldBiasAdd => fold_into_product(&mut trace, is_bias_add, &mut folded_away),
            };
            if !ops.is_empty() {
                records.push(PassRecord {
                    pass: p.name(),
                    what: p.what(),
                    ops,
                });
            }
        }
        let mut g = analyse(trace)?;
        g.passes = records;
        g.folded_away = folded_away;
        Ok(g)
    }

    #[inline]
    pub fn op(&self, id: OpId) -> &Op {
        &self.trace.ops[id.0 as usize]
    }

    /// A tensor no op reads: a network output (it must reach off-chip memory).
    #[inline]
    pub fn is_output(&self, t: TensorId) -> bool {
        self.producer[t.0 as usize].is_some() && self.consumers[t.0 as usize].is_empty()
    }
}

fn analyse(trace: Trace) -> Result<Graph, WorkloadError> {
    let n_t = trace.tensors.len();
    let n_o = trace.ops.len();
    let mut producer: Vec<Option<OpId>> = vec![None; n_t];
    let bad = |msg: String| WorkloadError::Invalid {
        file: trace.name.clone(),
        place: "operator graph".into(),
        msg,
        hint: "each tensor must be written by at most one op, and the graph must be acyclic".into(),
    };
    for (i, op) in trace.ops.iter().enumerate() {
        for &t in op.inputs.iter().chain(&op.weights).chain(&op.outputs) {
            if t.0 as usize >= n_t {
                return Err(bad(format!(
                    "op `{}` names tensor {} of {n_t}",
                    op.name, t.0
                )));
            }
        }
        for &t in &op.outputs {
            if let Some(p) = producer[t.0 as usize] {
                return Err(bad(format!(
                    "tensor `{}` is written by both `{}` and `{}`",
                    trace.tensor(t).name,
                    trace.ops[p.0 as usize].name,
                    op.name
                )));
            }
            producer[t.0 as usize] = Some(OpId(i as u32));
        }
    }
    // Whether every op reads only what earlier ops wrote: then the file order is the order.
    let in_order = trace.ops.iter().enumerate().all(|(i, op)| {
        op.inputs
            .iter()
            .all(|&t| producer[t.0 as usize].is_none_or(|p| (p.0 as usize) < i))
    });
    let mut consumers = Consumers::of(&trace, n_t);
    let order: Vec<OpId> = if in_order {
        (0..n_o as u32).map(OpId).collect()
    } else {
        kahn_order(&trace, &producer).map_err(|stuck| {
            bad(format!(
                "the ops form a cycle (op `{}` waits on itself)",
                trace.ops[stuck].name
            ))
        })?
    };
    let mut position = vec![0usize; n_o];
    for (p, o) in order.iter().enumerate() {
        position[o.0 as usize] = p;
    }
    if !in_order {
        consumers.sort_by_position(&position);
    }
    // Views alias the storage of their input (resolved in order, so chains of views collapse).
    let mut storage: Vec<TensorId> = (0..n_t as u32).map(TensorId).collect();
    for &o in &order {
        let op = &trace.ops[o.0 as usize];
        if is_view(op) {
            storage[op.outputs[0].0 as usize] = storage[op.inputs[0].0 as usize];
        }
    }
    let last_pos = n_o.saturating_sub(1);
    let mut lifetime: Vec<Option<Lifetime>> = vec![None; n_t];
    for (t, tensor) in trace.tensors.iter().enumerate() {
        if matches!(tensor.role, TensorRole::Weight | TensorRole::Constant) {
            continue;
        }
        let used = !consumers[t].is_empty();
        if producer[t].is_none() && !used {
            continue;
        }
        let root = storage[t].0 as usize;
        let first = producer[t].map_or(0, |p| position[p.0 as usize]);
        let last = if used {
            position[consumers[t].last().map_or(0, |o| o.0 as usize)]
        } else {
            last_pos
        };
        let span = lifetime[root].get_or_insert(Lifetime { first, last });
        span.first = span.first.min(first);
        span.last = span.last.max(last);
    }
    Ok(Graph {
        trace,
        producer,
        consumers,
        order,
        position,
        storage,
        lifetime,
        passes: Vec::new(),
        folded_away: vec![false; n_t],
    })
}

/// Kahn's algorithm, taking the lowest op index among the ready ones: a trace in topological order
/// keeps its order exactly. `Err` holds an op on a cycle.
fn kahn_order(trace: &Trace, producer: &[Option<OpId>]) -> Result<Vec<OpId>, usize> {
    let n_o = trace.ops.len();
    let mut indegree = vec![0usize; n_o];
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n_o];
    for (i, op) in trace.ops.iter().enumerate() {
        for &t in &op.inputs {
            if let Some(p) = producer[t.0 as usize] {
                succ[p.0 as usize].push(i);
                indegree[i] += 1;
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n_o)
        .filter(|&i| indegree[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n_o);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(OpId(i as u32));
        for &s in &succ[i] {
            indegree[s] -= 1;
            if indegree[s] == 0 {
                ready.push(std::cmp::Reverse(s));
            }
        }
    }
    if order.len() != n_o {
        return Err((0..n_o).find(|&i| indegree[i] > 0).unwrap_or(0));
    }
    Ok(order)
}

fn is_batchnorm(op: &Op) -> bool {
    matches!(
        op.kind,
        OpKind::Norm {
            kind: NormKind::Batch,
            ..
        }
    ) && op.inputs.len() == 1
}

fn is_bias_add(op: &Op) -> bool {
    matches!(op.kind, OpKind::Elementwise { op: EltOp::Add, .. })
        && op.inputs.len() == 1
        && op.weights.len() == 1
}

/// Output channels of a product with learned weights: what a folded per-channel vector must match.
fn product_channels(op: &Op) -> Option<u64> {
    match op.kind {
        OpKind::Conv2d(c) if !op.weights.is_empty() => Some(c.c_out),
        OpKind::MatMul(g) if !op.weights.is_empty() => Some(g.n),
        _ => None,
    }
}

/// Folds every op matching `is_foldable` whose single activation input is produced by a product
/// with weights and read by nothing else, and whose per-channel parameters match the product's
/// output channels. The product takes over the folded op's output tensor (names downstream stay)
/// and its last parameter as its bias when it has none. Returns the folded ops' names.
fn fold_into_product(
    trace: &mut Trace,
    is_foldable: fn(&Op) -> bool,
    folded_away: &mut [bool],
) -> Vec<String> {
    if !trace.ops.iter().any(is_foldable) {
        return Vec::new();
    }
    let mut producer: Vec<Option<usize>> = vec![None; trace.tensors.len()];
    let mut readers = vec![0usize; trace.tensors.len()];
    let mut weight_readers = vec![0usize; trace.tensors.len()];
    for (i, op) in trace.ops.iter().enumerate() {
        for &t in &op.outputs {
            producer[t.0 as usize] = Some(i);
        }
        for &t in &op.inputs {
            readers[t.0 as usize] += 1;
        }
        for &w in &op.weights {
            weight_readers[w.0 as usize] += 1;
        }
    }
    let mut removed = vec![false; trace.ops.len()];
    let mut folded = Vec::new();
    for (i, gone) in removed.iter_mut().enumerate() {
        let op = &trace.ops[i];
        if !is_foldable(op) || op.outputs.len() != 1 {
            continue;
        }
        let x = op.inputs[0];
        let Some(p) = producer[x.0 as usize] else {
            continue;
        };
        let prod = &trace.ops[p];
        let Some(channels) = product_channels(prod) else {
            continue;
        };
        let per_channel = op
            .weights
            .iter()
            .all(|&w| trace.tensors[w.0 as usize].numel() == channels);
        let same_shape = trace.tensor(x).shape == trace.tensor(op.outputs[0]).shape;
        if readers[x.0 as usize] != 1 || prod.outputs[..] != [x] || !per_channel || !same_shape {
            continue;
        }
        let out = op.outputs[0];
        // BatchNorm's shift is its learned `bias` (the last Weight; its statistics are
        // Constants); a bias Add's one vector may be either.
        let last_with = |role: TensorRole| {
            op.weights
                .iter()
                .rev()
                .copied()
                .find(|&w| trace.tensors[w.0 as usize].role == role)
        };
        let bias = last_with(TensorRole::Weight).or_else(|| last_with(TensorRole::Constant));
        let product_has_bias = trace.ops[p].weights.len() > 1;
        for &w in &op.weights {
            // Absorbed into the product's weights, unless another op still reads it.
            if (product_has_bias || Some(w) != bias) && weight_readers[w.0 as usize] == 1 {
                folded_away[w.0 as usize] = true;
            }
        }
        folded_away[x.0 as usize] = true;
        let prod = &mut trace.ops[p];
        prod.outputs = crate::ir::TensorIds::from_slice(&[out]);
        if !product_has_bias {
            prod.weights.extend(bias);
        }
        producer[out.0 as usize] = Some(p);
        *gone = true;
        // The folded op is dropped below: its name moves to the report uncopied.
        folded.push(std::mem::take(&mut trace.ops[i].name));
    }
    if !folded.is_empty() {
        let mut keep = removed.iter().map(|r| !r);
        trace.ops.retain(|_| keep.next().unwrap_or(true));
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{ConvSpec, TraceBuilder};
    use crate::ir::{DType, EltOp};

    fn conv_bn_relu() -> Trace {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 3, 8, 8], DType::F32).unwrap();
        let c = b.conv2d("conv", x, ConvSpec::square(4, 3, 1, 1)).unwrap();
        let n = b.batchnorm("bn", c).unwrap();
        let r = b.eltwise("relu", EltOp::Relu, &[n]).unwrap();
        let f = b.reshape("flat", r, vec![1, 256]).unwrap();
        b.linear("fc", f, 10, true).unwrap();
        b.finish()
    }

    #[test]
    fn lifetimes_views_and_outputs() {
        let g = Graph::new(conv_bn_relu()).unwrap();
        assert_eq!(g.order.len(), 5);
        // The flattened tensor aliases the ReLU output: one storage, alive until the fc reads it.
        let flat = g.op(OpId(3)).outputs[0];
        let relu_out = g.op(OpId(2)).outputs[0];
        assert_eq!(g.storage[flat.0 as usize], relu_out);
        assert_eq!(
            g.lifetime[relu_out.0 as usize],
            Some(Lifetime { first: 2, last: 4 })
        );
        let out = g.op(OpId(4)).outputs[0];
        assert!(g.is_output(out));
        assert_eq!(
            g.lifetime[out.0 as usize],
            Some(Lifetime { first: 4, last: 4 })
        );
        // The input lives from the start until the conv reads it.
        let x = g.op(OpId(0)).inputs[0];
        assert_eq!(
            g.lifetime[x.0 as usize],
            Some(Lifetime { first: 0, last: 0 })
        );
    }

    #[test]
    fn batchnorm_folds_into_the_conv() {
        let t = conv_bn_relu();
        let params_before = t.totals().params;
        let bn_out = t.ops[1].outputs[0];
        let g = Graph::with_passes(t, &Pass::ALL).unwrap();
        assert_eq!(g.trace.ops.len(), 4);
        assert_eq!(g.passes.len(), 1);
        assert_eq!(g.passes[0].pass, "fold-batchnorm");
        assert_eq!(g.passes[0].ops, vec!["bn".to_string()]);
        // The conv now writes the BN's output tensor, which the ReLU reads, and carries a bias.
        assert_eq!(g.trace.ops[0].outputs[..], [bn_out]);
        assert_eq!(g.trace.ops[0].weights.len(), 2);
        let bias = g.trace.ops[0].weights[1];
        assert_eq!(g.trace.tensor(bias).name, "bn.bias");
        // Its scale and statistics are absorbed: they hold no memory any more.
        let absorbed: Vec<&str> = (0..g.trace.tensors.len())
            .filter(|&t| g.folded_away[t])
            .map(|t| g.trace.tensors[t].name.as_str())
            .collect();
        assert!(absorbed.contains(&"bn.weight") && absorbed.contains(&"bn.running_var"));
        assert!(!absorbed.contains(&"bn.bias"));
        assert_eq!(g.consumers[bn_out.0 as usize], vec![OpId(1)]);
        // Parameters of the model as a whole are unchanged (the folded tensors still exist).
        assert_eq!(g.trace.totals().params, params_before);
    }

    #[test]
    fn a_bias_add_after_a_linear_layer_becomes_its_bias() {
        // ONNX's MatMul + Add(bias) form of a linear layer without bias.
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 16], DType::F32).unwrap();
        let y = b.linear("fc", x, 8, false).unwrap();
        let z = b.eltwise_param("fc_bias", EltOp::Add, y, vec![8]).unwrap();
        // A following scale is not a bias: it stays.
        b.eltwise_param("scale", EltOp::Mul, z, vec![1, 8]).unwrap();
        let g = Graph::with_passes(b.finish(), &Pass::ALL).unwrap();
        assert_eq!(g.passes.len(), 1);
        assert_eq!(g.passes[0].pass, "fold-bias-add");
        assert_eq!(g.trace.ops.len(), 2);
        assert_eq!(g.trace.ops[0].weights.len(), 2);
        assert_eq!(g.trace.ops[0].outputs[..], [z]);
        assert!(!g.folded_away[g.trace.ops[0].weights[1].0 as usize]);
    }

    #[test]
    fn batchnorm_after_a_shared_tensor_is_kept() {
        let mut b = TraceBuilder::new("t");
        let x = b.input("x", vec![1, 3, 8, 8], DType::F32).unwrap();
        let c = b.conv2d("conv", x, ConvSpec::square(4, 1, 1, 0)).unwrap();
        let n = b.batchnorm("bn", c).unwrap();
        b.eltwise("add", EltOp::Add, &[n, c]).unwrap();
        let g = Graph::with_passes(b.finish(), &Pass::ALL).unwrap();
        assert!(g.passes.is_empty());
        assert_eq!(g.trace.ops.len(), 3);
    }

    #[test]
    fn a_cycle_is_an_error() {
        let mut t = conv_bn_relu();
        // Make the conv read the ReLU's output: conv → bn → relu → conv.
        let relu_out = t.ops[2].outputs[0];
        t.ops[0].inputs = crate::ir::TensorIds::from_slice(&[relu_out]);
        let e = Graph::new(t).unwrap_err().to_string();
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn out_of_order_traces_are_sorted() {
        let mut t = conv_bn_relu();
        t.ops.swap(0, 1); // bn listed before the conv that feeds it
        let g = Graph::new(t).unwrap();
        assert_eq!(g.order[0], OpId(1));
        assert_eq!(g.order[1], OpId(0));
    }
}
