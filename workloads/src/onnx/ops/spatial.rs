//! Spatial ops beyond convolution and pooling: ConvTranspose, SpaceToDepth/DepthToSpace,
//! Col2Im, RoiAlign, MaxUnpool, the window functions, Det and ReverseSequence.

use super::*;

impl Importer<'_> {
    /// `ConvTranspose(X, W, [B])`: each input pixel scatters a `C_out × k` patch; costed as the
    /// matrix product that makes the patches (`N·H·W × C_in/g` by `C_in/g × C_out/g·k` per group).
    pub(super) fn conv_transpose(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let w = self.in_shape(n, 1, idx)?;
        let nd = x.len().saturating_sub(2);
        if nd == 0 || w.len() != x.len() {
            return Err(self.err(
                n,
                idx,
                format!("input {x:?} and weight {w:?} must both be [N/C, C, *spatial]"),
            ));
        }
        let group = attr_i(n, "group", 1);
        if group < 1 {
            return Err(self.err(n, idx, format!("group {group} must be at least 1")));
        }
        let group = group as u64;
        for name in ["strides", "dilations"] {
            if attr_ints(n, name).is_some_and(|v| v.iter().any(|&d| !(1..=1 << 20).contains(&d))) {
                return Err(self.err(n, idx, format!("`{name}` must be in 1..=2^20")));
            }
        }
        if x[1] != w[0] || x[1] % group != 0 {
            return Err(self.err(
                n,
                idx,
                format!(
                    "weight {w:?} must have the input's {} channels, divisible by group {group}",
                    x[1]
                ),
            ));
        }
        let per_axis = |name: &str, default: i64| -> Vec<i64> {
            let v = attr_ints(n, name).unwrap_or_default();
            (0..nd)
                .map(|i| v.get(i).copied().unwrap_or(default).clamp(0, 1 << 20))
                .collect()
        };
        let (st, dil, opad) = (
            per_axis("strides", 1),
            per_axis("dilations", 1),
            per_axis("output_padding", 0),
        );
        let pads = attr_ints(n, "pads").unwrap_or_default();
        let pad = |i: usize| pads.get(i).copied().unwrap_or(0).clamp(0, 1 << 20);
        let k = &w[2..];
        let spatial: Vec<u64> = match attr_ints(n, "output_shape").filter(|v| !v.is_empty()) {
            Some(v) => v[v.len().saturating_sub(nd)..]
                .iter()
                .map(|&d| d.max(1) as u64)
                .collect(),
            None if attr_s(n, "auto_pad").starts_with("SAME") => {
                (0..nd).map(|i| x[2 + i] * st[i].max(1) as u64).collect()
            }
            None => {
                let dims: Option<Vec<u64>> = (0..nd)
                    .map(|i| {
                        let v = st[i] * (x[2 + i] as i64 - 1)
                            + opad[i]
                            + (k[i] as i64 - 1) * dil[i]
                            + 1
                            - pad(i)
                            - pad(i + nd);
                        (v > 0).then_some(v as u64)
                    })
                    .collect();
                dims.ok_or_else(|| {
                    self.err(n, idx, format!("pads leave no output for input {x:?}"))
                })?
            }
        };
        let c_out = w[1] * group;
        let mut out = vec![x[0], c_out];
        out.extend(&spatial);
        let gemm = Gemm {
            batch: group,
            m: x[0] * x[2..].iter().product::<u64>(),
            k: x[1] / group,
            n: w[1] * k.iter().product::<u64>(),
        };
        self.emit(n, idx, OpKind::MatMul(gemm), &[], vec![out])
    }

    /// SpaceToDepth / DepthToSpace: a reshuffle by `blocksize`.
    pub(super) fn space_depth(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let b = attr_i(n, "blocksize", 0);
        if x.len() != 4 || b < 1 {
            return Err(self.err(
                n,
                idx,
                format!("needs an NCHW input and blocksize >= 1, got {x:?} and {b}"),
            ));
        }
        let b = b as u64;
        let out = if n.op_type == "SpaceToDepth" {
            if x[2] % b != 0 || x[3] % b != 0 {
                return Err(self.err(n, idx, format!("{x:?} is not divisible by blocksize {b}")));
            }
            vec![x[0], x[1] * b * b, x[2] / b, x[3] / b]
        } else {
            if x[1] % (b * b) != 0 {
                return Err(self.err(n, idx, format!("{x:?} channels not divisible by {b}²")));
            }
            vec![x[0], x[1] / (b * b), x[2] * b, x[3] * b]
        };
        self.movement(n, idx, MoveKind::Transpose, out)
    }

    /// Ops whose output is the first input's shape (LRN, LpNormalization, ReverseSequence).
    pub(super) fn same_shape_norm(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let elems = numel(&x);
        let kind = if matches!(n.op_type.as_str(), "ReverseSequence" | "EyeLike") {
            OpKind::DataMovement {
                kind: MoveKind::Copy,
                elems,
            }
        } else {
            OpKind::Norm {
                kind: NormKind::Layer,
                elems,
            }
        };
        self.emit(n, idx, kind, &[], vec![x])
    }

    /// Shapes given by a constant input or an attribute: Col2Im, RoiAlign, MaxUnpool, the window
    /// functions, Det.
    pub(super) fn shaped_by_inputs(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let out = match self.shape_from_inputs(n, idx, &x) {
            Ok(out) => out,
            // Sizes known only at run time: a declared output shape still says the result.
            Err(e) => self.declared_full(n, 0).ok_or(e)?,
        };
        let elems = numel(&out).max(numel(&x));
        self.emit(
            n,
            idx,
            OpKind::Elementwise {
                op: EltOp::Other,
                elems,
            },
            &[1, 2],
            vec![out],
        )
    }

    fn shape_from_inputs(&self, n: &NodeProto, idx: usize, x: &[u64]) -> Result<Vec<u64>> {
        let op = n.op_type.as_str();
        let need = |what: &str| self.err(n, idx, format!("{op} needs {what}"));
        Ok(match op {
            "Col2Im" => {
                let image = self
                    .ints(n, 1)
                    .ok_or_else(|| need("a constant image_shape"))?;
                let block = self
                    .ints(n, 2)
                    .ok_or_else(|| need("a constant block_shape"))?;
                let per: i64 = block.iter().product();
                if x.len() != 3 || per <= 0 || !x[1].is_multiple_of(per as u64) {
                    return Err(need("an input [N, C·prod(block_shape), L]"));
                }
                let mut o = vec![x[0], x[1] / per as u64];
                o.extend(image.iter().map(|&d| d.max(1) as u64));
                o
            }
            "RoiAlign" => {
                let rois = self.in_shape(n, 1, idx)?;
                if x.len() != 4 || rois.len() != 2 {
                    return Err(need("an NCHW input and rois [R, 4]"));
                }
                let oh = attr_i(n, "output_height", 1).max(1) as u64;
                let ow = attr_i(n, "output_width", 1).max(1) as u64;
                vec![rois[0], x[1], oh, ow]
            }
            "MaxUnpool" => match self.ints(n, 2) {
                Some(s) => s.iter().map(|&d| d.max(1) as u64).collect(),
                // An output_shape known only at run time: the declared output, or nothing.
                None if n.input.get(2).is_some_and(|s| !s.is_empty()) => {
                    self.declared_full(n, 0)
                        .ok_or_else(|| need("a constant output_shape or a declared output"))?
                }
                None => {
                    let nd = x.len().saturating_sub(2);
                    let ks = attr_ints(n, "kernel_shape").ok_or_else(|| need("kernel_shape"))?;
                    let st = attr_ints(n, "strides").unwrap_or_default();
                    let pads = attr_ints(n, "pads").unwrap_or_default();
                    let mut o = x[..2].to_vec();
                    for i in 0..nd {
                        let s = st.get(i).copied().unwrap_or(1);
                        let k = ks.get(i).copied().unwrap_or(1);
                        let p = pads.get(i).copied().unwrap_or(0)
                            + pads.get(i + nd).copied().unwrap_or(0);
                        let v = (x[2 + i] as i64 - 1) * s + k - p;
                        o.push(v.max(1) as u64);
                    }
                    o
                }
            },
            "BlackmanWindow" | "HammingWindow" | "HannWindow" => match self.ints(n, 0).as_deref() {
                Some([size]) if *size > 0 => vec![*size as u64],
                _ => return Err(need("a constant size")),
            },
            // Det: the determinant of each trailing square matrix.
            _ => {
                if x.len() < 2 || x[x.len() - 1] != x[x.len() - 2] {
                    return Err(need("square trailing matrices"));
                }
                x[..x.len() - 2].to_vec()
            }
        })
    }

    /// Einsum on one operand: a transpose (`ij->ji`), a diagonal or a reduction (`ij->i`).
    pub(super) fn einsum_unary(
        &mut self,
        n: &NodeProto,
        idx: usize,
        term: &str,
        rhs: &str,
    ) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        if term.chars().count() != x.len() {
            return Err(self.err(n, idx, format!("`{term}` does not match shape {x:?}")));
        }
        let size: std::collections::BTreeMap<char, u64> =
            term.chars().zip(x.iter().copied()).collect();
        let out: Option<Vec<u64>> = rhs.chars().map(|c| size.get(&c).copied()).collect();
        let out = out.ok_or_else(|| {
            self.err(
                n,
                idx,
                format!("output `{rhs}` names an index `{term}` lacks"),
            )
        })?;
        let kind = OpKind::Reduce {
            elems_in: numel(&x),
            elems_out: numel(&out),
        };
        self.emit(n, idx, kind, &[], vec![out])
    }

    /// RNN / GRU / LSTM over a whole sequence: per step and direction, the gates' product of
    /// `[x_t, h_{t-1}]` with the weights (1, 3 or 4 gates). Outputs Y, Y_h (and Y_c).
    pub(super) fn recurrent(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let w = self.in_shape(n, 1, idx)?;
        let gates: u64 = match n.op_type.as_str() {
            "LSTM" => 4,
            "GRU" => 3,
            _ => 1,
        };
        let hidden = attr_i(n, "hidden_size", 0);
        if x.len() != 3 || w.len() != 3 || hidden <= 0 || w[1] != gates * hidden as u64 {
            return Err(self.err(
                n,
                idx,
                format!(
                    "X {x:?} must be 3-D and W {w:?} [directions, {gates}·hidden_size, input] with hidden_size {hidden}"
                ),
            ));
        }
        let hidden = hidden as u64;
        let dirs = w[0];
        let direction = attr_s(n, "direction");
        let want_dirs = match direction.as_str() {
            "" | "forward" | "reverse" => 1,
            "bidirectional" => 2,
            other => {
                return Err(self.err(
                    n,
                    idx,
                    format!("direction `{other}`: use forward, reverse or bidirectional"),
                ))
            }
        };
        if dirs != want_dirs || w[2] != x[2] {
            return Err(self.err(
                n,
                idx,
                format!(
                    "W {w:?} must be [{want_dirs} directions, {gates}·hidden, {} inputs] for X {x:?}",
                    x[2]
                ),
            ));
        }
        let batch_first = attr_i(n, "layout", 0) == 1;
        let (seq, batch) = if batch_first {
            (x[1], x[0])
        } else {
            (x[0], x[1])
        };
        let y = if batch_first {
            vec![batch, seq, dirs, hidden]
        } else {
            vec![seq, dirs, batch, hidden]
        };
        let state = if batch_first {
            vec![batch, dirs, hidden]
        } else {
            vec![dirs, batch, hidden]
        };
        let outs: Vec<Vec<u64>> = [y, state.clone(), state]
            .into_iter()
            .take(n.output.len().clamp(1, if gates == 4 { 3 } else { 2 }))
            .collect();
        let gemm = Gemm {
            batch: seq * dirs,
            m: batch,
            k: x[2] + hidden,
            n: gates * hidden,
        };
        self.emit(n, idx, OpKind::MatMul(gemm), &[], outs)
    }
}
