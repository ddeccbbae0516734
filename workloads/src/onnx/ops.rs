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
mod indexing;
mod loss;
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
    fn param_id(&mut self, name: &str, role: TensorRole) -> Result<Option<TensorId>> {
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
    fn operands(
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
        let name = self.op_name(n, idx);
        let ids = self
            .b
            .push_op(name, kind, acts, weights, outs)
            .map_err(|e| self.err(n, idx, e.to_string()))?;
        for (o, id) in n.output.iter().zip(ids) {
            if !o.is_empty() {
                self.vals.insert(o.clone(), Val::Act(id));
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
                let out: Option<Vec<u64>> = perm
                    .iter()
                    .map(|&p| axis(p, x.len()).map(|a| x[a]))
                    .collect();
                let out = out.ok_or_else(|| {
                    self.err(n, idx, format!("bad perm {perm:?} for rank {}", x.len()))
                })?;
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

    fn conv(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let x4: Vec<u64> = match x.len() {
            4 => x.clone(),
            3 => vec![x[0], x[1], 1, x[2]],
            _ => {
                return Err(self.err(
                    n,
                    idx,
                    format!("only 1-D and 2-D convolutions are supported, input {x:?}"),
                ))
            }
        };
        let group = u64::try_from(attr_i(n, "group", 1))
            .ok()
            .filter(|g| *g >= 1)
            .ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    format!(
                        "attribute `group` is {}; it must be at least 1",
                        attr_i(n, "group", 1)
                    ),
                )
            })?;
        let ks = attr_ints(n, "kernel_shape");
        let declared = self.declared_out(n, 0);
        self.ensure_param(
            n,
            1,
            |_| {
                let m = declared.as_ref()?.get(1).copied().flatten()?;
                let mut s = vec![m, x4[1] / group];
                s.extend(ks.as_ref()?.iter().map(|&k| k.clamp(0, 1 << 20) as u64));
                Some(s)
            },
            idx,
        )?;
        let w = self.in_shape(n, 1, idx)?;
        if w.len() < 3 || w.contains(&0) {
            return Err(self.err(
                n,
                idx,
                format!("weight shape {w:?} is not [out, in/group, k...]"),
            ));
        }
        let m = w[0];
        // Each output channel sees in/group input channels: a weight that says otherwise does
        // not belong to this input.
        if x4[1].checked_div(group) != Some(w[1]) {
            return Err(self.err(
                n,
                idx,
                format!(
                    "weight shape {w:?} takes {} input channels per group, but the input {x:?} has {} channels in {group} group(s)",
                    w[1], x4[1]
                ),
            ));
        }
        self.ensure_param(n, 2, |_| Some(vec![m]), idx)?;
        let (kh, kw) = if w.len() == 4 {
            (w[2], w[3])
        } else {
            (1, w[2])
        };
        // Attributes must be small positive integers; anything else is a malformed file.
        let pos = |v: Option<Vec<i64>>, d: i64| -> Option<Vec<u64>> {
            let v = v.unwrap_or_else(|| vec![d, d]);
            v.iter()
                .map(|&x| u64::try_from(x).ok().filter(|x| *x <= 1 << 20))
                .collect()
        };
        let bad_attr = |what: &str| {
            self.err(n, idx, format!("attribute `{what}` must hold small non-negative integers (strides and dilations positive)"))
        };
        let strides = pos(attr_ints(n, "strides"), 1)
            .filter(|v| !v.is_empty() && !v.contains(&0))
            .ok_or_else(|| bad_attr("strides"))?;
        let dils = pos(attr_ints(n, "dilations"), 1)
            .filter(|v| !v.is_empty() && !v.contains(&0))
            .ok_or_else(|| bad_attr("dilations"))?;
        let pads = pos(attr_ints(n, "pads"), 0).ok_or_else(|| bad_attr("pads"))?;
        let one_d = x.len() == 3;
        let pick = |v: &[u64], i2: usize, i1: usize, d: u64| {
            if one_d {
                v.get(i1).copied().unwrap_or(d)
            } else {
                v.get(i2).copied().unwrap_or(d)
            }
        };
        let (sh, sw) = if one_d {
            (1, pick(&strides, 0, 0, 1))
        } else {
            (pick(&strides, 0, 0, 1), pick(&strides, 1, 0, 1))
        };
        let (dh, dw) = if one_d {
            (1, pick(&dils, 0, 0, 1))
        } else {
            (pick(&dils, 0, 0, 1), pick(&dils, 1, 0, 1))
        };
        let (pt, pl, pb, pr) = match (one_d, pads.as_slice()) {
            (false, [t, l, b, r]) => (*t, *l, *b, *r),
            (true, [l, r]) => (0, *l, 0, *r),
            _ => (0, 0, 0, 0),
        };
        let auto = attr_s(n, "auto_pad");
        let out_dim = |i: u64, p: u64, k: u64, d: u64, s: u64| -> Option<u64> {
            let span = d.checked_mul(k - 1)?.checked_add(1)?;
            Some(i.checked_add(p)?.checked_sub(span)? / s + 1)
        };
        let (ho, wo) = if auto.starts_with("SAME") {
            (x4[2].div_ceil(sh), x4[3].div_ceil(sw))
        } else {
            match (
                out_dim(x4[2], pt + pb, kh, dh, sh),
                out_dim(x4[3], pl + pr, kw, dw, sw),
            ) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(self.err(
                        n,
                        idx,
                        format!("kernel {kh}x{kw} does not fit input {x:?}"),
                    ))
                }
            }
        };
        if !x4[1].is_multiple_of(group) || !m.is_multiple_of(group) {
            return Err(self.err(
                n,
                idx,
                format!("group {group} must divide channels {} and {m}", x4[1]),
            ));
        }
        let kind = OpKind::Conv2d(Conv2d {
            batch: x4[0],
            c_in: x4[1],
            h_in: x4[2],
            w_in: x4[3],
            c_out: m,
            h_out: ho,
            w_out: wo,
            kh,
            kw,
            stride_h: sh,
            stride_w: sw,
            pad_h: (pt + pb) / 2,
            pad_w: (pl + pr) / 2,
            dil_h: dh,
            dil_w: dw,
            groups: group,
        });
        let out = if one_d {
            vec![x[0], m, wo]
        } else {
            vec![x[0], m, ho, wo]
        };
        self.emit(n, idx, kind, &[], vec![out])
    }

    fn gemm(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let a = self.in_shape(n, 0, idx)?;
        let (ta, tb) = (attr_i(n, "transA", 0) != 0, attr_i(n, "transB", 0) != 0);
        if a.len() != 2 {
            return Err(self.err(n, idx, format!("Gemm input A must be 2-D, got {a:?}")));
        }
        let (m, k) = if ta { (a[1], a[0]) } else { (a[0], a[1]) };
        let declared_n = self
            .declared_out(n, 0)
            .and_then(|d| d.get(1).copied().flatten());
        self.ensure_param(
            n,
            1,
            |_| declared_n.map(|nn| if tb { vec![nn, k] } else { vec![k, nn] }),
            idx,
        )?;
        let b = self.in_shape(n, 1, idx)?;
        if b.len() != 2 {
            return Err(self.err(n, idx, format!("Gemm input B must be 2-D, got {b:?}")));
        }
        let (kb, nn) = if tb { (b[1], b[0]) } else { (b[0], b[1]) };
        if kb != k {
            return Err(self.err(n, idx, format!("inner dimensions differ: A {a:?}, B {b:?}")));
        }
        self.ensure_param(n, 2, |_| Some(vec![nn]), idx)?;
        self.emit(
            n,
            idx,
            OpKind::MatMul(Gemm {
                batch: 1,
                m,
                n: nn,
                k,
            }),
            &[],
            vec![vec![m, nn]],
        )
    }

    fn matmul(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let a = self.in_shape(n, 0, idx)?;
        let declared = self.declared_out(n, 0);
        let k = *a.last().unwrap_or(&1);
        self.ensure_param(
            n,
            1,
            |_| {
                declared
                    .as_ref()?
                    .last()
                    .copied()
                    .flatten()
                    .map(|nn| vec![k, nn])
            },
            idx,
        )?;
        let b = self.in_shape(n, 1, idx)?;
        let (kind, out) = matmul_shape(&a, &b)
            .ok_or_else(|| self.err(n, idx, format!("cannot multiply {a:?} by {b:?}")))?;
        self.emit(n, idx, kind, &[], vec![out])
    }

    fn einsum(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let eq = attr_s(n, "equation").replace(' ', "");
        let (lhs, rhs) = eq.split_once("->").ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("Einsum `{eq}` needs an explicit `->` output"),
            )
        })?;
        let terms: Vec<&str> = lhs.split(',').collect();
        if terms.len() == 1 && !eq.contains('.') {
            return self.einsum_unary(n, idx, terms[0], rhs);
        }
        if terms.len() != 2 || eq.contains('.') {
            return Err(self.err(
                n,
                idx,
                format!("only two-operand Einsum without ellipsis is supported, got `{eq}`"),
            ));
        }
        let (sa, sb) = (self.in_shape(n, 0, idx)?, self.in_shape(n, 1, idx)?);
        let mut size = std::collections::BTreeMap::new();
        for (t, s) in [(terms[0], &sa), (terms[1], &sb)] {
            if t.len() != s.len() {
                return Err(self.err(n, idx, format!("`{t}` does not match shape {s:?}")));
            }
            for (c, &d) in t.chars().zip(s.iter()) {
                size.insert(c, d);
            }
        }
        let prod = |f: &dyn Fn(char) -> bool| {
            size.iter()
                .filter(|(c, _)| f(**c))
                .map(|(_, &d)| d)
                .product::<u64>()
        };
        let (ta, tb) = (terms[0], terms[1]);
        let batch = prod(&|c| ta.contains(c) && tb.contains(c) && rhs.contains(c));
        let m = prod(&|c| ta.contains(c) && !tb.contains(c) && rhs.contains(c));
        let nn = prod(&|c| tb.contains(c) && !ta.contains(c) && rhs.contains(c));
        let k = prod(&|c| ta.contains(c) && tb.contains(c) && !rhs.contains(c));
        let out: Option<Vec<u64>> = rhs.chars().map(|c| size.get(&c).copied()).collect();
        let out = out
            .ok_or_else(|| self.err(n, idx, format!("output of `{eq}` names an unknown index")))?;
        self.emit(
            n,
            idx,
            OpKind::MatMul(Gemm { batch, m, n: nn, k }),
            &[],
            vec![out],
        )
    }

    /// 1-, 2- and 3-D pooling: each spatial axis by ONNX's rule (`pool_out`); the cost record
    /// folds the leading spatial axes into its height so every rank is costed by its windows.
    fn pool(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        if !(3..=5).contains(&x.len()) {
            return Err(self.err(
                n,
                idx,
                format!("pooling needs N, C and 1 to 3 spatial dims, input {x:?}"),
            ));
        }
        let nd = x.len() - 2;
        // Window attributes are clamped to sane ranges; a kernel larger than the input is an error below.
        let small = |v: i64| v.clamp(1, 1 << 20) as u64;
        let per_axis = |name: &str, default: i64| -> Vec<u64> {
            let v = attr_ints(n, name)
                .filter(|v| !v.is_empty())
                .unwrap_or_default();
            (0..nd)
                .map(|i| small(v.get(i).or(v.first()).copied().unwrap_or(default)))
                .collect()
        };
        let (ks, st, dil) = (
            per_axis("kernel_shape", 1),
            per_axis("strides", 1),
            per_axis("dilations", 1),
        );
        let pads = attr_ints(n, "pads").unwrap_or_default();
        let p = |i: usize| pads.get(i).copied().unwrap_or(0).clamp(0, 1 << 20) as u64;
        let ceil = attr_i(n, "ceil_mode", 0) != 0;
        let same = attr_s(n, "auto_pad").starts_with("SAME");
        let spatial: Option<Vec<u64>> = (0..nd)
            .map(|i| {
                if same {
                    Some(x[2 + i].div_ceil(st[i]))
                } else {
                    pool_out(x[2 + i], ks[i], st[i], p(i), p(i + nd), dil[i], ceil)
                }
            })
            .collect();
        let Some(spatial) = spatial else {
            return Err(self.err(n, idx, format!("window {ks:?} does not fit input {x:?}")));
        };
        let kind = if n.op_type == "MaxPool" {
            PoolKind::Max
        } else {
            PoolKind::Avg
        };
        let mut out = x[..2].to_vec();
        out.extend(&spatial);
        self.emit(
            n,
            idx,
            OpKind::Pool {
                kind,
                batch: x[0],
                channels: x[1],
                h_out: spatial[..nd - 1].iter().product(),
                w_out: spatial[nd - 1],
                kh: ks[..nd - 1].iter().product(),
                kw: ks[nd - 1],
            },
            &[],
            // MaxPool's optional indices have the output's shape.
            vec![out; n.output.len().clamp(1, 2)],
        )
    }

    fn reduce(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let keep = attr_i(n, "keepdims", 1) != 0;
        let unknown_axes = n.input.len() > 1
            && !n.input[1].is_empty()
            && self.ints(n, 1).is_none()
            && attr(n, "axes").is_none();
        if unknown_axes {
            // Axes computed at run time: only a declared output shape says what is reduced.
            let out = self.declared_full(n, 0).ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    format!(
                        "{} needs constant axes (vchip folds Shape/Gather/Concat chains) or a declared output shape",
                        n.op_type
                    ),
                )
            })?;
            return self.emit(
                n,
                idx,
                OpKind::Reduce {
                    elems_in: numel(&x),
                    elems_out: numel(&out),
                },
                &[],
                vec![out],
            );
        }
        let axes: Vec<usize> = if n.op_type.starts_with("Arg") {
            vec![axis(attr_i(n, "axis", 0), x.len()).unwrap_or(0)]
        } else {
            match attr_ints(n, "axes").or_else(|| self.ints(n, 1)) {
                Some(a) if !a.is_empty() => a.iter().filter_map(|&a| axis(a, x.len())).collect(),
                _ if attr_i(n, "noop_with_empty_axes", 0) != 0 => vec![],
                _ => (0..x.len()).collect(),
            }
        };
        let out: Vec<u64> = x
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| {
                if axes.contains(&i) {
                    keep.then_some(1)
                } else {
                    Some(d)
                }
            })
            .collect();
        if self.all_const(n) {
            // A reduction keeps its input's type; ArgMax/ArgMin give indices.
            let dt = match self.input(n, 0) {
                Some(Val::Const { dtype, .. }) if !n.op_type.starts_with("Arg") => *dtype,
                _ => DType::Int64,
            };
            self.set_const(n, out, dt, None);
            return Ok(());
        }
        let out = if out.is_empty() { vec![1] } else { out };
        self.emit(
            n,
            idx,
            OpKind::Reduce {
                elems_in: numel(&x),
                elems_out: numel(&out),
            },
            &[],
            vec![out],
        )
    }

    fn concat(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        self.infer_missing_concat_operand(n);
        let first = self.in_shape(n, 0, idx)?;
        let a = axis(attr_i(n, "axis", 0), first.len())
            .ok_or_else(|| self.err(n, idx, "bad axis".into()))?;
        let mut out = first.clone();
        out[a] = 0;
        let mut ints = Some(Vec::new());
        for i in 0..n.input.len() {
            let s = self.in_shape(n, i, idx)?;
            if s.len() != first.len() || s.iter().enumerate().any(|(j, &d)| j != a && d != first[j])
            {
                return Err(self.err(
                    n,
                    idx,
                    format!("cannot concatenate {first:?} and {s:?} on axis {a}"),
                ));
            }
            out[a] += s[a];
            ints = match (ints, self.ints(n, i)) {
                (Some(mut acc), Some(v)) => {
                    acc.extend(v);
                    Some(acc)
                }
                _ => None,
            };
        }
        if self.all_const(n) {
            self.set_const(n, out, DType::Int64, ints);
            return Ok(());
        }
        self.movement(n, idx, MoveKind::Concat, out)
    }

    /// A concat operand the exporter folded into a dropped initializer (ViT's expanded class
    /// token): its shape is the declared output minus the other operands along the axis, and it
    /// carries learned data, so it is a parameter.
    fn infer_missing_concat_operand(&mut self, n: &NodeProto) {
        let unknown = |v: Option<&Val>| matches!(v, Some(Val::Const { shape, ints: None, .. }) if shape.is_empty());
        let missing: Vec<usize> = (0..n.input.len())
            .filter(|&i| unknown(self.input(n, i)))
            .collect();
        let (Some(out), [m]) = (self.declared_full(n, 0), missing.as_slice()) else {
            return;
        };
        let Some(a) = axis(attr_i(n, "axis", 0), out.len()) else {
            return;
        };
        let others: u64 = (0..n.input.len())
            .filter(|i| i != m)
            .filter_map(|i| {
                self.input(n, i)
                    .map(|v| self.shape(v))
                    .and_then(|s| s.get(a).copied())
            })
            .sum();
        if let Some(rest) = out[a].checked_sub(others).filter(|r| *r > 0) {
            let mut shape = out.clone();
            shape[a] = rest;
            self.vals.insert(
                n.input[*m].clone(),
                Val::Param {
                    shape,
                    dtype: DType::F32,
                    id: None,
                },
            );
        }
    }

    fn split(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let a = axis(attr_i(n, "axis", 0), x.len())
            .ok_or_else(|| self.err(n, idx, "bad axis".into()))?;
        let parts = n.output.len().max(1) as u64;
        let declared: Option<Vec<u64>> = (0..n.output.len())
            .map(|o| self.declared_full(n, o).and_then(|d| d.get(a).copied()))
            .collect();
        let sizes: Vec<u64> = match attr_ints(n, "split").or_else(|| self.ints(n, 1)) {
            Some(s) => {
                // Sizes are non-negative and add up to the axis (zero-sized parts are allowed).
                if s.iter().any(|&v| v < 0) || s.iter().map(|&v| v as u64).sum::<u64>() != x[a] {
                    return Err(self.err(
                        n,
                        idx,
                        format!("split sizes {s:?} do not add up to dimension {a} of {x:?}"),
                    ));
                }
                s.iter().map(|&v| v as u64).collect()
            }
            None if n.input.len() > 1 && declared.is_some() => declared.unwrap_or_default(),
            None => {
                let each = x[a].div_ceil(parts);
                (0..parts)
                    .map(|i| each.min(x[a].saturating_sub(i * each)))
                    .collect()
            }
        };
        if sizes.len() != n.output.len() {
            return Err(self.err(
                n,
                idx,
                format!("{} split sizes for {} outputs", sizes.len(), n.output.len()),
            ));
        }
        let outs: Vec<Vec<u64>> = sizes
            .iter()
            .map(|&s| {
                let mut o = x.clone();
                o[a] = s;
                o
            })
            .collect();
        self.emit(
            n,
            idx,
            OpKind::DataMovement {
                kind: MoveKind::Split,
                elems: numel(&x),
            },
            &[],
            outs,
        )
    }

    fn slice(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let (starts, ends, axes, steps) = if n.input.len() > 1 {
            (
                self.ints(n, 1),
                self.ints(n, 2),
                self.ints(n, 3),
                self.ints(n, 4),
            )
        } else {
            (
                attr_ints(n, "starts"),
                attr_ints(n, "ends"),
                attr_ints(n, "axes"),
                None,
            )
        };
        let (Some(starts), Some(ends)) = (starts, ends) else {
            let out = self
                .declared_full(n, 0)
                .ok_or_else(|| self.err(n, idx, "Slice needs constant starts and ends".into()))?;
            return self.movement(n, idx, MoveKind::Slice, out);
        };
        let axes: Vec<i64> = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            return Err(self.err(
                n,
                idx,
                format!(
                    "Slice needs as many ends, axes and steps as starts (starts {}, ends {}, axes {}, steps {})",
                    starts.len(),
                    ends.len(),
                    axes.len(),
                    steps.len()
                ),
            ));
        }
        let mut out = x.clone();
        let mut ranges: Vec<(usize, i64, i64, i64)> = Vec::new();
        for i in 0..starts.len() {
            let ax = axis(axes[i], x.len()).ok_or_else(|| self.err(n, idx, "bad axis".into()))?;
            let d = x[ax] as i64;
            let step = steps.get(i).copied().unwrap_or(1);
            if step == 0 {
                return Err(self.err(n, idx, "Slice step 0".into()));
            }
            let clamp = |v: i64, lo: i64, hi: i64| v.clamp(lo, hi);
            let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
            let (s, e) = if step > 0 {
                (clamp(norm(starts[i]), 0, d), clamp(norm(ends[i]), 0, d))
            } else {
                (
                    clamp(norm(starts[i]), -1, d - 1),
                    clamp(norm(ends[i]), -1, d - 1),
                )
            };
            let (s128, e128, st128) = (s as i128, e as i128, step as i128);
            let len = if step > 0 {
                (e128 - s128 + st128 - 1).div_euclid(st128)
            } else {
                (s128 - e128 - st128 - 1).div_euclid(-st128)
            };
            out[ax] = len.clamp(0, d as i128) as u64;
            ranges.push((ax, s, e, step));
        }
        if let Some(Val::Const { ints: Some(v), .. }) = self.input(n, 0).cloned() {
            if x.len() == 1 && ranges.len() == 1 && self.all_const(n) {
                let (_, s, _, step) = ranges[0];
                let vals: Option<Vec<i64>> = (0..out[0] as i64)
                    .map(|i| {
                        v.get(s.saturating_add(i.saturating_mul(step)) as usize)
                            .copied()
                    })
                    .collect();
                self.set_const(n, out, DType::Int64, vals);
                return Ok(());
            }
        }
        if out.contains(&0) {
            return Err(self.err(n, idx, format!("slice of {x:?} is empty")));
        }
        self.movement(n, idx, MoveKind::Slice, out)
    }

    fn gather(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let data = self.in_shape(n, 0, idx)?;
        let ind = self.in_shape(n, 1, idx)?;
        if n.op_type == "GatherND" {
            // indices.shape[:-1] + data.shape[batch_dims + indices.shape[-1]:] (ONNX GatherND).
            let b = attr_i(n, "batch_dims", 0).max(0) as usize;
            let last = ind.last().copied().unwrap_or(0) as usize;
            if ind.is_empty() || b + last > data.len() || b >= ind.len() {
                return Err(self.err(
                    n,
                    idx,
                    format!("indices {ind:?} with batch_dims {b} do not index data {data:?}"),
                ));
            }
            let mut out = ind[..ind.len() - 1].to_vec();
            out.extend(&data[b + last..]);
            let out = if out.is_empty() { vec![1] } else { out };
            return self.movement(n, idx, MoveKind::Gather, out);
        }
        if n.op_type != "Gather" {
            return self.movement(n, idx, MoveKind::Gather, ind);
        }
        let a = axis(attr_i(n, "axis", 0), data.len())
            .ok_or_else(|| self.err(n, idx, "bad axis".into()))?;
        let mut out = data[..a].to_vec();
        out.extend(&ind);
        out.extend(&data[a + 1..]);
        if let (Some(Val::Const { ints: Some(v), .. }), Some(iv)) =
            (self.input(n, 0).cloned(), self.ints(n, 1))
        {
            if data.len() == 1 {
                let d = v.len() as i64;
                let vals: Option<Vec<i64>> = iv
                    .iter()
                    .map(|&i| v.get(if i < 0 { i + d } else { i } as usize).copied())
                    .collect();
                self.set_const(n, out, DType::Int64, vals);
                return Ok(());
            }
        }
        if self.all_const(n) {
            self.set_const(n, out, DType::Int64, None);
            return Ok(());
        }
        // Gathering rows of a parameter table is an embedding lookup.
        if matches!(self.input(n, 0), Some(Val::Param { .. })) && a == 0 {
            let rows = numel(&ind);
            let dim: u64 = data[1..].iter().product();
            let out = if out.is_empty() { vec![1] } else { out };
            return self.emit(n, idx, OpKind::Embedding { rows, dim }, &[], vec![out]);
        }
        let out = if out.is_empty() { vec![1] } else { out };
        self.movement(n, idx, MoveKind::Gather, out)
    }
}
