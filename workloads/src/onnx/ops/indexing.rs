//! Ops whose output shape comes from an index or a count: TopK, OneHot, Compress, GridSample,
//! CenterCropPad, and the quantisation family (QuantizeLinear, DequantizeLinear,
//! DynamicQuantizeLinear, QLinearMatMul, MatMulInteger). Each costs its element work; the output
//! dtypes are set by `dtypes.rs`.

use super::*;

impl Importer<'_> {
    /// An op that writes `out` element by element (fills, one-hot, crops): costed as a copy.
    pub(super) fn emit_copy(
        &mut self,
        n: &NodeProto,
        idx: usize,
        consts: &[usize],
        out: Vec<u64>,
    ) -> Result<()> {
        let elems = numel(&out);
        self.emit(
            n,
            idx,
            OpKind::DataMovement {
                kind: MoveKind::Copy,
                elems,
            },
            consts,
            vec![out],
        )
    }

    /// `TopK(X, K)`: values and indices with `k` along `axis`.
    pub(super) fn top_k(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let a = axis(attr_i(n, "axis", -1), x.len())
            .ok_or_else(|| self.err(n, idx, format!("axis out of range for {x:?}")))?;
        let out = match self.ints(n, 1).as_deref() {
            Some([k]) if *k >= 0 && (*k as u64) <= x[a] => {
                let mut o = x.clone();
                o[a] = *k as u64;
                o
            }
            Some(k) => {
                return Err(self.err(
                    n,
                    idx,
                    format!("k {k:?} must be one count within dimension {a} of {x:?}"),
                ))
            }
            None => self.declared_full(n, 0).ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    "TopK needs a constant k or a declared output shape".into(),
                )
            })?,
        };
        // A partial sort: every element is compared against the running top k.
        let kind = OpKind::Reduce {
            elems_in: numel(&x),
            elems_out: numel(&out),
        };
        self.emit(n, idx, kind, &[], vec![out; n.output.len().clamp(1, 2)])
    }

    /// `OneHot(indices, depth, values)`: the indices' shape with `depth` inserted at `axis`.
    pub(super) fn one_hot(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let ind = self.in_shape(n, 0, idx)?;
        let out = match self.ints(n, 1).as_deref() {
            Some([d]) if *d > 0 => {
                let r = ind.len() + 1;
                let a = axis(attr_i(n, "axis", -1), r)
                    .ok_or_else(|| self.err(n, idx, format!("axis out of range for rank {r}")))?;
                let mut o = ind.clone();
                o.insert(a, *d as u64);
                o
            }
            _ => self.declared_full(n, 0).ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    "OneHot needs a constant depth or a declared output shape".into(),
                )
            })?,
        };
        self.emit_copy(n, idx, &[1, 2], out)
    }

    /// Data-dependent output sizes (Compress, NonZero-like selections): only a declared output
    /// shape says them.
    pub(super) fn declared_selection(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let out = self.declared_full(n, 0).ok_or_else(|| {
            self.err(
                n,
                idx,
                format!(
                    "{}'s output size depends on the data; vchip needs a declared output shape",
                    n.op_type
                ),
            )
        })?;
        self.emit(
            n,
            idx,
            OpKind::DataMovement {
                kind: MoveKind::Gather,
                elems: numel(&x),
            },
            &[],
            vec![out],
        )
    }

    /// `GridSample(X, grid)`: `[N, C, *grid's spatial dims]`, four (2-D) or eight (3-D) reads per
    /// output element for the interpolation.
    pub(super) fn grid_sample(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let grid = self.in_shape(n, 1, idx)?;
        if x.len() < 3 || grid.len() != x.len() || grid.last() != Some(&((x.len() - 2) as u64)) {
            return Err(self.err(
                n,
                idx,
                format!(
                    "grid {grid:?} must be [N, *spatial, {}] for input {x:?}",
                    x.len().saturating_sub(2)
                ),
            ));
        }
        let mut out = vec![x[0], x[1]];
        out.extend(&grid[1..grid.len() - 1]);
        let corners = 1u64 << (x.len() - 2);
        let elems = numel(&out).saturating_mul(corners);
        self.emit(
            n,
            idx,
            OpKind::DataMovement {
                kind: MoveKind::Gather,
                elems,
            },
            &[],
            vec![out],
        )
    }

    /// `CenterCropPad(X, shape)`: the given dims along `axes` (all, by default).
    pub(super) fn center_crop_pad(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let out = match self.ints(n, 1) {
            Some(shape) => {
                let axes: Vec<usize> = match attr_ints(n, "axes") {
                    Some(a) => a.iter().filter_map(|&a| axis(a, x.len())).collect(),
                    None => (0..x.len()).collect(),
                };
                if axes.len() != shape.len() || shape.iter().any(|&d| d <= 0) {
                    return Err(self.err(
                        n,
                        idx,
                        format!("shape {shape:?} must give one positive size per axis {axes:?}"),
                    ));
                }
                let mut o = x.clone();
                for (a, d) in axes.iter().zip(&shape) {
                    o[*a] = *d as u64;
                }
                o
            }
            None => self
                .declared_full(n, 0)
                .ok_or_else(|| self.err(n, idx, "CenterCropPad needs a constant shape".into()))?,
        };
        self.emit_copy(n, idx, &[], out)
    }

    /// QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear: a scale (and zero point) per
    /// element; the dynamic form also outputs its scalar scale and zero point.
    pub(super) fn quantize(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let elems = numel(&x);
        let mut outs = vec![x];
        if n.op_type == "DynamicQuantizeLinear" {
            outs.extend(
                [vec![], vec![]]
                    .into_iter()
                    .take(n.output.len().saturating_sub(1)),
            );
        }
        self.emit(
            n,
            idx,
            OpKind::Elementwise {
                op: EltOp::Mul,
                elems,
            },
            &[1, 2],
            outs,
        )
    }

    /// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B) and
    /// ConvInteger(x, w, x_zp, w_zp): a convolution on integer operands, shaped and costed as
    /// Conv over (x, w, B); scales and zero points are per-channel bytes, not counted.
    pub(super) fn integer_conv(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let slots: &[usize] = if n.op_type == "QLinearConv" {
            &[0, 3, 8]
        } else {
            &[0, 1]
        };
        // An int32 bias small enough to be a folding constant is still a parameter here.
        if let Some(b) = n.input.get(8).filter(|b| !b.is_empty()) {
            if let Some(Val::Const { shape, dtype, .. }) = self.vals.get(b.as_str()).cloned() {
                self.vals.insert(
                    b.clone(),
                    Val::Param {
                        shape,
                        dtype,
                        id: None,
                    },
                );
            }
        }
        let conv = NodeProto {
            input: slots
                .iter()
                .filter_map(|&i| n.input.get(i).cloned())
                .collect(),
            op_type: "Conv".into(),
            // Unnamed, it is named after what it is (`QLinearConv_7`), not the stand-in.
            name: if n.name.is_empty() {
                format!("{}_{idx}", n.op_type)
            } else {
                n.name.clone()
            },
            ..n.clone()
        };
        let first = self.b.ops_len();
        self.conv(&conv, idx)?;
        self.b.set_op_dtypes_since(first, self.integer_precision(n));
        Ok(())
    }

    /// An integer operator computes at its data input's width (int8 unless int4).
    fn integer_precision(&self, n: &NodeProto) -> DType {
        match n.input.first().and_then(|x| self.vals.get(x.as_str())) {
            Some(Val::Act(id)) if self.b.tensor(*id).dtype == DType::Int4 => DType::Int4,
            _ => DType::Int8,
        }
    }

    /// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) and
    /// MatMulInteger(a, b, a_zp, b_zp): an integer matrix product.
    pub(super) fn integer_matmul(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let (ai, bi) = if n.op_type == "QLinearMatMul" {
            (0, 3)
        } else {
            (0, 1)
        };
        let a = self.in_shape(n, ai, idx)?;
        let b = self.in_shape(n, bi, idx)?;
        let (kind, out) = matmul_shape(&a, &b)
            .ok_or_else(|| self.err(n, idx, format!("cannot multiply {a:?} by {b:?}")))?;
        let consts: &[usize] = if n.op_type == "QLinearMatMul" {
            &[1, 2, 4, 5, 6, 7]
        } else {
            &[2, 3]
        };
        let first = self.b.ops_len();
        self.emit(n, idx, kind, consts, vec![out])?;
        self.b.set_op_dtypes_since(first, self.integer_precision(n));
        Ok(())
    }
}
