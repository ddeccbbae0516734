//! The operator-trace IR: tensors, ops and the graph that links them.
//!
//! Every front-end lowers into this one representation; hardware models only ever see it.
//! Counts are `u64` and computed with checked arithmetic so absurd shapes become errors, not wraps.

use serde::Serialize;
use smallvec::SmallVec;
use std::fmt;

use crate::error::WorkloadError;

/// Element types a trace can carry. Bit widths decide bytes moved and which MAC a model charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    Bf16,
    #[serde(rename = "fp8-e4m3")]
    Fp8E4M3,
    #[serde(rename = "fp8-e5m2")]
    Fp8E5M2,
    Int8,
    Int4,
    /// Integer indices (token ids, gather indices). Never a compute dtype.
    Int64,
}

impl DType {
    #[inline]
    pub fn bits(self) -> u64 {
        match self {
            DType::F32 => 32,
            DType::F16 | DType::Bf16 => 16,
            DType::Fp8E4M3 | DType::Fp8E5M2 | DType::Int8 => 8,
            DType::Int4 => 4,
            DType::Int64 => 64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
            DType::Fp8E4M3 => "fp8-e4m3",
            DType::Fp8E5M2 => "fp8-e5m2",
            DType::Int8 => "int8",
            DType::Int4 => "int4",
            DType::Int64 => "int64",
        }
    }

    /// Parses the names users type: `f32`, `fp16`, `bf16`, `fp8`, `fp8-e5m2`, `int8`/`i8`, `int4`/`i4`.
    pub fn parse(s: &str) -> Option<DType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" | "float" => DType::F32,
            "f16" | "fp16" | "float16" | "half" => DType::F16,
            "bf16" | "bfloat16" => DType::Bf16,
            "fp8" | "fp8-e4m3" | "e4m3" | "f8e4m3" => DType::Fp8E4M3,
            "fp8-e5m2" | "e5m2" | "f8e5m2" => DType::Fp8E5M2,
            "int8" | "i8" | "uint8" | "u8" => DType::Int8,
            "int4" | "i4" | "uint4" => DType::Int4,
            "int64" | "i64" | "int32" | "i32" => DType::Int64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a tensor is for; decides whether it counts as a parameter and which precision applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TensorRole {
    /// A network input (image, token ids).
    Input,
    /// An intermediate or output activation.
    Activation,
    /// A learned parameter.
    Weight,
    /// A non-learned constant (running stats, masks, rotary tables).
    Constant,
    /// Keys/values kept between decode steps.
    KvCache,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TensorId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OpId(pub u32);

#[derive(Clone, Debug, Serialize)]
pub struct Tensor {
    pub name: String,
    pub shape: Shape,
    pub dtype: DType,
    pub role: TensorRole,
}

/// Largest element count a single tensor may have (2^48 ≈ 2.8e14): beyond any real model, and far
/// enough below `u64::MAX` that bytes and MACs derived from it cannot overflow in practice.
pub const MAX_ELEMENTS: u64 = 1 << 48;

/// Most ops one trace may hold, whatever the front-end: real networks have thousands (a
/// DeepSeek-V3-sized MoE about 130,000 with both phases); beyond this a corrupt count or a typo'd
/// `repeat` would exhaust memory. Front-ends check it before they allocate, the builder as a
/// last resort.
pub const MAX_OPS: usize = 1_000_000;

impl Tensor {
    #[inline]
    pub fn numel(&self) -> u64 {
        // Shapes are validated on insertion, so this product cannot overflow.
        self.shape.iter().product()
    }

    #[inline]
    pub fn bytes(&self) -> u64 {
        (self.numel() * self.dtype.bits()).div_ceil(8)
    }
}

/// Checked product of dimensions, rejecting zero dims and counts beyond [`MAX_ELEMENTS`].
pub fn checked_numel(shape: &[u64]) -> Option<u64> {
    let mut n: u64 = 1;
    for &d in shape {
        if d == 0 {
            return None;
        }
        n = n.checked_mul(d)?;
    }
    (n <= MAX_ELEMENTS).then_some(n)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EltOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Sqrt,
    Relu,
    Relu6,
    Gelu,
    Silu,
    Sigmoid,
    HardSigmoid,
    HardSwish,
    Tanh,
    Erf,
    Exp,
    Neg,
    Cast,
    Where,
    Rope,
    Other,
}

impl EltOp {
    /// Lower-case name, as unnamed ops are called (`relu`, `hardswish`, `relu3`).
    pub fn name(self) -> &'static str {
        match self {
            EltOp::Add => "add",
            EltOp::Sub => "sub",
            EltOp::Mul => "mul",
            EltOp::Div => "div",
            EltOp::Pow => "pow",
            EltOp::Sqrt => "sqrt",
            EltOp::Relu => "relu",
            EltOp::Relu6 => "relu6",
            EltOp::Gelu => "gelu",
            EltOp::Silu => "silu",
            EltOp::Sigmoid => "sigmoid",
            EltOp::HardSigmoid => "hardsigmoid",
            EltOp::HardSwish => "hardswish",
            EltOp::Tanh => "tanh",
            EltOp::Erf => "erf",
            EltOp::Exp => "exp",
            EltOp::Neg => "neg",
            EltOp::Cast => "cast",
            EltOp::Where => "where",
            EltOp::Rope => "rope",
            EltOp::Other => "other",
        }
    }

    /// Arithmetic operations per output element; a cost-model convention (transcendentals count as
    /// a handful of ops the way vector units evaluate them with polynomials).
    pub fn flops_per_elem(self) -> u64 {
        match self {
            EltOp::Add | EltOp::Sub | EltOp::Mul | EltOp::Relu | EltOp::Neg | EltOp::Where => 1,
            EltOp::Div | EltOp::Sqrt | EltOp::Relu6 | EltOp::Cast => 2,
            EltOp::HardSigmoid | EltOp::HardSwish | EltOp::Pow => 3,
            EltOp::Rope => 6,
            EltOp::Sigmoid | EltOp::Tanh | EltOp::Exp | EltOp::Erf | EltOp::Silu => 8,
            EltOp::Gelu => 10,
            EltOp::Other => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    Batch,
    Layer,
    Rms,
    Group,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    Reshape,
    Transpose,
    Concat,
    Split,
    Slice,
    Gather,
    Pad,
    Resize,
    Expand,
    Copy,
    KvCacheWrite,
    /// Sums a tensor across the `group` GPUs of a tensor-parallel group (Megatron's all-reduce
    /// after the attention and MLP blocks); moved over the interconnect.
    AllReduce {
        group: u64,
    },
}

/// A 2-D convolution in NCHW. Output size uses standard semantics:
/// `out = floor((in + 2*pad - dil*(k-1) - 1)/stride) + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Conv2d {
    pub batch: u64,
    pub c_in: u64,
    pub h_in: u64,
    pub w_in: u64,
    pub c_out: u64,
    pub h_out: u64,
    pub w_out: u64,
    pub kh: u64,
    pub kw: u64,
    pub stride_h: u64,
    pub stride_w: u64,
    pub pad_h: u64,
    pub pad_w: u64,
    pub dil_h: u64,
    pub dil_w: u64,
    pub groups: u64,
}

/// Dimensions of one (possibly batched) matrix product `C[b] = A[b] (m×k) · B[b] (k×n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gemm {
    pub batch: u64,
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OpKind {
    Conv2d(Conv2d),
    /// Matrix product; `linear` layers are a MatMul with a weight operand.
    MatMul(Gemm),
    /// Scaled dot-product attention core (QKᵀ, softmax, ·V); projections are separate MatMuls.
    Attention {
        batch: u64,
        heads: u64,
        kv_heads: u64,
        q_len: u64,
        kv_len: u64,
        head_dim: u64,
        causal: bool,
    },
    Elementwise {
        op: EltOp,
        elems: u64,
    },
    Pool {
        kind: PoolKind,
        batch: u64,
        channels: u64,
        h_out: u64,
        w_out: u64,
        kh: u64,
        kw: u64,
    },
    Norm {
        kind: NormKind,
        elems: u64,
    },
    Softmax {
        rows: u64,
        cols: u64,
    },
    Reduce {
        elems_in: u64,
        elems_out: u64,
    },
    /// Embedding lookup / gather of `rows` rows of width `dim` from a table.
    Embedding {
        rows: u64,
        dim: u64,
    },
    DataMovement {
        kind: MoveKind,
        elems: u64,
    },
}

impl OpKind {
    /// Multiply-accumulates. Attention counts QKᵀ and ·V; everything else that is not a product is 0.
    pub fn macs(&self) -> Result<u64, WorkloadError> {
        let m = |v: &[u64]| checked_product(v);
        match *self {
            OpKind::Conv2d(c) => m(&[
                c.batch,
                c.c_out,
                c.h_out,
                c.w_out,
                c.c_in / c.groups,
                c.kh,
                c.kw,
            ]),
            OpKind::MatMul(g) => m(&[g.batch, g.m, g.n, g.k]),
            OpKind::Attention {
                batch,
                heads,
                q_len,
                kv_len,
                head_dim,
                ..
            } => m(&[2, batch, heads, q_len, kv_len, head_dim]),
            _ => Ok(0),
        }
    }

    /// Floating-point (or integer) operations: 2 per MAC plus the arithmetic of non-product ops.
    pub fn flops(&self) -> Result<u64, WorkloadError> {
        let macs2 = checked_product(&[self.macs()?, 2])?;
        let extra = match *self {
            OpKind::Attention {
                batch,
                heads,
                q_len,
                kv_len,
                ..
            } => checked_product(&[batch, heads, q_len, kv_len, 5])?, // scale + softmax
            OpKind::Elementwise { op, elems } => checked_product(&[elems, op.flops_per_elem()])?,
            OpKind::Pool {
                batch,
                channels,
                h_out,
                w_out,
                kh,
                kw,
                ..
            } => checked_product(&[batch, channels, h_out, w_out, kh, kw])?,
            OpKind::Norm { kind, elems } => {
                let per = if kind == NormKind::Batch { 2 } else { 7 };
                checked_product(&[elems, per])?
            }
            OpKind::Softmax { rows, cols } => checked_product(&[rows, cols, 5])?,
            OpKind::Reduce { elems_in, .. } => elems_in,
            _ => 0,
        };
        macs2
            .checked_add(extra)
            .ok_or_else(|| WorkloadError::Overflow {
                what: "FLOP count".into(),
            })
    }

    /// The GEMM(s) this op lowers to on a matrix engine: `(gemm, repeats)`. Grouped convolutions
    /// become `groups` independent GEMMs; attention becomes its two batched products.
    pub fn gemms(&self) -> SmallVec<[(Gemm, u64); 2]> {
        match *self {
            OpKind::Conv2d(c) => smallvec::smallvec![(
                Gemm {
                    batch: 1,
                    m: c.batch * c.h_out * c.w_out,
                    n: c.c_out / c.groups,
                    k: c.kh * c.kw * (c.c_in / c.groups),
                },
                c.groups,
            )],
            OpKind::MatMul(g) => smallvec::smallvec![(Gemm { batch: 1, ..g }, g.batch)],
            OpKind::Attention {
                batch,
                heads,
                q_len,
                kv_len,
                head_dim,
                ..
            } => smallvec::smallvec![
                (
                    Gemm {
                        batch: 1,
                        m: q_len,
                        n: kv_len,
                        k: head_dim,
                    },
                    batch * heads,
                ),
                (
                    Gemm {
                        batch: 1,
                        m: q_len,
                        n: head_dim,
                        k: kv_len,
                    },
                    batch * heads,
                ),
            ],
            _ => SmallVec::new(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            OpKind::Conv2d(c) if c.groups > 1 && c.groups == c.c_in => "dwconv2d",
            OpKind::Conv2d(_) => "conv2d",
            OpKind::MatMul(_) => "matmul",
            OpKind::Attention { .. } => "attention",
            OpKind::Elementwise { .. } => "elementwise",
            OpKind::Pool { .. } => "pool",
            OpKind::Norm { .. } => "norm",
            OpKind::Softmax { .. } => "softmax",
            OpKind::Reduce { .. } => "reduce",
            OpKind::Embedding { .. } => "embedding",
            OpKind::DataMovement { .. } => "data_movement",
        }
    }

    /// A short description of the operation's detail for tables (e.g. `relu`, `3x3/2`).
    pub fn detail(&self) -> String {
        match *self {
            OpKind::Conv2d(c) => {
                let mut s = format!("{}x{}/{}", c.kh, c.kw, c.stride_h);
                if c.groups > 1 {
                    s.push_str(&format!(" g{}", c.groups));
                }
                s
            }
            OpKind::MatMul(g) if g.batch > 1 => format!("{}x{}x{} b{}", g.m, g.n, g.k, g.batch),
            OpKind::MatMul(g) => format!("{}x{}x{}", g.m, g.n, g.k),
            OpKind::Attention {
                heads,
                kv_heads,
                q_len,
                kv_len,
                ..
            } => format!("h{heads}/kv{kv_heads} q{q_len} kv{kv_len}"),
            OpKind::Elementwise { op, .. } => format!("{op:?}").to_lowercase(),
            OpKind::Pool { kind, kh, kw, .. } => format!("{kind:?} {kh}x{kw}").to_lowercase(),
            OpKind::Norm { kind, .. } => format!("{kind:?}").to_lowercase(),
            OpKind::DataMovement {
                kind: MoveKind::AllReduce { group },
                ..
            } => format!("all-reduce x{group}"),
            OpKind::DataMovement { kind, .. } => format!("{kind:?}").to_lowercase(),
            _ => String::new(),
        }
    }
}

pub(crate) fn checked_product(v: &[u64]) -> Result<u64, WorkloadError> {
    v.iter()
        .try_fold(1u64, |acc, &x| acc.checked_mul(x))
        // Built only on overflow: formatting the factors on every call cost a fifth of tracing.
        .ok_or_else(|| WorkloadError::Overflow {
            what: format!("product of {v:?}"),
        })
}

/// Which phase of LLM inference an op belongs to; `None` for non-LLM networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    None,
    Prefill,
    Decode,
}

/// A tensor's dimensions: inline up to four (NCHW), so most tensors carry no second allocation.
pub type Shape = SmallVec<[u64; 4]>;

/// An op's operand list: inline up to four ids (the same size as a `Vec`), so the common op
/// allocates nothing for them.
pub type TensorIds = SmallVec<[TensorId; 4]>;

#[derive(Clone, Debug, Serialize)]
pub struct Op {
    /// Hierarchical name, dot-separated (`layer1.0.conv1`).
    pub name: String,
    pub kind: OpKind,
    /// Activation operands (including KV cache reads).
    pub inputs: TensorIds,
    /// Learned parameters and constants.
    pub weights: TensorIds,
    pub outputs: TensorIds,
    pub phase: Phase,
    pub macs: u64,
    pub flops: u64,
    /// Compute precision: the activation dtype of the op (weights may be narrower, e.g. w4a16).
    pub dtype: DType,
}

/// A whole network as a DAG of ops over tensors. Edges are implied by tensor producers/consumers.
#[derive(Clone, Debug, Serialize)]
pub struct Trace {
    pub name: String,
    pub tensors: Vec<Tensor>,
    pub ops: Vec<Op>,
}

/// Aggregate figures of a trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub ops: u64,
    pub macs: u64,
    pub flops: u64,
    /// Learned parameters of the whole model (every weight tensor, read or not).
    pub params: u64,
    /// Parameters the traced ops actually read (differs for MoE: untouched experts are not read).
    pub active_params: u64,
    pub weight_bytes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

impl Trace {
    #[inline]
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0 as usize]
    }

    /// Bytes of distinct tensors an op reads (activations + weights).
    pub fn op_bytes_read(&self, op: &Op) -> u64 {
        op.inputs
            .iter()
            .chain(&op.weights)
            .map(|&t| self.tensor(t).bytes())
            .fold(0u64, u64::saturating_add)
    }

    pub fn op_weight_bytes(&self, op: &Op) -> u64 {
        op.weights
            .iter()
            .map(|&t| self.tensor(t).bytes())
            .fold(0u64, u64::saturating_add)
    }

    pub fn op_activation_bytes_read(&self, op: &Op) -> u64 {
        op.inputs
            .iter()
            .map(|&t| self.tensor(t).bytes())
            .fold(0u64, u64::saturating_add)
    }

    pub fn op_bytes_written(&self, op: &Op) -> u64 {
        op.outputs
            .iter()
            .map(|&t| self.tensor(t).bytes())
            .fold(0u64, u64::saturating_add)
    }

    /// Learned parameters an op owns (weights, not constants).
    pub fn op_params(&self, op: &Op) -> u64 {
        op.weights
            .iter()
            .map(|&t| self.tensor(t))
            .filter(|t| t.role == TensorRole::Weight)
            .map(Tensor::numel)
            .fold(0u64, u64::saturating_add)
    }

    /// The op producing each tensor, indexed by tensor id.
    pub fn producers(&self) -> Vec<Option<OpId>> {
        let mut p = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            for &t in &op.outputs {
                p[t.0 as usize] = Some(OpId(i as u32));
            }
        }
        p
    }

    /// Producer → consumer edges `(from, to, tensor)`, in op order.
    pub fn edges(&self) -> Vec<(OpId, OpId, TensorId)> {
        let producers = self.producers();
        let mut e = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            for &t in &op.inputs {
                if let Some(p) = producers[t.0 as usize] {
                    e.push((p, OpId(i as u32), t));
                }
            }
        }
        e
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        // A weight shared by several ops (tied embeddings) counts once.
        let mut seen = vec![false; self.tensors.len()];
        for op in &self.ops {
            t.ops += 1;
            t.macs = t.macs.saturating_add(op.macs);
            t.flops = t.flops.saturating_add(op.flops);
            t.bytes_read = t.bytes_read.saturating_add(self.op_bytes_read(op));
            t.bytes_written = t.bytes_written.saturating_add(self.op_bytes_written(op));
            for &w in &op.weights {
                let tensor = self.tensor(w);
                if !seen[w.0 as usize] && tensor.role == TensorRole::Weight {
                    seen[w.0 as usize] = true;
                    t.active_params = t.active_params.saturating_add(tensor.numel());
                }
            }
        }
        for tensor in self.tensors.iter().filter(|t| t.role == TensorRole::Weight) {
            t.params = t.params.saturating_add(tensor.numel());
            t.weight_bytes = t.weight_bytes.saturating_add(tensor.bytes());
        }
        t
    }
}
