//! Builds a [`Trace`] op by op with shape inference. All front-ends and the zoo go through this,
//! so shape rules and cost formulas live in one place.

use crate::error::{Result, WorkloadError};
use crate::ir::*;

pub struct TraceBuilder {
    trace: Trace,
    /// The current scope path, dot-joined (kept whole: every name starts with it).
    prefix: String,
    /// `prefix`'s length before each open scope.
    scope: Vec<usize>,
    auto_names: std::collections::HashMap<String, u32, foldhash::fast::FixedState>,
    /// Scratch for `auto_names` lookups.
    auto_key: String,
    /// Activation dtype of new tensors.
    pub act_dtype: DType,
    /// Dtype of new weight tensors.
    pub weight_dtype: DType,
    pub phase: Phase,
    /// Bytes of op and tensor names so far (see `MAX_NAME_BYTES_TOTAL`).
    name_bytes: usize,
    /// Whether ops and tensors get names (see [`Unnamed`]).
    names: bool,
    /// Whether [`Self::conv2d_bn`] folds its BatchNorm now (see [`Unnamed::folding`]).
    prefold_batchnorm: bool,
}

thread_local! {
    static NAMED: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    static PREFOLD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While one lives, builders created on this thread give ops and tensors empty names (the trace
/// keeps its own): a NAS query that reads totals skips building a thousand small strings, and
/// every cost is the same (no pass or model reads a name but to report it). Dropping it restores
/// naming, a panic included.
pub struct Unnamed {
    before: bool,
    prefold_before: bool,
}

impl Unnamed {
    /// Starts unnamed building; with `batchnorm`, for a graph the BatchNorm fold pass will run on
    /// (`graph::Pass::FoldBatchnorm`), [`TraceBuilder::conv2d_bn`] also does that fold as it builds
    /// (the product takes the norm's shift and output; the norm and its folded-away parameters are
    /// never made): an OFA-MBv3 query's trace then has 322 tensors and 170 ops instead of 530 and
    /// 222, and costs what the folded named trace costs (`unnamed_search_space_traces_cost_the_same`).
    pub fn folding(batchnorm: bool) -> Unnamed {
        Unnamed {
            before: NAMED.with(|n| n.replace(false)),
            prefold_before: PREFOLD.with(|p| p.replace(batchnorm)),
        }
    }
}

impl Drop for Unnamed {
    fn drop(&mut self) {
        NAMED.with(|n| n.set(self.before));
        PREFOLD.with(|p| p.set(self.prefold_before));
    }
}

/// Longest op or tensor name: real ones are tens of bytes; a name kilobytes long is a scope or
/// `name=` gone wrong.
pub const MAX_NAME_BYTES: usize = 4096;
/// Most bytes of names one trace may hold: names are what grows when a small file multiplies
/// ops under long scopes (a 6 KB DSL file of 50,000 ops under one 6,000-character scope took
/// 1.7 GB, and the op cap allowed twenty times that).
pub const MAX_NAME_BYTES_TOTAL: usize = 256 << 20;

/// Convolution hyper-parameters beyond the output channel count.
#[derive(Clone, Copy, Debug)]
pub struct ConvSpec {
    pub c_out: u64,
    pub kh: u64,
    pub kw: u64,
    pub stride: (u64, u64),
    /// Symmetric padding (top/bottom, left/right).
    pub pad: (u64, u64),
    pub dilation: (u64, u64),
    pub groups: u64,
    pub bias: bool,
}

impl ConvSpec {
    pub fn square(c_out: u64, k: u64, stride: u64, pad: u64) -> Self {
        ConvSpec {
            c_out,
            kh: k,
            kw: k,
            stride: (stride, stride),
            pad: (pad, pad),
            dilation: (1, 1),
            groups: 1,
            bias: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct PoolWindow {
    pub k: u64,
    pub stride: u64,
    pub pad: u64,
    pub ceil_mode: bool,
}

/// Standard convolution/pooling output size; `None` when the window does not fit.
pub fn conv_out(
    input: u64,
    k: u64,
    stride: u64,
    pad: u64,
    dil: u64,
    ceil_mode: bool,
) -> Option<u64> {
    let span = dil.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = input.checked_add(pad.checked_mul(2)?)?;
    let room = padded.checked_sub(span)?;
    if stride == 0 {
        return None;
    }
    let q = if ceil_mode {
        room.div_ceil(stride)
    } else {
        room / stride
    };
    Some(q + 1)
}

impl TraceBuilder {
    pub fn new(name: &str) -> Self {
        TraceBuilder {
            trace: Trace {
                name: name.to_string(),
                tensors: Vec::new(),
                ops: Vec::new(),
            },
            prefix: String::new(),
            scope: Vec::new(),
            auto_names: Default::default(),
            auto_key: String::new(),
            act_dtype: DType::F32,
            weight_dtype: DType::F32,
            phase: Phase::None,
            name_bytes: 0,
            names: NAMED.with(|n| n.get()),
            prefold_batchnorm: PREFOLD.with(|p| p.get()),
        }
    }

    /// Counts a new name against the per-name and whole-trace limits.
    #[inline]
    fn charge_name(&mut self, name: &str) -> Result<()> {
        // Inlined for the empty names of an unnamed trace: three calls an op otherwise.
        if name.is_empty() {
            return Ok(());
        }
        self.charge_long_name(name)
    }

    fn charge_long_name(&mut self, name: &str) -> Result<()> {
        let short = || name.chars().take(60).collect::<String>();
        if name.len() > MAX_NAME_BYTES {
            return Err(WorkloadError::Shape {
                op: format!("{}...", short()),
                msg: format!(
                    "the name is {} bytes long, more than {MAX_NAME_BYTES}",
                    name.len()
                ),
            });
        }
        self.name_bytes = self.name_bytes.saturating_add(name.len());
        if self.name_bytes > MAX_NAME_BYTES_TOTAL {
            return Err(WorkloadError::Shape {
                op: short(),
                msg: format!(
                    "the model's op and tensor names add up to more than {} MiB, beyond any real network",
                    MAX_NAME_BYTES_TOTAL >> 20
                ),
            });
        }
        Ok(())
    }

    /// Room for about `ops` more ops and `tensors` more tensors: a front-end that knows its size
    /// spares the trace's lists their regrowth copies.
    pub fn reserve(&mut self, ops: usize, tensors: usize) {
        self.trace.ops.reserve(ops);
        self.trace.tensors.reserve(tensors);
    }

    pub fn finish(self) -> Trace {
        self.trace
    }

    /// Sets a tensor's element type (a front-end that knows it better than the builder's default).
    pub fn set_dtype(&mut self, id: TensorId, dtype: DType) {
        self.trace.tensors[id.0 as usize].dtype = dtype;
    }

    /// Sets the compute precision of the ops added from op index `first` on (a front-end that
    /// learns it after building them: a quantized ONNX node).
    pub fn set_op_dtypes_since(&mut self, first: usize, dtype: DType) {
        let from = first.min(self.trace.ops.len());
        for op in &mut self.trace.ops[from..] {
            op.dtype = dtype;
        }
    }

    /// The outputs of the ops added from op index `first` on.
    pub fn outputs_since(&self, first: usize) -> impl Iterator<Item = TensorId> + '_ {
        self.trace.ops[first.min(self.trace.ops.len())..]
            .iter()
            .flat_map(|o| o.outputs.iter().copied())
    }

    /// Gives a tensor the name its source file uses (an ONNX value name), so reports match
    /// Netron and the exporter.
    pub fn rename_tensor(&mut self, id: TensorId, name: &str) -> Result<()> {
        if self.trace.tensors[id.0 as usize].name == name {
            return Ok(());
        }
        self.charge_name(name)?;
        self.trace.tensors[id.0 as usize].name = name.to_string();
        Ok(())
    }

    pub fn ops_len(&self) -> usize {
        self.trace.ops.len()
    }

    pub fn push_scope(&mut self, s: &str) {
        self.scope.push(self.prefix.len());
        if !self.prefix.is_empty() {
            self.prefix.push('.');
        }
        self.prefix.push_str(s);
    }

    /// [`Self::push_scope`] of a formatted name (`format_args!("op{i}")`), written straight into
    /// the scope path; not written at all on an unnamed trace, which never reads it.
    pub fn push_scope_fmt(&mut self, s: std::fmt::Arguments) {
        use std::fmt::Write;
        self.scope.push(self.prefix.len());
        if !self.names {
            return;
        }
        if !self.prefix.is_empty() {
            self.prefix.push('.');
        }
        // Writing into a String cannot fail.
        let _ = self.prefix.write_fmt(s);
    }

    pub fn pop_scope(&mut self) {
        if let Some(len) = self.scope.pop() {
            self.prefix.truncate(len);
        }
    }

    pub fn shape(&self, t: TensorId) -> &[u64] {
        &self.trace.tensors[t.0 as usize].shape
    }

    /// Re-declares a tensor's shape and dtype (a front-end learning how a stored weight is
    /// read, e.g. bytes that hold two 4-bit values each).
    pub fn retype_tensor(&mut self, t: TensorId, shape: &[u64], dtype: DType) {
        let x = &mut self.trace.tensors[t.0 as usize];
        x.shape = Shape::from_slice(shape);
        x.dtype = dtype;
    }

    pub fn tensor(&self, t: TensorId) -> &Tensor {
        &self.trace.tensors[t.0 as usize]
    }

    /// The full hierarchical name for `local`, or a fresh `kindN` name if `local` is empty.
    /// Built by appending, not formatting: tracing names thousands of ops.
    pub fn qualify(&mut self, local: &str, kind: &str) -> String {
        if !self.names {
            return String::new();
        }
        let mut name =
            String::with_capacity(self.prefix.len() + 1 + local.len().max(kind.len() + 4));
        name.push_str(&self.prefix);
        if !self.prefix.is_empty() {
            name.push('.');
        }
        if local.is_empty() {
            // Looked up through a reused buffer: only a scope's first op of a kind allocates a key.
            let key = &mut self.auto_key;
            key.clear();
            key.push_str(&self.prefix);
            key.push('/');
            key.push_str(kind);
            let n = match self.auto_names.get_mut(key.as_str()) {
                Some(n) => n,
                None => self.auto_names.entry(key.clone()).or_insert(0),
            };
            name.push_str(kind);
            if *n > 0 {
                use std::fmt::Write as _;
                let _ = write!(name, "{n}");
            }
            *n += 1;
        } else {
            name.push_str(local);
        }
        name
    }

    pub fn add_tensor(
        &mut self,
        name: String,
        shape: impl AsRef<[u64]>,
        dtype: DType,
        role: TensorRole,
    ) -> Result<TensorId> {
        let shape = shape.as_ref();
        self.charge_name(&name)?;
        if checked_numel(shape).is_none() {
            return Err(WorkloadError::Shape {
                op: name,
                msg: format!(
                    "tensor shape {shape:?} has a zero dimension or more than {MAX_ELEMENTS} elements"
                ),
            });
        }
        if self.trace.tensors.len() >= u32::MAX as usize {
            return Err(WorkloadError::Overflow {
                what: "tensor count".into(),
            });
        }
        let id = TensorId(self.trace.tensors.len() as u32);
        self.trace.tensors.push(Tensor {
            name,
            shape: Shape::from_slice(shape),
            dtype,
            role,
        });
        Ok(id)
    }

    pub fn input(
        &mut self,
        name: &str,
        shape: impl AsRef<[u64]>,
        dtype: DType,
    ) -> Result<TensorId> {
        self.add_tensor(name.to_string(), shape, dtype, TensorRole::Input)
    }

    /// `a.b`, the name of a parameter `b` of op `a` (empty when unnamed).
    fn dotted(&self, a: &str, b: &str) -> String {
        if self.names {
            dotted(a, b)
        } else {
            String::new()
        }
    }

    /// Adds a learned parameter named `{op}.{suffix}`.
    pub fn weight(&mut self, op: &str, suffix: &str, shape: impl AsRef<[u64]>) -> Result<TensorId> {
        let dt = self.weight_dtype;
        let name = self.dotted(op, suffix);
        self.add_tensor(name, shape, dt, TensorRole::Weight)
    }

    pub fn constant(
        &mut self,
        op: &str,
        suffix: &str,
        shape: impl AsRef<[u64]>,
    ) -> Result<TensorId> {
        let dt = self.act_dtype;
        let name = self.dotted(op, suffix);
        self.add_tensor(name, shape, dt, TensorRole::Constant)
    }

    /// Appends an op whose outputs have the given shapes; the general entry every helper uses.
    pub fn push_op(
        &mut self,
        name: String,
        kind: OpKind,
        inputs: Vec<TensorId>,
        weights: Vec<TensorId>,
        out_shapes: Vec<Vec<u64>>,
    ) -> Result<Vec<TensorId>> {
        self.append_op(name, kind, &inputs, &weights, out_shapes)?;
        Ok(self.last_outputs().to_vec())
    }

    /// The outputs of the op added last (empty before the first).
    fn last_outputs(&self) -> &[TensorId] {
        self.trace.ops.last().map_or(&[], |o| &o.outputs[..])
    }

    /// `push_op` without the owned lists: the helpers call this per op, and the lists are what
    /// tracing used to spend its time allocating.
    fn append_op(
        &mut self,
        name: String,
        kind: OpKind,
        inputs: &[TensorId],
        weights: &[TensorId],
        out_shapes: impl IntoIterator<Item = impl AsRef<[u64]>>,
    ) -> Result<()> {
        // The DSL checks this per statement with its position; this is the backstop for all.
        if self.trace.ops.len() > MAX_OPS {
            return Err(WorkloadError::Shape {
                op: name,
                msg: format!("the model has more than {MAX_OPS} ops, beyond any real network"),
            });
        }
        self.charge_name(&name)?;
        let macs = kind.macs().map_err(|e| shape_err(&name, e))?;
        let flops = kind.flops().map_err(|e| shape_err(&name, e))?;
        let mut outputs = TensorIds::new();
        for (i, s) in out_shapes.into_iter().enumerate() {
            let tname = if !self.names {
                String::new()
            } else if i == 0 {
                name.clone()
            } else {
                format!("{name}:{i}")
            };
            let dt = self.act_dtype;
            outputs.push(self.add_tensor(tname, s, dt, TensorRole::Activation)?);
        }
        let dtype = self.act_dtype;
        self.trace.ops.push(Op {
            name,
            kind,
            inputs: TensorIds::from_slice(inputs),
            weights: TensorIds::from_slice(weights),
            outputs,
            phase: self.phase,
            macs,
            flops,
            dtype,
        });
        Ok(())
    }

    /// Adds an existing weight tensor to the most recent op (fused bias of a shared weight).
    pub fn attach_weight(&mut self, w: TensorId) {
        if let Some(op) = self.trace.ops.last_mut() {
            op.weights.push(w);
        }
    }

    fn push1(
        &mut self,
        name: String,
        kind: OpKind,
        inputs: &[TensorId],
        weights: &[TensorId],
        out: impl AsRef<[u64]>,
    ) -> Result<TensorId> {
        self.append_op(name, kind, inputs, weights, std::iter::once(out))?;
        Ok(self.last_outputs()[0])
    }

    fn nchw(&self, x: TensorId, op: &str) -> Result<[u64; 4]> {
        match *self.shape(x) {
            [n, c, h, w] => Ok([n, c, h, w]),
            ref s => Err(WorkloadError::Shape {
                op: op.to_string(),
                msg: format!("expects a 4-D NCHW input, got shape {s:?}"),
            }),
        }
    }

    pub fn conv2d(&mut self, name: &str, x: TensorId, s: ConvSpec) -> Result<TensorId> {
        self.conv2d_shifted(name, x, s, false)
    }

    /// A convolution and the BatchNorm of its output, which nothing else reads: [`Self::conv2d`]
    /// then [`Self::batchnorm`], or, on a trace built [`Unnamed::folding`] BatchNorms, the graph
    /// the fold pass makes of the two (`graph::fold_into_product`): one convolution that takes
    /// the norm's shift as its bias when it has none.
    pub fn conv2d_bn(
        &mut self,
        conv: &str,
        bn: &str,
        x: TensorId,
        s: ConvSpec,
    ) -> Result<TensorId> {
        if self.prefold_batchnorm {
            return self.conv2d_shifted(conv, x, s, !s.bias);
        }
        let y = self.conv2d(conv, x, s)?;
        self.batchnorm(bn, y)
    }

    /// [`Self::conv2d`]; `shift` adds a per-channel bias weight without changing the op's kind (a
    /// folded BatchNorm's shift, as the fold leaves it).
    fn conv2d_shifted(
        &mut self,
        name: &str,
        x: TensorId,
        s: ConvSpec,
        shift: bool,
    ) -> Result<TensorId> {
        let name = self.qualify(name, "conv");
        let [n, c, h, w] = self.nchw(x, &name)?;
        let bad = |msg: String| WorkloadError::Shape {
            op: name.clone(),
            msg,
        };
        if s.groups == 0 || !c.is_multiple_of(s.groups) || !s.c_out.is_multiple_of(s.groups) {
            return Err(bad(format!(
                "groups={} must divide input channels {c} and output channels {}",
                s.groups, s.c_out
            )));
        }
        if s.c_out == 0
            || s.kh == 0
            || s.kw == 0
            || s.stride.0 == 0
            || s.stride.1 == 0
            || s.dilation.0 == 0
            || s.dilation.1 == 0
        {
            return Err(bad(
                "output channels, kernel, stride and dilation must be positive".into(),
            ));
        }
        let ho = conv_out(h, s.kh, s.stride.0, s.pad.0, s.dilation.0, false);
        let wo = conv_out(w, s.kw, s.stride.1, s.pad.1, s.dilation.1, false);
        let (Some(ho), Some(wo)) = (ho, wo) else {
            return Err(bad(format!(
                "a {}x{} kernel (dilation {:?}) does not fit a {h}x{w} input padded by {:?}",
                s.kh, s.kw, s.dilation, s.pad
            )));
        };
        let mut weights: TensorIds = smallvec::smallvec![self.weight(
            &name,
            "weight",
            [s.c_out, c / s.groups, s.kh, s.kw]
        )?];
        if s.bias || shift {
            weights.push(self.weight(&name, "bias", [s.c_out])?);
        }
        let kind = OpKind::Conv2d(Conv2d {
            batch: n,
            c_in: c,
            h_in: h,
            w_in: w,
            c_out: s.c_out,
            h_out: ho,
            w_out: wo,
            kh: s.kh,
            kw: s.kw,
            stride_h: s.stride.0,
            stride_w: s.stride.1,
            pad_h: s.pad.0,
            pad_w: s.pad.1,
            dil_h: s.dilation.0,
            dil_w: s.dilation.1,
            groups: s.groups,
        });
        self.push1(name, kind, &[x], &weights, [n, s.c_out, ho, wo])
    }

    /// `y = x·Wᵀ (+ b)` over the last dimension.
    pub fn linear(&mut self, name: &str, x: TensorId, out: u64, bias: bool) -> Result<TensorId> {
        let name = self.qualify(name, "linear");
        let shape = Shape::from_slice(self.shape(x));
        let Some((&k, lead)) = shape.split_last() else {
            return Err(WorkloadError::Shape {
                op: name,
                msg: "linear needs an input with at least one dimension".into(),
            });
        };
        if out == 0 {
            return Err(WorkloadError::Shape {
                op: name,
                msg: "output features must be positive".into(),
            });
        }
        let m = checked_product(lead).map_err(|e| shape_err(&name, e))?;
        let mut weights: TensorIds = smallvec::smallvec![self.weight(&name, "weight", [out, k])?];
        if bias {
            weights.push(self.weight(&name, "bias", [out])?);
        }
        let mut oshape = lead.to_vec();
        oshape.push(out);
        let kind = OpKind::MatMul(Gemm {
            batch: 1,
            m,
            n: out,
            k,
        });
        self.push1(name, kind, &[x], &weights, oshape)
    }

    /// A linear layer whose weight tensor already exists (tied embeddings, shared experts).
    pub fn linear_with(&mut self, name: &str, x: TensorId, w: TensorId) -> Result<TensorId> {
        let name = self.qualify(name, "linear");
        let shape = Shape::from_slice(self.shape(x));
        let wshape = Shape::from_slice(self.shape(w));
        let (Some((&k, lead)), [out, wk]) = (shape.split_last(), wshape.as_slice()) else {
            return Err(WorkloadError::Shape {
                op: name,
                msg: "linear_with needs a [out, in] weight".into(),
            });
        };
        if k != *wk {
            return Err(WorkloadError::Shape {
                op: name,
                msg: format!("input features {k} differ from the weight's {wk}"),
            });
        }
        let m = checked_product(lead).map_err(|e| shape_err(&name, e))?;
        let mut oshape = lead.to_vec();
        oshape.push(*out);
        let kind = OpKind::MatMul(Gemm {
            batch: 1,
            m,
            n: *out,
            k,
        });
        self.push1(name, kind, &[x], &[w], oshape)
    }

    /// Batched matrix product of two activations `[..., m, k] · [..., k, n]` (batch dims must match
    /// after broadcasting).
    pub fn matmul(&mut self, name: &str, a: TensorId, b: TensorId) -> Result<TensorId> {
        let name = self.qualify(name, "matmul");
        let (sa, sb) = (
            Shape::from_slice(self.shape(a)),
            Shape::from_slice(self.shape(b)),
        );
        let (kind, oshape) = matmul_shape(&sa, &sb).ok_or_else(|| WorkloadError::Shape {
            op: name.clone(),
            msg: format!("cannot multiply shapes {sa:?} and {sb:?}"),
        })?;
        self.push1(name, kind, &[a, b], &[], oshape)
    }

    pub fn batchnorm(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let name = self.qualify(name, "bn");
        let shape = Shape::from_slice(self.shape(x));
        let c = *shape.get(1).ok_or_else(|| WorkloadError::Shape {
            op: name.clone(),
            msg: "batch norm needs a channel dimension".into(),
        })?;
        let weights = [
            self.weight(&name, "weight", [c])?,
            self.weight(&name, "bias", [c])?,
            self.constant(&name, "running_mean", [c])?,
            self.constant(&name, "running_var", [c])?,
        ];
        let elems = checked_numel(&shape).unwrap_or(0);
        let kind = OpKind::Norm {
            kind: NormKind::Batch,
            elems,
        };
        self.push1(name, kind, &[x], &weights, shape)
    }

    /// LayerNorm (with bias) or RMSNorm over the last dimension.
    pub fn norm_last(
        &mut self,
        name: &str,
        x: TensorId,
        kind: NormKind,
        bias: bool,
    ) -> Result<TensorId> {
        let name = self.qualify(
            name,
            if kind == NormKind::Rms {
                "rmsnorm"
            } else {
                "ln"
            },
        );
        let shape = Shape::from_slice(self.shape(x));
        let d = *shape.last().unwrap_or(&1);
        let mut weights: TensorIds = smallvec::smallvec![self.weight(&name, "weight", [d])?];
        if bias {
            weights.push(self.weight(&name, "bias", [d])?);
        }
        let elems = checked_numel(&shape).unwrap_or(0);
        self.push1(name, OpKind::Norm { kind, elems }, &[x], &weights, shape)
    }

    /// Element-wise op over broadcast inputs.
    pub fn eltwise(&mut self, name: &str, op: EltOp, inputs: &[TensorId]) -> Result<TensorId> {
        let name = self.qualify(name, op.name());
        let mut out: Shape = inputs
            .first()
            .map_or(Shape::new(), |&t| Shape::from_slice(self.shape(t)));
        for &t in inputs.iter().skip(1) {
            let s = self.shape(t);
            if s != out.as_slice() {
                out = broadcast(&out, s).map(Shape::from_vec).ok_or_else(|| {
                    WorkloadError::Shape {
                        op: name.clone(),
                        msg: format!("shapes {out:?} and {s:?} do not broadcast"),
                    }
                })?;
            }
        }
        let elems = checked_numel(&out).unwrap_or(0);
        self.push1(name, OpKind::Elementwise { op, elems }, inputs, &[], out)
    }

    /// Element-wise op with a learned operand of the given shape (positional embeddings, scales).
    pub fn eltwise_param(
        &mut self,
        name: &str,
        op: EltOp,
        x: TensorId,
        pshape: Vec<u64>,
    ) -> Result<TensorId> {
        let name = self.qualify(name, "param");
        let w = self.weight(&name, "weight", pshape.clone())?;
        let s = Shape::from_slice(self.shape(x));
        let out = broadcast(&s, &pshape).ok_or_else(|| WorkloadError::Shape {
            op: name.clone(),
            msg: format!("shapes {s:?} and {pshape:?} do not broadcast"),
        })?;
        let elems = checked_numel(&out).unwrap_or(0);
        self.push1(name, OpKind::Elementwise { op, elems }, &[x], &[w], out)
    }

    /// Square pooling window: kernel `k`, `stride`, symmetric `pad`, optional ceil rounding.
    pub fn pool(
        &mut self,
        name: &str,
        x: TensorId,
        kind: PoolKind,
        window: PoolWindow,
    ) -> Result<TensorId> {
        let PoolWindow {
            k,
            stride,
            pad,
            ceil_mode,
        } = window;
        let name = self.qualify(
            name,
            if kind == PoolKind::Max {
                "maxpool"
            } else {
                "avgpool"
            },
        );
        let [n, c, h, w] = self.nchw(x, &name)?;
        let (Some(ho), Some(wo)) = (
            conv_out(h, k, stride, pad, 1, ceil_mode),
            conv_out(w, k, stride, pad, 1, ceil_mode),
        ) else {
            return Err(WorkloadError::Shape {
                op: name,
                msg: format!("a {k}x{k} window with stride {stride} does not fit a {h}x{w} input"),
            });
        };
        let kind = OpKind::Pool {
            kind,
            batch: n,
            channels: c,
            h_out: ho,
            w_out: wo,
            kh: k,
            kw: k,
        };
        self.push1(name, kind, &[x], &[], [n, c, ho, wo])
    }

    pub fn global_avg_pool(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let name = self.qualify(name, "gap");
        let [n, c, h, w] = self.nchw(x, &name)?;
        let kind = OpKind::Pool {
            kind: PoolKind::Avg,
            batch: n,
            channels: c,
            h_out: 1,
            w_out: 1,
            kh: h,
            kw: w,
        };
        self.push1(name, kind, &[x], &[], [n, c, 1, 1])
    }

    pub fn softmax(&mut self, name: &str, x: TensorId) -> Result<TensorId> {
        let name = self.qualify(name, "softmax");
        let shape = Shape::from_slice(self.shape(x));
        let cols = *shape.last().unwrap_or(&1);
        let rows = checked_numel(&shape).unwrap_or(0) / cols;
        self.push1(name, OpKind::Softmax { rows, cols }, &[x], &[], shape)
    }

    /// Pure data movement producing `out` (reshape, transpose, concat, ...).
    pub fn movement(
        &mut self,
        name: &str,
        kind: MoveKind,
        inputs: &[TensorId],
        out: Vec<u64>,
    ) -> Result<TensorId> {
        let name = if name.is_empty() {
            let kname = format!("{kind:?}").to_lowercase();
            self.qualify(name, &kname)
        } else {
            self.qualify(name, "")
        };
        let elems = checked_numel(&out).ok_or_else(|| WorkloadError::Shape {
            op: name.clone(),
            msg: format!("output shape {out:?} is empty or too large"),
        })?;
        self.push1(name, OpKind::DataMovement { kind, elems }, inputs, &[], out)
    }

    /// Reshape keeping the element count (checked).
    pub fn reshape(&mut self, name: &str, x: TensorId, out: Vec<u64>) -> Result<TensorId> {
        let n_in = checked_numel(self.shape(x)).unwrap_or(0);
        if checked_numel(&out) != Some(n_in) {
            let name = self.qualify(name, "reshape");
            return Err(WorkloadError::Shape {
                op: name,
                msg: format!(
                    "cannot reshape {:?} to {out:?}: element counts differ",
                    self.shape(x)
                ),
            });
        }
        self.movement(name, MoveKind::Reshape, &[x], out)
    }

    /// Gathers rows of a `[vocab, dim]` table for integer ids of shape `ids`.
    pub fn embedding(
        &mut self,
        name: &str,
        ids: TensorId,
        vocab: u64,
        dim: u64,
    ) -> Result<TensorId> {
        let name = self.qualify(name, "embed");
        let table = self.weight(&name, "weight", [vocab, dim])?;
        let mut out = Shape::from_slice(self.shape(ids));
        let rows = checked_numel(&out).unwrap_or(0);
        out.push(dim);
        self.push1(name, OpKind::Embedding { rows, dim }, &[ids], &[table], out)
    }

    /// Attention core over `q [b, sq, h*d]` and `k, v [b, skv, kvh*d]`; output `[b, sq, h*d]`.
    #[allow(clippy::too_many_arguments)]
    pub fn attention(
        &mut self,
        name: &str,
        q: TensorId,
        k: TensorId,
        v: TensorId,
        heads: u64,
        kv_heads: u64,
        causal: bool,
    ) -> Result<TensorId> {
        let name = self.qualify(name, "attn");
        let (qs, ks) = (
            Shape::from_slice(self.shape(q)),
            Shape::from_slice(self.shape(k)),
        );
        let bad = |msg: String| WorkloadError::Shape {
            op: name.clone(),
            msg,
        };
        let ([b, sq, hd], [kb, skv, kvd]) = (qs.as_slice(), ks.as_slice()) else {
            return Err(bad(format!(
                "attention expects [batch, seq, features] q/k, got {qs:?}, {ks:?}"
            )));
        };
        if heads == 0
            || kv_heads == 0
            || !hd.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
            || b != kb
        {
            return Err(bad(format!(
                "heads {heads} must divide q features {hd}, kv heads {kv_heads} must divide heads, batches must match"
            )));
        }
        let head_dim = hd / heads;
        if *kvd != kv_heads * head_dim {
            return Err(bad(format!(
                "k features {kvd} != kv heads {kv_heads} x head dim {head_dim}"
            )));
        }
        let kind = OpKind::Attention {
            batch: *b,
            heads,
            kv_heads,
            q_len: *sq,
            kv_len: *skv,
            head_dim,
            causal,
        };
        let out = vec![*b, *sq, *hd];
        self.push1(name, kind, &[q, k, v], &[], out)
    }
}

fn shape_err(op: &str, e: WorkloadError) -> WorkloadError {
    WorkloadError::Shape {
        op: op.to_string(),
        msg: e.to_string(),
    }
}

/// NumPy broadcasting of two shapes; an empty shape is the identity.
pub fn broadcast(a: &[u64], b: &[u64]) -> Option<Vec<u64>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// ONNX/NumPy matmul semantics: returns the op kind and output shape.
pub fn matmul_shape(a: &[u64], b: &[u64]) -> Option<(OpKind, Vec<u64>)> {
    let a2: Vec<u64> = if a.len() == 1 {
        vec![1, a[0]]
    } else {
        a.to_vec()
    };
    let b2: Vec<u64> = if b.len() == 1 {
        vec![b[0], 1]
    } else {
        b.to_vec()
    };
    if a2.len() < 2 || b2.len() < 2 {
        return None;
    }
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return None;
    }
    let batch_shape = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
    let batch = checked_numel(&batch_shape).unwrap_or(1).max(1);
    let mut out = batch_shape;
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    // When b is a plain 2-D weight, fold batch into rows: one large GEMM, as engines run it.
    let g = if b.len() == 2 {
        Gemm {
            batch: 1,
            m: batch.checked_mul(m)?,
            n,
            k,
        }
    } else {
        Gemm { batch, m, n, k }
    };
    Some((OpKind::MatMul(g), out))
}

/// `a.b`, without the formatting machinery (names are built for every tensor).
fn dotted(a: &str, b: &str) -> String {
    let mut s = String::with_capacity(a.len() + 1 + b.len());
    s.push_str(a);
    s.push('.');
    s.push_str(b);
    s
}
