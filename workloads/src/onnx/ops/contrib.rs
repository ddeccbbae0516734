//! ONNX Runtime's `com.microsoft` operators that transformer exports use (Hugging Face optimum,
//! onnxruntime-genai, ONNX Runtime's transformer optimizer and its int4 quantizer). Shapes and
//! input layouts follow ONNX Runtime's contrib operator reference (docs/ContribOperators.md):
//!
//! - `MatMulNBits(A, B, scales, [zero_points], [g_idx], [bias])`: B holds N x K weights of
//!   `bits` bits in blocks of `block_size` along K; a product over A's last dimension whose
//!   weights are read narrow (w4a16/w4a32) with their per-block scales and zero points;
//! - `GatherBlockQuantized(data, indices, scales, [zero_points])`: an embedding lookup in a
//!   table of `bits`-bit values (int4/uint4, or two 4-bit values per uint8 byte along the last
//!   axis) with scales per `block_size` values along `quantize_axis`;
//! - `Attention(input, weights, [bias], [mask], [past], ...)`: the packed QKV projection and the
//!   attention core, with `past`/`present` as `[2, batch, heads, seq, head]`;
//! - `MultiHeadAttention(query, [key], [value], [bias], ..., [past_key], [past_value])` and
//!   `GroupQueryAttention(query, [key], [value], [past_key], [past_value], ...)`: the core on
//!   projected Q/K/V (`[batch, seq, heads x head]`), KV caches `[batch, kv_heads, seq, head]`;
//! - `SkipLayerNormalization` / `SkipSimplifiedLayerNormalization`: residual add and LayerNorm
//!   (RMSNorm) in one, with the sum as an optional output;
//! - `EmbedLayerNormalization(input_ids, [segment_ids], word, position, [segment], gamma, beta,
//!   [mask], [position_ids])`: BERT's three embedding lookups, their sum and LayerNorm;
//! - `RotaryEmbedding(input, position_ids, cos_cache, sin_cache)`, `FastGelu`, `BiasGelu`,
//!   `QuickGelu`, `Gelu`, `BiasAdd`: element-wise.

use super::*;

impl Importer<'_> {
    /// Lowers a `com.microsoft` node; `false` when vchip does not read that operator.
    pub(super) fn contrib(&mut self, n: &NodeProto, idx: usize) -> Result<bool> {
        match n.op_type.as_str() {
            "MatMulNBits" => self.matmul_nbits(n, idx)?,
            "GatherBlockQuantized" => self.gather_block_quantized(n, idx)?,
            "Attention" => self.packed_attention(n, idx)?,
            "MultiHeadAttention" | "GroupQueryAttention" => self.projected_attention(n, idx)?,
            "SkipLayerNormalization" | "SkipSimplifiedLayerNormalization" => {
                self.skip_norm(n, idx)?
            }
            "EmbedLayerNormalization" => self.embed_layer_norm(n, idx)?,
            "RotaryEmbedding" => {
                let x = self.in_shape(n, 0, idx)?;
                let elems = numel(&x);
                let kind = OpKind::Elementwise {
                    op: EltOp::Rope,
                    elems,
                };
                // One cos/sin row per position: [batch, seq, ...] or [batch, heads, seq, head].
                let rows = match x.as_slice() {
                    [b, s, _] => b.saturating_mul(*s),
                    [b, _, s, _] => b.saturating_mul(*s),
                    _ => elems,
                };
                self.emit_with_rotary_rows(n, idx, kind, &[1, 2, 3], [2, 3], rows, vec![x])?
            }
            "FastGelu" | "BiasGelu" | "QuickGelu" | "Gelu" | "BiasAdd" => {
                let mut out = self.in_shape(n, 0, idx)?;
                for i in 1..n.input.len() {
                    if n.input[i].is_empty() {
                        continue;
                    }
                    let s = self.in_shape(n, i, idx)?;
                    out = broadcast(&out, &s).ok_or_else(|| {
                        self.err(n, idx, format!("shapes {out:?} and {s:?} do not broadcast"))
                    })?;
                }
                let op = if n.op_type == "BiasAdd" {
                    EltOp::Add
                } else {
                    EltOp::Gelu
                };
                let elems = numel(&out);
                self.emit(n, idx, OpKind::Elementwise { op, elems }, &[], vec![out])?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `v`, or a located error saying what overflowed (attributes are the file's to set).
    fn fits(&self, n: &NodeProto, idx: usize, v: Option<u64>, what: &str) -> Result<u64> {
        v.ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("{what} overflows: the attributes or shapes are corrupt"),
            )
        })
    }

    /// A positive integer attribute, or a located error naming it.
    fn positive_attr(&self, n: &NodeProto, idx: usize, name: &str) -> Result<u64> {
        self.positive_attr_or(n, idx, name, 0)
    }

    /// A positive integer attribute, `default` when absent.
    fn positive_attr_or(&self, n: &NodeProto, idx: usize, name: &str, default: i64) -> Result<u64> {
        let v = attr_i(n, name, default);
        u64::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("attribute `{name}` is {v}; it must be positive"),
            )
        })
    }

    /// `bits` (4 or 8: the dtype values are read at) and `block_size` (a power of two, at
    /// least 16; `default_block` when absent, 0 for none) of a block-quantized operator.
    fn block_quantization(
        &self,
        n: &NodeProto,
        idx: usize,
        what: &str,
        default_block: i64,
    ) -> Result<(i64, DType, u64)> {
        let block = self.positive_attr_or(n, idx, "block_size", default_block)?;
        let bits = attr_i(n, "bits", 4);
        let dtype = match bits {
            4 => DType::Int4,
            8 => DType::Int8,
            _ => {
                return Err(self.err(
                    n,
                    idx,
                    format!("`bits` is {bits}; vchip reads 4- and 8-bit {what}"),
                ))
            }
        };
        if block < 16 || !block.is_power_of_two() {
            return Err(self.err(
                n,
                idx,
                format!("`block_size` is {block}; it must be a power of two, at least 16"),
            ));
        }
        Ok((bits, dtype, block))
    }

    fn matmul_nbits(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let a = self.in_shape(n, 0, idx)?;
        let k = self.positive_attr(n, idx, "K")?;
        let cols = self.positive_attr(n, idx, "N")?;
        let (bits, dtype, block) = self.block_quantization(n, idx, "MatMulNBits weights", 0)?;
        let Some((&last, lead)) = a.split_last() else {
            return Err(self.err(n, idx, "input A must have at least one dimension".into()));
        };
        if last != k {
            return Err(self.err(
                n,
                idx,
                format!("A's last dimension is {last} but attribute K is {k}"),
            ));
        }
        // B as what it holds: N rows of whole blocks along K.
        let stored = [
            cols,
            self.fits(
                n,
                idx,
                k.div_ceil(block).checked_mul(block),
                "K rounded up to whole blocks",
            )?,
        ];
        let b_name =
            n.input.get(1).filter(|s| !s.is_empty()).ok_or_else(|| {
                self.err(n, idx, "input B (the packed weights) is missing".into())
            })?;
        // B as stored: [N, blocks along K, bytes per block] (block_size is a multiple of 8).
        let want = [cols, k.div_ceil(block), block / 8 * bits as u64];
        if let Some(Val::Param { shape, .. } | Val::Const { shape, .. }) =
            self.vals.get(b_name.as_str())
        {
            if checked_product(shape).ok() != checked_product(&want).ok() {
                return Err(self.err(
                    n,
                    idx,
                    format!("B is {shape:?}; with N={cols}, K={k}, bits={bits} and block_size={block} it holds {want:?}"),
                ));
            }
        }
        let weight = match self.vals.get(b_name.as_str()) {
            Some(Val::Param { id: Some(id), .. }) => *id,
            Some(Val::Param { .. } | Val::Const { .. }) | None => {
                let id = self
                    .b
                    .add_tensor(b_name.clone(), stored, dtype, TensorRole::Weight)
                    .map_err(|e| self.err(n, idx, e.to_string()))?;
                // Other readers (a Reshape to the tied embedding table) still see the file's
                // bytes; only the trace's tensor holds 4-bit values.
                let (shape, file_dtype) = match self.vals.get(b_name.as_str()) {
                    Some(Val::Param { shape, dtype, .. } | Val::Const { shape, dtype, .. }) => {
                        (shape.clone(), *dtype)
                    }
                    _ => (stored.to_vec(), dtype),
                };
                self.vals.insert(
                    b_name.clone(),
                    Val::Param {
                        shape,
                        dtype: file_dtype,
                        id: Some(id),
                    },
                );
                id
            }
            Some(Val::Act(_)) => {
                return Err(self.err(
                    n,
                    idx,
                    "input B is computed at run time; MatMulNBits weights are initializers".into(),
                ))
            }
        };
        // Scales, zero points, g_idx and bias are parameters beside it.
        let mut weights = vec![weight];
        for i in 2..n.input.len() {
            let name = &n.input[i];
            if name.is_empty() {
                continue;
            }
            let role = if i == 4 {
                TensorRole::Constant
            } else {
                TensorRole::Weight
            };
            if let Some(id) = self.param_id(name, role)? {
                weights.push(id);
            }
        }
        let acts = match self.vals.get(n.input[0].as_str()) {
            Some(Val::Act(id)) => vec![*id],
            _ => vec![],
        };
        let m = checked_product(lead).map_err(|e| self.err(n, idx, e.to_string()))?;
        let mut out = lead.to_vec();
        out.push(cols);
        let kind = OpKind::MatMul(Gemm {
            batch: 1,
            m,
            n: cols,
            k,
        });
        self.emit_operands(n, idx, kind, acts, weights, vec![out])
    }

    /// `GatherBlockQuantized`: rows of a block-quantized table (ONNX Runtime's
    /// contrib_ops/cpu/quantization/gather_block_quantized.cc). The table is a weight of `bits`
    /// bits per value; the output is `data[:gather_axis] + indices + data[gather_axis + 1:]` in
    /// values (a uint8 table of 4-bit values holds two per byte along its last axis).
    fn gather_block_quantized(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let (bits, dtype, block) =
            self.block_quantization(n, idx, "GatherBlockQuantized tables", 128)?;
        let data_name = n.input.first().filter(|s| !s.is_empty()).cloned();
        let (stored, stored_dtype, id) = match data_name.as_deref().and_then(|d| self.vals.get(d)) {
            Some(Val::Param { shape, dtype, id }) => (shape.clone(), *dtype, *id),
            Some(Val::Const { shape, dtype, .. }) => (shape.clone(), *dtype, None),
            _ => {
                return Err(self.err(
                    n,
                    idx,
                    "input data (the quantized table) must be an initializer".into(),
                ))
            }
        };
        if stored_dtype == DType::Int4 && bits != 4 {
            return Err(self.err(
                n,
                idx,
                format!("the table holds 4-bit values but `bits` is {bits}"),
            ));
        }
        // Two 4-bit values per byte when the table is stored as uint8.
        let packed = bits == 4 && stored_dtype != DType::Int4;
        let mut table = stored.clone();
        if packed {
            if let Some(last) = table.last_mut() {
                *last = self.fits(n, idx, last.checked_mul(2), "packed table width")?;
            }
        }
        let rank = table.len();
        if rank < 2 {
            return Err(self.err(
                n,
                idx,
                format!("the table is {table:?}; it needs a gather axis and a quantized axis"),
            ));
        }
        let g = axis(attr_i(n, "gather_axis", 0), rank).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("gather_axis out of range for table {table:?}"),
            )
        })?;
        let q = axis(attr_i(n, "quantize_axis", 1), rank).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("quantize_axis out of range for table {table:?}"),
            )
        })?;
        if packed && (g != 0 || q != rank - 1) {
            return Err(self.err(
                n,
                idx,
                format!("a uint8 table of packed 4-bit values is gathered on axis 0 and quantized along its last axis (got gather_axis {g}, quantize_axis {q})"),
            ));
        }
        let mut want_scales = table.clone();
        want_scales[q] = table[q].div_ceil(block);
        if let Some(Val::Param { shape, .. } | Val::Const { shape, .. }) = self.input(n, 2) {
            if *shape != want_scales {
                return Err(self.err(
                    n,
                    idx,
                    format!("scales are {shape:?}; a table of {table:?} values in blocks of {block} along axis {q} has {want_scales:?}"),
                ));
            }
        }
        // Zero points: one per block, packed two a byte along the last axis with a uint8 table.
        let mut want_zp = want_scales.clone();
        if packed {
            if let Some(last) = want_zp.last_mut() {
                *last = last.div_ceil(2);
            }
        }
        if let Some(Val::Param { shape, .. } | Val::Const { shape, .. }) = self.input(n, 3) {
            if *shape != want_zp {
                return Err(self.err(
                    n,
                    idx,
                    format!("zero_points are {shape:?}; with scales {want_scales:?} they are {want_zp:?}"),
                ));
            }
        }
        let indices = self.in_shape(n, 1, idx)?;
        let mut out = table[..g].to_vec();
        out.extend(&indices);
        out.extend(&table[g + 1..]);
        let lookups = checked_product(&table[..g])
            .and_then(|a| checked_product(&indices).map(|b| (a, b)))
            .map_err(|e| self.err(n, idx, e.to_string()))?;
        let rows = self.fits(n, idx, lookups.0.checked_mul(lookups.1), "rows looked up")?;
        let dim = checked_product(&table[g + 1..]).map_err(|e| self.err(n, idx, e.to_string()))?;
        let name = data_name.unwrap_or_default();
        let weight = match id {
            Some(id) => {
                // A table created before (as MatMulNBits' packed weight, or reshaped from it):
                // the same bytes, read as `bits`-bit values.
                if self.b.tensor(id).dtype != dtype {
                    self.b.retype_tensor(id, &table, dtype);
                }
                id
            }
            None => {
                let id = self
                    .b
                    .add_tensor(name.clone(), table.clone(), dtype, TensorRole::Weight)
                    .map_err(|e| self.err(n, idx, e.to_string()))?;
                self.vals.insert(
                    name,
                    Val::Param {
                        shape: table,
                        dtype,
                        id: Some(id),
                    },
                );
                id
            }
        };
        let mut weights = vec![weight];
        for i in 2..n.input.len().min(4) {
            if let Some(w) = n.input.get(i).filter(|s| !s.is_empty()).cloned() {
                weights.extend(self.param_id(&w, TensorRole::Weight)?);
            }
        }
        let acts = match self.input(n, 1) {
            Some(Val::Act(id)) => vec![*id],
            _ => vec![],
        };
        let kind = OpKind::Embedding { rows, dim };
        self.emit_operands(n, idx, kind, acts, weights, vec![out])
    }

    /// `[batch, seq, hidden]` split into heads of `heads`, or a located error.
    fn split_heads(
        &self,
        n: &NodeProto,
        idx: usize,
        what: &str,
        s: &[u64],
        heads: u64,
    ) -> Result<(u64, u64, u64)> {
        match *s {
            [b, l, h] if heads > 0 && h % heads == 0 => Ok((b, l, h / heads)),
            _ => Err(self.err(
                n,
                idx,
                format!(
                    "{what} {s:?} must be [batch, sequence, heads x head size] with {heads} heads"
                ),
            )),
        }
    }

    /// `MultiHeadAttention` and `GroupQueryAttention` on projected Q/K/V.
    fn projected_attention(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let gqa = n.op_type == "GroupQueryAttention";
        let heads = self.positive_attr(n, idx, "num_heads")?;
        let kv_heads = if gqa {
            self.positive_attr(n, idx, "kv_num_heads")?
        } else {
            heads
        };
        if heads % kv_heads != 0 {
            return Err(self.err(
                n,
                idx,
                format!("num_heads {heads} must be a multiple of kv_num_heads {kv_heads}"),
            ));
        }
        let q = self.in_shape(n, 0, idx)?;
        let has = |i: usize| n.input.get(i).is_some_and(|s| !s.is_empty());
        // Without K and V, GQA's query input is packed: [batch, seq, (heads + 2 kv_heads) x head].
        let (batch, q_len, head, kv_len, v_head) = if has(1) {
            let (batch, q_len, head) = self.split_heads(n, idx, "query", &q, heads)?;
            let k = self.in_shape(n, 1, idx)?;
            let (_, kv_len, k_head) = self.split_heads(n, idx, "key", &k, kv_heads)?;
            let v = self.in_shape(n, 2, idx)?;
            let (_, _, v_head) = self.split_heads(n, idx, "value", &v, kv_heads)?;
            if k_head != head {
                return Err(self.err(
                    n,
                    idx,
                    format!("query {q:?} and key {k:?} head sizes differ"),
                ));
            }
            (batch, q_len, head, kv_len, v_head)
        } else if !gqa {
            // ONNX Runtime refuses a 3-D packed QKV here (its 5-D packed layouts are not read).
            return Err(self.err(
                n,
                idx,
                "MultiHeadAttention without key and value: vchip reads separate [batch, seq, hidden] Q, K and V".into(),
            ));
        } else {
            let (batch, q_len, head) = self.split_heads(
                n,
                idx,
                "packed query",
                &q,
                self.fits(
                    n,
                    idx,
                    kv_heads.checked_mul(2).and_then(|kv| kv.checked_add(heads)),
                    "num_heads + 2 x kv_num_heads",
                )?,
            )?;
            (batch, q_len, head, q_len, head)
        };
        let past_k = if gqa { 3 } else { 6 };
        let past_len = if has(past_k) {
            let p = self.in_shape(n, past_k, idx)?;
            match p.as_slice() {
                [_, _, len, _] => *len,
                _ => return Err(self.err(n, idx, format!("past_key {p:?} must be 4-D"))),
            }
        } else {
            0
        };
        let total = self.fits(n, idx, past_len.checked_add(kv_len), "past + new sequence")?;
        let width = self.fits(n, idx, heads.checked_mul(v_head), "num_heads x head size")?;
        let outs = vec![
            vec![batch, q_len, width],
            vec![batch, kv_heads, total, head],
            vec![batch, kv_heads, total, v_head],
        ];
        // Masks, sequence lengths and rotary caches are constants; MultiHeadAttention's bias
        // (input 3) is a weight.
        let consts: Vec<usize> = ((if gqa { 5 } else { 4 })..n.input.len()).collect();
        let kind = OpKind::Attention {
            batch,
            heads,
            kv_heads,
            q_len,
            kv_len: total,
            head_dim: (head + v_head).div_ceil(2),
            causal: gqa || attr_i(n, "unidirectional", 0) != 0,
        };
        let rows = self.fits(n, idx, batch.checked_mul(q_len), "batch x sequence")?;
        let slots = if gqa { [7, 8] } else { [usize::MAX; 2] };
        self.emit_with_rotary_rows(n, idx, kind, &consts, slots, rows, outs)
    }

    /// Emits the node with its rotary cos/sin caches (inputs `slots`, `[positions, width]`
    /// tables) read through row lookups for the `rows` positions it rotates, as ONNX Runtime's
    /// kernels gather them: the tables stay constants, but a step reads its rows, not the whole
    /// tables.
    #[allow(clippy::too_many_arguments)]
    fn emit_with_rotary_rows(
        &mut self,
        n: &NodeProto,
        idx: usize,
        kind: OpKind,
        consts: &[usize],
        slots: [usize; 2],
        rows: u64,
        outs: Vec<Vec<u64>>,
    ) -> Result<()> {
        let (mut acts, mut weights) = self.operands(n, consts)?;
        let name = self.op_name(n, idx);
        for (slot, which) in slots.into_iter().zip(["cos_cache", "sin_cache"]) {
            let Some(table) = n.input.get(slot).filter(|s| !s.is_empty()).cloned() else {
                continue;
            };
            let Some(Val::Param { shape, .. }) = self.vals.get(table.as_str()).cloned() else {
                continue;
            };
            let (Some(id), &[_, width]) = (
                self.param_id(&table, TensorRole::Constant)?,
                shape.as_slice(),
            ) else {
                continue;
            };
            weights.retain(|&w| w != id);
            let out = self
                .b
                .push_op(
                    format!("{name}.{which}"),
                    OpKind::Embedding { rows, dim: width },
                    vec![],
                    vec![id],
                    vec![vec![rows, width]],
                )
                .map_err(|e| self.err(n, idx, e.to_string()))?;
            acts.extend(out);
        }
        self.emit_operands(n, idx, kind, acts, weights, outs)
    }

    /// `Attention(input, weights, [bias], [mask_index], [past], [attention_bias], ...)`: the
    /// packed QKV projection, then the core.
    fn packed_attention(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let heads = self.positive_attr(n, idx, "num_heads")?;
        let x = self.in_shape(n, 0, idx)?;
        let w = self.in_shape(n, 1, idx)?;
        let (&[batch, seq, d_in], &[w_in, w_out]) = (x.as_slice(), w.as_slice()) else {
            return Err(self.err(
                n,
                idx,
                format!("input {x:?} must be [batch, seq, hidden] and weights {w:?} [hidden, 3 x hidden]"),
            ));
        };
        // Q, K and V widths: qkv_hidden_sizes, or three equal thirds.
        let sizes = attr_ints(n, "qkv_hidden_sizes").unwrap_or_default();
        let (dq, dk, dv) = match sizes.as_slice() {
            [q, k, v] if *q > 0 && *k > 0 && *v > 0 => (*q as u64, *k as u64, *v as u64),
            [] if w_out % 3 == 0 => (w_out / 3, w_out / 3, w_out / 3),
            _ => {
                return Err(self.err(
                    n,
                    idx,
                    format!(
                        "weights {w:?} are not three equal parts and qkv_hidden_sizes is {sizes:?}"
                    ),
                ))
            }
        };
        let widths = dq.checked_add(dk).and_then(|x| x.checked_add(dv));
        if w_in != d_in || widths != Some(w_out) || dq != dk || dq % heads != 0 || dv % heads != 0 {
            return Err(self.err(
                n,
                idx,
                format!("input {x:?}, weights {w:?}, Q/K/V widths {dq}/{dk}/{dv} and {heads} heads do not fit together"),
            ));
        }
        let (head, v_head) = (dq / heads, dv / heads);
        let past_len = match n.input.get(4).filter(|s| !s.is_empty()) {
            Some(_) => {
                let p = self.in_shape(n, 4, idx)?;
                match p.as_slice() {
                    [2, _, _, len, _] => *len,
                    _ => {
                        return Err(self.err(
                            n,
                            idx,
                            format!("past {p:?} must be [2, batch, heads, seq, head]"),
                        ))
                    }
                }
            }
            None => 0,
        };
        let total = self.fits(n, idx, past_len.checked_add(seq), "past + new sequence")?;
        let name = self.op_name(n, idx);
        let input = match self.vals.get(n.input[0].as_str()) {
            Some(Val::Act(id)) => vec![*id],
            _ => vec![],
        };
        let mut weights = Vec::new();
        for i in [1, 2] {
            if let Some(s) = n.input.get(i).filter(|s| !s.is_empty()) {
                if let Some(id) = self.param_id(s, TensorRole::Weight)? {
                    weights.push(id);
                }
            }
        }
        let qkv = self
            .b
            .push_op(
                format!("{name}.qkv"),
                OpKind::MatMul(Gemm {
                    batch: 1,
                    m: self.fits(n, idx, batch.checked_mul(seq), "batch x sequence")?,
                    n: w_out,
                    k: d_in,
                }),
                input,
                weights,
                vec![vec![batch, seq, w_out]],
            )
            .map_err(|e| self.err(n, idx, e.to_string()))?;
        let mut acts = qkv;
        if let Some(Val::Act(past)) = n.input.get(4).and_then(|s| self.vals.get(s.as_str())) {
            acts.push(*past);
        }
        let mut outs = vec![vec![batch, seq, dv]];
        if n.output.get(1).is_some_and(|o| !o.is_empty()) {
            outs.push(vec![2, batch, heads, total, head.max(v_head)]);
        }
        let ids = self
            .b
            .push_op(
                name,
                OpKind::Attention {
                    batch,
                    heads,
                    kv_heads: heads,
                    q_len: seq,
                    kv_len: total,
                    head_dim: (head + v_head).div_ceil(2),
                    causal: attr_i(n, "unidirectional", 0) != 0,
                },
                acts,
                vec![],
                outs,
            )
            .map_err(|e| self.err(n, idx, e.to_string()))?;
        let named = n.output.iter().filter(|o| !o.is_empty());
        for (o, id) in named.zip(ids) {
            self.vals.insert(o.clone(), Val::Act(id));
        }
        Ok(())
    }

    /// `SkipLayerNormalization(input, skip, gamma, [beta], [bias])` and the simplified (RMS)
    /// form `(input, skip, gamma, [bias])`: outputs the normalised sum, then optional mean and
    /// inverse deviation (`[..., 1]`) and the sum itself.
    /// `EmbedLayerNormalization`: one row lookup per token in each table (word, position,
    /// segment), then the sum's LayerNorm. Outputs: `[batch, seq, hidden]`, the mask index
    /// `[batch]` (int32) and, when named, the embedding sum.
    fn embed_layer_norm(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let ids = self.in_shape(n, 0, idx)?;
        let &[batch, seq] = ids.as_slice() else {
            return Err(self.err(
                n,
                idx,
                format!("input_ids {ids:?} must be [batch, sequence]"),
            ));
        };
        let word = self.in_shape(n, 2, idx)?;
        let &[_, hidden] = word.as_slice() else {
            return Err(self.err(
                n,
                idx,
                format!("word_embedding {word:?} must be [vocab, hidden]"),
            ));
        };
        let has = |i: usize| n.input.get(i).is_some_and(|s| !s.is_empty());
        for (slot, what) in [(3, "position_embedding"), (5, "gamma")] {
            if !has(slot) {
                return Err(self.err(n, idx, format!("input {what} is missing")));
            }
        }
        if has(1) != has(4) {
            return Err(self.err(
                n,
                idx,
                "segment_ids and segment_embedding come together (one is missing)".into(),
            ));
        }
        for (slot, what) in [(1, "segment_ids"), (7, "mask")] {
            if has(slot) {
                let s = self.in_shape(n, slot, idx)?;
                if s != ids {
                    return Err(self.err(
                        n,
                        idx,
                        format!("{what} {s:?} must have input_ids' shape {ids:?}"),
                    ));
                }
            }
        }
        for (slot, what) in [(5, "gamma"), (6, "beta")] {
            if has(slot) {
                let s = self.in_shape(n, slot, idx)?;
                if s != [hidden] {
                    return Err(self.err(
                        n,
                        idx,
                        format!("{what} {s:?} must be [{hidden}], the embedding width"),
                    ));
                }
            }
        }
        let positions = self.in_shape(n, 3, idx)?;
        if !has(8) && positions.first().is_some_and(|&p| p < seq) {
            return Err(self.err(
                n,
                idx,
                format!(
                    "position_embedding {positions:?} has fewer rows than the sequence ({seq}); use a shorter --seq"
                ),
            ));
        }
        let rows = self.fits(n, idx, batch.checked_mul(seq), "batch x sequence")?;
        let name = self.op_name(n, idx);
        let mut sums = Vec::new();
        for (slot, table, index) in [(2, "word", 0), (3, "position", 8), (4, "segment", 1)] {
            let Some(tname) = n.input.get(slot).filter(|s| !s.is_empty()).cloned() else {
                continue;
            };
            let t = self.in_shape(n, slot, idx)?;
            if t.len() != 2 || t[1] != hidden {
                return Err(self.err(
                    n,
                    idx,
                    format!("{table}_embedding {t:?} must be [rows, {hidden}] like word_embedding"),
                ));
            }
            let Some(w) = self.param_id(&tname, TensorRole::Weight)? else {
                return Err(self.err(
                    n,
                    idx,
                    format!("{table}_embedding `{tname}` must be a weight"),
                ));
            };
            let acts: Vec<TensorId> = match self.input(n, index) {
                Some(Val::Act(id)) => vec![*id],
                _ => vec![],
            };
            let out = self
                .b
                .push_op(
                    format!("{name}.{table}"),
                    OpKind::Embedding { rows, dim: hidden },
                    acts,
                    vec![w],
                    vec![vec![batch, seq, hidden]],
                )
                .map_err(|e| self.err(n, idx, e.to_string()))?;
            sums.extend(out);
        }
        let mut weights = Vec::new();
        for slot in [5, 6] {
            if let Some(w) = n.input.get(slot).filter(|s| !s.is_empty()).cloned() {
                weights.extend(self.param_id(&w, TensorRole::Weight)?);
            }
        }
        let kind = OpKind::Norm {
            kind: NormKind::Layer,
            elems: numel(&[batch, seq, hidden]),
        };
        let outs = vec![
            vec![batch, seq, hidden],
            vec![batch],
            vec![batch, seq, hidden],
        ];
        self.emit_operands(n, idx, kind, sums, weights, outs)
    }

    fn skip_norm(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let skip = self.in_shape(n, 1, idx)?;
        if broadcast(&x, &skip).as_deref() != Some(x.as_slice()) {
            return Err(self.err(
                n,
                idx,
                format!("skip {skip:?} does not broadcast to input {x:?}"),
            ));
        }
        let kind = if n.op_type == "SkipLayerNormalization" {
            NormKind::Layer
        } else {
            NormKind::Rms
        };
        let mut stat = x.clone();
        if let Some(last) = stat.last_mut() {
            *last = 1;
        }
        let outs = vec![x.clone(), stat.clone(), stat, x.clone()];
        let elems = numel(&x);
        self.emit(n, idx, OpKind::Norm { kind, elems }, &[], outs)
    }
}
