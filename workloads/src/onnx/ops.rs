//! Shape inference and lowering of individual ONNX operators.

use std::collections::HashSet;

use super::proto::{AttributeProto, NodeProto};
use super::{dtype_of, looks_like_param_name, sane, tensor_ints, Importer, Val, MAX_FOLD};
use crate::builder::{broadcast, matmul_shape};
use crate::error::Result;
use crate::ir::*;

/// Graph-input names that feed a parameter slot (Conv W/B, Gemm B/C, norm scale/bias/stats, ...).
pub(super) fn param_slot_inputs(nodes: &[NodeProto]) -> HashSet<&str> {
    let mut s = HashSet::new();
    for n in nodes {
        let slots: &[usize] = match n.op_type.as_str() {
            "Conv"
            | "ConvTranspose"
            | "Gemm"
            | "LayerNormalization"
            | "InstanceNormalization"
            | "GroupNormalization" => &[1, 2],
            "BatchNormalization" => &[1, 2, 3, 4],
            "MatMul" | "PRelu" => &[1],
            _ => &[],
        };
        for &i in slots {
            if let Some(x) = n.input.get(i).filter(|x| !x.is_empty()) {
                s.insert(x.as_str());
            }
        }
    }
    s
}

mod attention;
mod contrib;
mod indexing;
mod linear;
mod loss;
pub(super) mod movement;
mod pool_reduce;
mod spatial;

fn attr<'n>(n: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn attr_ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

fn attr_s(n: &NodeProto, name: &str) -> String {
    attr(n, name).map_or(String::new(), |a| {
        String::from_utf8_lossy(&a.s).into_owned()
    })
}

/// Normalises a possibly negative axis against `rank`.
/// An axis of a tensor of rank `rank` (negative counts from the end); `None` when out of range,
/// which includes every axis of a rank-0 tensor (a scalar has no axis to gather, split or slice).
fn axis(a: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    (0..r).contains(&v).then_some(v as usize)
}

/// Output size of a pooling window along one axis (ONNX's rule, PyTorch's too): begin and end
/// pads apart, dilation spreading the window; in ceil mode a last window that would start in the
/// end padding is dropped.
fn pool_out(
    input: u64,
    k: u64,
    stride: u64,
    pad_begin: u64,
    pad_end: u64,
    dil: u64,
    ceil: bool,
) -> Option<u64> {
    let span = dil.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let room = input
        .checked_add(pad_begin)?
        .checked_add(pad_end)?
        .checked_sub(span)?;
    if stride == 0 {
        return None;
    }
    let mut out = if ceil {
        room.div_ceil(stride)
    } else {
        room / stride
    } + 1;
    if ceil && (out - 1) * stride >= input + pad_begin {
        out -= 1;
    }
    Some(out)
}

fn numel(s: &[u64]) -> u64 {
    checked_numel(s).unwrap_or(0)
}

fn elt(op: &str) -> Option<EltOp> {
    Some(match op {
        "Add" | "Sum" => EltOp::Add,
        "Sub" => EltOp::Sub,
        "Mul" => EltOp::Mul,
        "Div" | "Mod" => EltOp::Div,
        "Pow" => EltOp::Pow,
        "Sqrt" | "Reciprocal" => EltOp::Sqrt,
        "Relu" | "LeakyRelu" | "PRelu" | "Abs" | "Max" | "Min" | "Floor" | "Ceil" | "Round"
        | "Sign" => EltOp::Relu,
        "Clip" => EltOp::Relu6,
        "Gelu" => EltOp::Gelu,
        "Sigmoid" => EltOp::Sigmoid,
        "HardSigmoid" => EltOp::HardSigmoid,
        "HardSwish" => EltOp::HardSwish,
        "Tanh" | "Softplus" | "Elu" | "Selu" | "Celu" | "Mish" | "Sin" | "Cos" | "Tan" | "Asin"
        | "Acos" | "Atan" | "Sinh" | "Cosh" | "Asinh" | "Acosh" | "Atanh" | "Log" | "Softsign" => {
            EltOp::Tanh
        }
        "Swish" => EltOp::Silu,
        "Mean" => EltOp::Add,
        "ThresholdedRelu" | "Shrink" => EltOp::Relu,
        // Integer bit manipulation: one operation per element.
        "BitShift" | "BitwiseAnd" | "BitwiseOr" | "BitwiseXor" | "BitwiseNot" => EltOp::Other,
        "Erf" => EltOp::Erf,
        "Exp" => EltOp::Exp,
        "Neg" | "Not" | "IsNaN" | "IsInf" => EltOp::Neg,
        "Cast" | "CastLike" => EltOp::Cast,
        "Where" | "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And"
        | "Or" | "Xor" => EltOp::Where,
        _ => return None,
    })
}

/// Integer element-wise folding for shape arithmetic.
fn fold_binary(op: &str, a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
        return None;
    }
    (0..n)
        .map(|i| {
            let (x, y) = (
                a[if a.len() == 1 { 0 } else { i }],
                b[if b.len() == 1 { 0 } else { i }],
            );
            match op {
                "Add" => x.checked_add(y),
                "Sub" => x.checked_sub(y),
                "Mul" => x.checked_mul(y),
                "Div" if y != 0 => Some(x.div_euclid(y)),
                "Mod" if y != 0 => Some(x.rem_euclid(y)),
                "Equal" => Some((x == y) as i64),
                "Less" => Some((x < y) as i64),
                "Greater" => Some((x > y) as i64),
                "LessOrEqual" => Some((x <= y) as i64),
                "GreaterOrEqual" => Some((x >= y) as i64),
                "And" => Some((x != 0 && y != 0) as i64),
                "Or" => Some((x != 0 || y != 0) as i64),
                "Xor" => Some(((x != 0) ^ (y != 0)) as i64),
                "Max" => Some(x.max(y)),
                "Min" => Some(x.min(y)),
                _ => None,
            }
        })
        .collect()
}

impl Importer<'_> {
    fn input<'v>(&'v self, n: &NodeProto, i: usize) -> Option<&'v Val> {
        n.input
            .get(i)
            .filter(|s| !s.is_empty())
            .and_then(|s| self.vals.get(s))
    }

    fn shape(&self, v: &Val) -> Vec<u64> {
        match v {
            Val::Act(id) => self.b.shape(*id).to_vec(),
            Val::Param { shape, .. } | Val::Const { shape, .. } => shape.clone(),
        }
    }

    fn in_shape(&self, n: &NodeProto, i: usize, idx: usize) -> Result<Vec<u64>> {
        self.input(n, i).map(|v| self.shape(v)).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!(
                    "input {i} (`{}`) is not defined before this node",
                    n.input.get(i).map_or("", |s| s.as_str())
                ),
            )
        })
    }

    fn ints(&self, n: &NodeProto, i: usize) -> Option<Vec<i64>> {
        match self.input(n, i)? {
            Val::Const { ints, .. } => ints.clone(),
            _ => None,
        }
    }

    fn declared_out(&self, n: &NodeProto, o: usize) -> Option<Vec<Option<u64>>> {
        n.output.get(o).and_then(|s| self.declared.get(s)).cloned()
    }

    /// Registers an undeclared parameter (dynamo export without weights) with a derived shape.
    fn ensure_param(
        &mut self,
        n: &NodeProto,
        i: usize,
        shape: impl FnOnce(&Self) -> Option<Vec<u64>>,
        idx: usize,
    ) -> Result<()> {
        let Some(name) = n.input.get(i).filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        if self.vals.contains_key(name) {
            return Ok(());
        }
        let s = shape(self).filter(|s| sane(s)).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("parameter `{name}` is not declared and its shape cannot be derived"),
            )
        })?;
        self.vals.insert(
            name.clone(),
            Val::Param {
                shape: s,
                dtype: DType::F32,
                id: None,
            },
        );
        Ok(())
    }

    /// Trace tensor for a parameter, created on first use. Running statistics are constants.
    pub(super) fn param_id(&mut self, name: &str, role: TensorRole) -> Result<Option<TensorId>> {
        let Some(Val::Param { shape, dtype, id }) = self.vals.get(name).cloned() else {
            return Ok(None);
        };
        if let Some(id) = id {
            return Ok(Some(id));
        }
        let new = self
            .b
            .add_tensor(name.to_string(), shape.clone(), dtype, role)?;
        self.vals.insert(
            name.to_string(),
            Val::Param {
                shape,
                dtype,
                id: Some(new),
            },
        );
        Ok(Some(new))
    }

    /// Splits a node's inputs into activations and parameters (constants are compile-time).
    pub(super) fn operands(
        &mut self,
        n: &NodeProto,
        const_slots: &[usize],
    ) -> Result<(Vec<TensorId>, Vec<TensorId>)> {
        let (mut acts, mut weights) = (Vec::new(), Vec::new());
        for (i, name) in n.input.iter().enumerate() {
            match self.vals.get(name) {
                Some(Val::Act(id)) => acts.push(*id),
                Some(Val::Param { .. }) => {
                    let role = if const_slots.contains(&i) {
                        TensorRole::Constant
                    } else {
                        TensorRole::Weight
                    };
                    if let Some(id) = self.param_id(name, role)? {
                        weights.push(id);
                    }
                }
                _ => {}
            }
        }
        Ok((acts, weights))
    }

    fn op_name(&self, n: &NodeProto, idx: usize) -> String {
        if n.name.is_empty() {
            format!("{}_{idx}", n.op_type)
        } else {
            n.name.trim_start_matches('/').replace('/', ".")
        }
    }

    fn emit(
        &mut self,
        n: &NodeProto,
        idx: usize,
        kind: OpKind,
        consts: &[usize],
        outs: Vec<Vec<u64>>,
    ) -> Result<()> {
        let (acts, weights) = self.operands(n, consts)?;
        self.emit_operands(n, idx, kind, acts, weights, outs)
    }

    /// [`Self::emit`] with the operands given (a node whose inputs are partly read through
    /// ops emitted before it).
    pub(super) fn emit_operands(
        &mut self,
        n: &NodeProto,
        idx: usize,
        kind: OpKind,
        acts: Vec<TensorId>,
        weights: Vec<TensorId>,
        outs: Vec<Vec<u64>>,
    ) -> Result<()> {
        let name = self.op_name(n, idx);
        // Optional outputs the node leaves unnamed are not written (an Attention without its
        // present KV, an LSTM keeping only Y_h); an op keeps at least one output.
        let named = |k: usize| n.output.get(k).is_some_and(|o| !o.is_empty());
        let keep: Vec<usize> = if (0..outs.len()).any(named) {
            (0..outs.len()).filter(|&k| named(k)).collect()
        } else {
            vec![0]
        };
        let kept: Vec<Vec<u64>> = keep.iter().map(|&k| outs[k].clone()).collect();
        let ids = self
            .b
            .push_op(name, kind, acts, weights, kept)
            .map_err(|e| self.err(n, idx, e.to_string()))?;
        for (&k, id) in keep.iter().zip(ids) {
            if named(k) {
                self.vals.insert(n.output[k].clone(), Val::Act(id));
            }
        }
        Ok(())
    }

    fn set_const(&mut self, n: &NodeProto, shape: Vec<u64>, dtype: DType, ints: Option<Vec<i64>>) {
        let (shape, ints) = if sane(&shape) {
            (shape, ints)
        } else {
            (vec![], None)
        };
        if let Some(o) = n.output.first() {
            let ints = ints.filter(|v| {
                v.len() as u64 == numel(&shape).max(if shape.is_empty() { 1 } else { 0 })
                    || shape.is_empty()
            });
            self.vals
                .insert(o.clone(), Val::Const { shape, dtype, ints });
        }
    }

    fn all_const(&self, n: &NodeProto) -> bool {
        n.input
            .iter()
            .filter(|s| !s.is_empty())
            .all(|s| matches!(self.vals.get(s), Some(Val::Const { .. })))
    }

    fn movement(&mut self, n: &NodeProto, idx: usize, kind: MoveKind, out: Vec<u64>) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        if matches!(self.input(n, 0), Some(Val::Const { .. })) && self.all_const(n) {
            let dt = self.input(n, 0).map_or(DType::Int64, |v| match v {
                Val::Const { dtype, .. } => *dtype,
                _ => DType::Int64,
            });
            self.set_const(n, out, dt, None);
            return Ok(());
        }
        let _ = x;
        let elems = numel(&out);
        if elems == 0 {
            return Err(self.err(n, idx, format!("output shape {out:?} is empty")));
        }
        self.emit(n, idx, OpKind::DataMovement { kind, elems }, &[], vec![out])
    }

    /// The exporter's declared shape of output `o`, when fully static.
    fn declared_full(&self, n: &NodeProto, o: usize) -> Option<Vec<u64>> {
        self.declared_out(n, o)
            .and_then(|d| d.into_iter().collect())
    }

    /// Inputs the file references but never defines (the dynamo exporter without weights drops
    /// every initializer): parameters get shapes derived from the op, other values become
    /// constants of unknown value, and ops needing their values fall back to declared shapes.
    fn define_missing_inputs(&mut self, n: &NodeProto) {
        let slots: &[usize] = match n.op_type.as_str() {
            "Conv"
            | "Gemm"
            | "LayerNormalization"
            | "InstanceNormalization"
            | "GroupNormalization" => &[1, 2],
            "BatchNormalization" => &[1, 2, 3, 4],
            "MatMul" => &[1],
            _ => &[],
        };
        for (i, name) in n.input.iter().enumerate() {
            if name.is_empty() || self.vals.contains_key(name) || slots.contains(&i) {
                continue;
            }
            let declared = self.declared_full(n, 0);
            let val = match declared {
                Some(out) if looks_like_param_name(name) => {
                    let shape = if name.ends_with("bias") {
                        vec![*out.last().unwrap_or(&1)]
                    } else {
                        let mut s = out;
                        if let Some(f) = s.first_mut() {
                            *f = 1;
                        }
                        s
                    };
                    Val::Param {
                        shape,
                        dtype: DType::F32,
                        id: None,
                    }
                }
                _ => Val::Const {
                    shape: vec![],
                    dtype: DType::F32,
                    ints: None,
                },
            };
            self.vals.insert(name.clone(), val);
        }
    }

    pub(super) fn node(&mut self, idx: usize, n: &NodeProto) -> Result<()> {
        self.define_missing_inputs(n);
        if n.domain == "com.microsoft" && self.contrib(n, idx)? {
            return Ok(());
        }
        let op = n.op_type.as_str();
        match op {
            "Constant" => {
                let a = n
                    .attribute
                    .first()
                    .ok_or_else(|| self.err(n, idx, "Constant without a value".into()))?;
                let (shape, dtype, ints) = match a.name.as_str() {
                    "value" => {
                        let t = a.t.as_ref().ok_or_else(|| {
                            self.err(n, idx, "Constant `value` has no tensor".into())
                        })?;
                        (
                            t.dims.iter().map(|&d| d.max(0) as u64).collect(),
                            dtype_of(t.data_type),
                            tensor_ints(t),
                        )
                    }
                    "value_int" => (vec![], DType::Int64, Some(vec![a.i])),
                    "value_ints" => (
                        vec![a.ints.len() as u64],
                        DType::Int64,
                        Some(a.ints.clone()),
                    ),
                    "value_float" => (vec![], DType::F32, None),
                    "value_floats" => (vec![a.floats.len() as u64], DType::F32, None),
                    other => {
                        return Err(self.err(
                            n,
                            idx,
                            format!("unsupported Constant attribute `{other}`"),
                        ))
                    }
                };
                self.set_const(n, shape, dtype, ints);
            }
            "Shape" => {
                let s = self.in_shape(n, 0, idx)?;
                let r = s.len() as i64;
                let clamp = |v: i64| if v < 0 { (v + r).max(0) } else { v.min(r) } as usize;
                let (st, en) = (clamp(attr_i(n, "start", 0)), clamp(attr_i(n, "end", r)));
                let v: Vec<i64> = s[st..en.max(st)].iter().map(|&d| d as i64).collect();
                self.set_const(n, vec![v.len() as u64], DType::Int64, Some(v));
            }
            "Size" => {
                let s = self.in_shape(n, 0, idx)?;
                self.set_const(n, vec![], DType::Int64, Some(vec![numel(&s) as i64]));
            }
            "ConstantOfShape" => {
                let Some(dims) = self.ints(n, 0) else {
                    // A shape known at run time: the declared output is filled in place.
                    let out = self.declared_full(n, 0).ok_or_else(|| {
                        self.err(
                            n,
                            idx,
                            "ConstantOfShape needs a constant shape or a declared output".into(),
                        )
                    })?;
                    return self.emit_copy(n, idx, &[], out);
                };
                let shape: Vec<u64> = dims.iter().map(|&d| d.max(0) as u64).collect();
                let value = attr(n, "value")
                    .and_then(|a| a.t.as_ref())
                    .and_then(tensor_ints)
                    .and_then(|v| v.first().copied());
                let ints = value
                    .filter(|_| numel(&shape) <= MAX_FOLD)
                    .map(|v| vec![v; numel(&shape).max(1) as usize]);
                self.set_const(n, shape, DType::Int64, ints);
            }
            "Range" => {
                let (s, l, d) = (self.ints(n, 0), self.ints(n, 1), self.ints(n, 2));
                match (s, l, d) {
                    (Some(s), Some(l), Some(d))
                        if !s.is_empty() && !l.is_empty() && d.first().is_some_and(|d| *d != 0) =>
                    {
                        let (s, l, d) = (s[0] as i128, l[0] as i128, d[0] as i128);
                        let count = ((l - s) as f64 / d as f64).ceil().max(0.0);
                        if count > MAX_FOLD as f64 {
                            return Err(self.err(
                                n,
                                idx,
                                format!("Range of {count} elements is too long to fold"),
                            ));
                        }
                        let v: Vec<i64> = (0..count as i128).map(|i| (s + i * d) as i64).collect();
                        let count = v.len() as i64;
                        self.set_const(n, vec![count as u64], DType::Int64, Some(v));
                    }
                    _ => {
                        // Run-time bounds: a declared output says the length.
                        let out = self.declared_full(n, 0).ok_or_else(|| {
                            self.err(
                                n,
                                idx,
                                "Range needs constant start, limit and delta, or a declared output shape".into(),
                            )
                        })?;
                        let elems = numel(&out);
                        self.emit(
                            n,
                            idx,
                            OpKind::Elementwise {
                                op: EltOp::Add,
                                elems,
                            },
                            &[],
                            vec![out],
                        )?;
                    }
                }
            }
            "Identity" | "Dropout" => {
                let v = self
                    .input(n, 0)
                    .cloned()
                    .ok_or_else(|| self.err(n, idx, "missing input".into()))?;
                if let Some(o) = n.output.first() {
                    self.vals.insert(o.clone(), v);
                }
            }
            "Conv" => self.conv(n, idx)?,
            "Gemm" => self.gemm(n, idx)?,
            "MatMul" => self.matmul(n, idx)?,
            "Einsum" => self.einsum(n, idx)?,
            "BatchNormalization" => {
                let x = self.in_shape(n, 0, idx)?;
                let c = *x
                    .get(1)
                    .ok_or_else(|| self.err(n, idx, "input needs a channel dimension".into()))?;
                for i in 1..5 {
                    self.ensure_param(n, i, |_| Some(vec![c]), idx)?;
                }
                self.emit(
                    n,
                    idx,
                    OpKind::Norm {
                        kind: NormKind::Batch,
                        elems: numel(&x),
                    },
                    &[3, 4],
                    vec![x],
                )?;
            }
            "LayerNormalization"
            | "InstanceNormalization"
            | "GroupNormalization"
            | "SimplifiedLayerNormalization"
            | "RMSNormalization" => {
                let x = self.in_shape(n, 0, idx)?;
                let kind = match op {
                    "LayerNormalization" => NormKind::Layer,
                    "SimplifiedLayerNormalization" | "RMSNormalization" => NormKind::Rms,
                    _ => NormKind::Group,
                };
                let pshape = match op {
                    "LayerNormalization" | "SimplifiedLayerNormalization" | "RMSNormalization" => {
                        let a = axis(attr_i(n, "axis", -1), x.len())
                            .unwrap_or(x.len().saturating_sub(1));
                        x[a..].to_vec()
                    }
                    _ => vec![x.get(1).copied().unwrap_or(1)],
                };
                for i in 1..3 {
                    let p = pshape.clone();
                    self.ensure_param(n, i, move |_| Some(p), idx)?;
                }
                // LayerNormalization's optional Mean and InvStdDev: the input's shape with the
                // normalised axes kept as 1.
                let mut outs = vec![x.clone()];
                if op == "LayerNormalization" && n.output.iter().skip(1).any(|o| !o.is_empty()) {
                    let a =
                        axis(attr_i(n, "axis", -1), x.len()).unwrap_or(x.len().saturating_sub(1));
                    let mut stat = x[..a].to_vec();
                    stat.extend(std::iter::repeat_n(1, x.len() - a));
                    outs.extend([stat.clone(), stat].into_iter().take(n.output.len() - 1));
                }
                self.emit(
                    n,
                    idx,
                    OpKind::Norm {
                        kind,
                        elems: numel(&x),
                    },
                    &[],
                    outs,
                )?;
            }
            "MaxPool" | "AveragePool" | "LpPool" => self.pool(n, idx)?,
            "Attention" if n.domain.is_empty() || n.domain == "ai.onnx" => {
                self.attention(n, idx)?
            }
            "SoftmaxCrossEntropyLoss" | "NegativeLogLikelihoodLoss" => self.loss(n, idx)?,
            "TopK" => self.top_k(n, idx)?,
            "ConvTranspose" => self.conv_transpose(n, idx)?,
            "SpaceToDepth" | "DepthToSpace" => self.space_depth(n, idx)?,
            "LRN" | "LpNormalization" | "ReverseSequence" | "EyeLike" => {
                self.same_shape_norm(n, idx)?
            }
            "RNN" | "GRU" | "LSTM" => self.recurrent(n, idx)?,
            "Col2Im" | "RoiAlign" | "MaxUnpool" | "BlackmanWindow" | "HammingWindow"
            | "HannWindow" | "Det" => self.shaped_by_inputs(n, idx)?,
            "OneHot" => self.one_hot(n, idx)?,
            "Compress" | "NonMaxSuppression" | "Unique" => self.declared_selection(n, idx)?,
            "GridSample" => self.grid_sample(n, idx)?,
            "CenterCropPad" => self.center_crop_pad(n, idx)?,
            "QuantizeLinear" | "DequantizeLinear" | "DynamicQuantizeLinear" => {
                self.quantize(n, idx)?
            }
            "QLinearMatMul" | "MatMulInteger" => self.integer_matmul(n, idx)?,
            "QLinearConv" | "ConvInteger" => self.integer_conv(n, idx)?,
            "RotaryEmbedding" if n.domain.is_empty() || n.domain == "ai.onnx" => {
                self.rotary_embedding(n, idx)?
            }
            "GlobalAveragePool" | "GlobalMaxPool" => {
                let x = self.in_shape(n, 0, idx)?;
                if x.len() < 3 {
                    return Err(self.err(
                        n,
                        idx,
                        format!("global pooling needs N, C and spatial dims, got {x:?}"),
                    ));
                }
                let spatial: u64 = x[2..].iter().product();
                let mut out = x[..2].to_vec();
                out.extend(std::iter::repeat_n(1, x.len() - 2));
                let kind = if op == "GlobalMaxPool" {
                    PoolKind::Max
                } else {
                    PoolKind::Avg
                };
                self.emit(
                    n,
                    idx,
                    OpKind::Pool {
                        kind,
                        batch: x[0],
                        channels: x[1],
                        h_out: 1,
                        w_out: 1,
                        kh: spatial,
                        kw: 1,
                    },
                    &[],
                    vec![out],
                )?;
            }
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                let x = self.in_shape(n, 0, idx)?;
                let a = axis(attr_i(n, "axis", -1), x.len()).unwrap_or(0);
                let cols: u64 = x[a..].iter().product();
                let rows = numel(&x) / cols.max(1);
                self.emit(n, idx, OpKind::Softmax { rows, cols }, &[], vec![x])?;
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL2"
            | "ReduceSumSquare" | "ReduceL1" | "ReduceLogSum" | "ReduceLogSumExp" | "ArgMax"
            | "ArgMin" => self.reduce(n, idx)?,
            "Flatten" => {
                let x = self.in_shape(n, 0, idx)?;
                // axis in [-r, r]: a negative one counts from the end of the r dimensions.
                let r = x.len() as i64;
                let given = attr_i(n, "axis", 1);
                let a = if given < 0 { given + r } else { given };
                if !(0..=r).contains(&a) {
                    return Err(self.err(
                        n,
                        idx,
                        format!("axis {given} is outside [-{r}, {r}] for a rank-{r} input"),
                    ));
                }
                let a = a as usize;
                let out = vec![x[..a].iter().product(), x[a..].iter().product()];
                self.reshape_to(n, idx, out)?;
            }
            "Reshape" => {
                let x = self.in_shape(n, 0, idx)?;
                let Some(spec) = self.ints(n, 1) else {
                    let out = self.declared_full(n, 0).ok_or_else(|| self.err(n, idx, "Reshape needs a constant shape (vchip folds Shape/Gather/Concat chains) or a declared output shape".into()))?;
                    return self.reshape_to(n, idx, out);
                };
                let allow_zero = attr_i(n, "allowzero", 0) != 0;
                let mut out: Vec<i64> = spec
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        if d == 0 && !allow_zero {
                            x.get(i).map_or(0, |&v| v as i64)
                        } else {
                            d
                        }
                    })
                    .collect();
                let known: i64 = out.iter().filter(|&&d| d != -1).product();
                if let Some(p) = out.iter().position(|&d| d == -1) {
                    if known <= 0 || numel(&x) as i64 % known != 0 {
                        return Err(self.err(n, idx, format!("cannot reshape {x:?} to {spec:?}")));
                    }
                    out[p] = numel(&x) as i64 / known;
                }
                if out.iter().any(|&d| d <= 0)
                    || out.iter().map(|&d| d as u64).product::<u64>() != numel(&x)
                {
                    return Err(self.err(n, idx, format!("cannot reshape {x:?} to {spec:?}")));
                }
                let out: Vec<u64> = out.iter().map(|&d| d as u64).collect();
                self.reshape_to(n, idx, out)?;
            }
            "Squeeze" | "Unsqueeze" => {
                let x = self.in_shape(n, 0, idx)?;
                let axes = attr_ints(n, "axes").or_else(|| self.ints(n, 1));
                let axes_given = n.input.get(1).is_some_and(|s| !s.is_empty());
                if axes.is_none() && axes_given {
                    // Axes computed at run time: only a declared output shape says the result.
                    let out = self.declared_full(n, 0).ok_or_else(|| {
                        self.err(
                            n,
                            idx,
                            format!("{op} needs constant axes or a declared output shape"),
                        )
                    })?;
                    return self.reshape_to(n, idx, out);
                }
                let out = if op == "Squeeze" {
                    match axes {
                        None => x.iter().copied().filter(|&d| d != 1).collect(),
                        Some(ax) => {
                            let ax: Vec<usize> =
                                ax.iter().filter_map(|&a| axis(a, x.len())).collect();
                            x.iter()
                                .enumerate()
                                .filter(|(i, _)| !ax.contains(i))
                                .map(|(_, &d)| d)
                                .collect()
                        }
                    }
                } else {
                    let Some(ax) = axes else {
                        let out = self.declared_full(n, 0).ok_or_else(|| {
                            self.err(n, idx, "Unsqueeze needs constant axes".into())
                        })?;
                        return self.reshape_to(n, idx, out);
                    };
                    let r = x.len() + ax.len();
                    let mut ax: Vec<usize> = ax.iter().filter_map(|&a| axis(a, r)).collect();
                    ax.sort();
                    let mut out = x.clone();
                    for a in ax {
                        out.insert(a.min(out.len()), 1);
                    }
                    out
                };
                self.reshape_to(n, idx, out)?;
            }
            "Transpose" => {
                let x = self.in_shape(n, 0, idx)?;
                let perm =
                    attr_ints(n, "perm").unwrap_or_else(|| (0..x.len() as i64).rev().collect());
                // A permutation of 0..rank, as ONNX Runtime requires (no repeats, no negatives).
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if !sorted.iter().copied().eq(0..x.len() as i64) {
                    return Err(self.err(
                        n,
                        idx,
                        format!(
                            "perm {perm:?} is not a permutation of the {} axes of {x:?}",
                            x.len()
                        ),
                    ));
                }
                let perm: Vec<usize> = perm.iter().map(|&p| p as usize).collect();
                let out: Vec<u64> = perm.iter().map(|&a| x[a]).collect();
                if let Some(Val::Const {
                    ints: Some(v),
                    dtype,
                    ..
                }) = self.input(n, 0).cloned()
                {
                    let vals = movement::fold_index_map(&x, &out, &v, |_, i| i, |d| perm[d]);
                    self.set_const(n, out, dtype, vals);
                    return Ok(());
                }
                self.movement(n, idx, MoveKind::Transpose, out)?;
            }
            "Concat" => self.concat(n, idx)?,
            "Split" => self.split(n, idx)?,
            "Slice" => self.slice(n, idx)?,
            "Gather" | "GatherElements" | "GatherND" => self.gather(n, idx)?,
            "Expand" | "Tile" => {
                let x = self.in_shape(n, 0, idx)?;
                let Some(v) = self.ints(n, 1) else {
                    let out = self.declared_full(n, 0).ok_or_else(|| {
                        self.err(n, idx, format!("{op} needs a constant shape/repeats"))
                    })?;
                    return self.movement(n, idx, MoveKind::Expand, out);
                };
                let out = if op == "Expand" {
                    let s: Vec<u64> = v.iter().map(|&d| d.max(1) as u64).collect();
                    broadcast(&x, &s)
                        .ok_or_else(|| self.err(n, idx, format!("cannot expand {x:?} to {v:?}")))?
                } else {
                    // Repeats are one per axis, each at least 1 (a clamp would cost a different
                    // model than the file's).
                    if v.len() != x.len() || v.iter().any(|&r| r < 1) {
                        return Err(self.err(
                            n,
                            idx,
                            format!("repeats {v:?} must be one positive count per axis of {x:?}"),
                        ));
                    }
                    let out: Option<Vec<u64>> = x
                        .iter()
                        .zip(&v)
                        .map(|(&d, &r)| d.checked_mul(r as u64))
                        .collect();
                    out.filter(|s| sane(s)).ok_or_else(|| {
                        self.err(
                            n,
                            idx,
                            format!("tiling {x:?} by {v:?} is beyond any real tensor"),
                        )
                    })?
                };
                self.movement(n, idx, MoveKind::Expand, out)?;
            }
            "Pad" => {
                let x = self.in_shape(n, 0, idx)?;
                let Some(pads) = attr_ints(n, "pads").or_else(|| self.ints(n, 1)) else {
                    let out = self
                        .declared_full(n, 0)
                        .ok_or_else(|| self.err(n, idx, "Pad needs constant pads".into()))?;
                    return self.movement(n, idx, MoveKind::Pad, out);
                };
                let r = x.len();
                let out: Vec<u64> = (0..r)
                    .map(|i| {
                        (x[i] as i64)
                            .saturating_add(pads.get(i).copied().unwrap_or(0))
                            .saturating_add(pads.get(i + r).copied().unwrap_or(0))
                            .max(1) as u64
                    })
                    .collect();
                self.movement(n, idx, MoveKind::Pad, out)?;
            }
            "Resize" | "Upsample" => {
                let x = self.in_shape(n, 0, idx)?;
                let sizes = self.ints(n, 3);
                let scales = attr(n, "scales").map(|a| a.floats.clone());
                let scale_input = n
                    .input
                    .get(if op == "Upsample" { 1 } else { 2 })
                    .and_then(|s| self.declared_float_scales(s));
                let out: Vec<u64> = if let Some(s) = sizes.filter(|s| s.len() == x.len()) {
                    s.iter().map(|&d| d.max(1) as u64).collect()
                } else if let Some(sc) = scales.or(scale_input).filter(|s| s.len() == x.len()) {
                    x.iter()
                        .zip(sc)
                        .map(|(&d, s)| ((d as f64) * s as f64).floor().max(1.0) as u64)
                        .collect()
                } else if let Some(d) = self
                    .declared_out(n, 0)
                    .and_then(|d| d.into_iter().collect::<Option<Vec<u64>>>())
                {
                    d
                } else {
                    return Err(self.err(n, idx, "Resize needs constant sizes or scales".into()));
                };
                let elems = numel(&out);
                self.emit(
                    n,
                    idx,
                    OpKind::DataMovement {
                        kind: MoveKind::Resize,
                        elems,
                    },
                    &[],
                    vec![out],
                )?;
            }
            "ScatterND" | "ScatterElements" | "Trilu" | "CumSum" | "CumProd" => {
                let x = self.in_shape(n, 0, idx)?;
                let kind = if op == "CumSum" || op == "CumProd" {
                    OpKind::Reduce {
                        elems_in: numel(&x),
                        elems_out: numel(&x),
                    }
                } else {
                    OpKind::DataMovement {
                        kind: MoveKind::Copy,
                        elems: numel(&x),
                    }
                };
                if self.all_const(n) {
                    self.set_const(n, x, DType::Int64, None);
                } else {
                    self.emit(n, idx, kind, &[], vec![x])?;
                }
            }
            _ if elt(op).is_some() => self.eltwise(n, idx, elt(op).unwrap_or(EltOp::Other))?,
            _ => self.unknown_op(n, idx)?,
        }
        Ok(())
    }

    /// Scales given as a float initializer/constant are not kept; fall back to declared shapes.
    fn declared_float_scales(&self, _name: &str) -> Option<Vec<f32>> {
        None
    }

    fn reshape_to(&mut self, n: &NodeProto, idx: usize, out: Vec<u64>) -> Result<()> {
        if let Some(Val::Const { dtype, ints, .. }) = self.input(n, 0).cloned() {
            self.set_const(n, out, dtype, ints);
            return Ok(());
        }
        // A reshaped weight is the same weight seen with another shape (onnxruntime-genai
        // reshapes a tied int4 LM head into its embedding table): an alias, not an op.
        if let Some(Val::Param { dtype, .. }) = self.input(n, 0).cloned() {
            let name = n.input[0].clone();
            if let (Some(id), Some(o)) =
                (self.param_id(&name, TensorRole::Weight)?, n.output.first())
            {
                self.vals.insert(
                    o.clone(),
                    Val::Param {
                        shape: out,
                        dtype,
                        id: Some(id),
                    },
                );
                return Ok(());
            }
        }
        self.movement(n, idx, MoveKind::Reshape, out)
    }

    fn unknown_op(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        self.unknown.push(n.op_type.clone());
        // Best effort to keep going: declared output shapes, else the first input's shape.
        for (o, name) in n.output.iter().enumerate() {
            let shape = self
                .declared_out(n, o)
                .and_then(|d| d.into_iter().collect::<Option<Vec<u64>>>())
                .or_else(|| self.input(n, 0).map(|v| self.shape(v)))
                .unwrap_or_else(|| vec![1]);
            let dt = self.b.act_dtype;
            let id = self
                .b
                .add_tensor(name.clone(), shape, dt, TensorRole::Activation)
                .map_err(|e| self.err(n, idx, e.to_string()))?;
            self.vals.insert(name.clone(), Val::Act(id));
        }
        Ok(())
    }

    fn eltwise(&mut self, n: &NodeProto, idx: usize, e: EltOp) -> Result<()> {
        let mut out: Vec<u64> = Vec::new();
        for i in 0..n.input.len() {
            if n.input[i].is_empty() {
                continue;
            }
            if self.input(n, i).is_none() && matches!(n.op_type.as_str(), "Add" | "Mul" | "PRelu") {
                // An undeclared learned operand (dynamo export): shaped like the output sans batch.
                let declared = self
                    .declared_out(n, 0)
                    .and_then(|d| d.into_iter().collect::<Option<Vec<u64>>>());
                self.ensure_param(
                    n,
                    i,
                    |_| {
                        declared.map(|mut d| {
                            if let Some(f) = d.first_mut() {
                                *f = 1;
                            }
                            d
                        })
                    },
                    idx,
                )?;
            }
            let s = self.in_shape(n, i, idx)?;
            // Clip's min/max and similar scalar operands do not shape the output, nor does the
            // tensor CastLike takes its type from.
            if matches!(n.op_type.as_str(), "Clip" | "CastLike") && i > 0 {
                continue;
            }
            out = broadcast(&out, &s).ok_or_else(|| {
                self.err(n, idx, format!("shapes {out:?} and {s:?} do not broadcast"))
            })?;
        }
        if self.all_const(n) {
            let ints = match n.input.len() {
                1 if matches!(
                    n.op_type.as_str(),
                    "Cast" | "Neg" | "Abs" | "Not" | "Identity"
                ) =>
                {
                    self.ints(n, 0).map(|v| match n.op_type.as_str() {
                        "Neg" => v.iter().map(|x| x.saturating_neg()).collect(),
                        "Abs" => v.iter().map(|x| x.saturating_abs()).collect(),
                        "Not" => v.iter().map(|&x| (x == 0) as i64).collect(),
                        _ => v,
                    })
                }
                2 => match (self.ints(n, 0), self.ints(n, 1)) {
                    (Some(a), Some(b)) => fold_binary(&n.op_type, &a, &b),
                    _ => None,
                },
                3 if n.op_type == "Where" => {
                    match (self.ints(n, 0), self.ints(n, 1), self.ints(n, 2)) {
                        (Some(c), Some(a), Some(b))
                            if c.len() == a.len().max(b.len()).max(c.len()) =>
                        {
                            let pick = |v: &Vec<i64>, i: usize| v[if v.len() == 1 { 0 } else { i }];
                            Some(
                                (0..c.len())
                                    .map(|i| if c[i] != 0 { pick(&a, i) } else { pick(&b, i) })
                                    .collect(),
                            )
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let dt = if n.op_type == "Cast" {
                dtype_of(attr_i(n, "to", 7) as i32)
            } else {
                DType::Int64
            };
            self.set_const(n, out, dt, ints);
            return Ok(());
        }
        let elems = numel(&out);
        self.emit(n, idx, OpKind::Elementwise { op: e, elems }, &[], vec![out])
    }
}
