//! Windows and reductions: 1- to 3-D pooling and the Reduce*/Arg* family.

use super::*;

impl Importer<'_> {
    /// 1-, 2- and 3-D pooling: each spatial axis by ONNX's rule (`pool_out`); the cost record
    /// folds the leading spatial axes into its height so every rank is costed by its windows.
    pub(super) fn pool(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        if !(3..=5).contains(&x.len()) {
            return Err(self.err(
                n,
                idx,
                format!("pooling needs N, C and 1 to 3 spatial dims, input {x:?}"),
            ));
        }
        let nd = x.len() - 2;
        // One positive value per spatial axis (a single value stands for all); pads >= 0.
        let per_axis = |name: &str, default: i64| -> Result<Vec<u64>> {
            let v = attr_ints(n, name)
                .filter(|v| !v.is_empty())
                .unwrap_or_default();
            if !(v.is_empty() || v.len() == 1 || v.len() == nd)
                || v.iter().any(|&d| !(1..=1 << 20).contains(&d))
            {
                return Err(self.err(
                    n,
                    idx,
                    format!(
                        "`{name}` {v:?} must give one value in 1..=2^20 per spatial axis of {x:?}"
                    ),
                ));
            }
            Ok((0..nd)
                .map(|i| v.get(i).or(v.first()).copied().unwrap_or(default) as u64)
                .collect())
        };
        let (ks, st, dil) = (
            per_axis("kernel_shape", 1)?,
            per_axis("strides", 1)?,
            per_axis("dilations", 1)?,
        );
        let pads = attr_ints(n, "pads").unwrap_or_default();
        if pads.iter().any(|&p| !(0..=1 << 20).contains(&p)) {
            return Err(self.err(n, idx, format!("pads {pads:?} must be in 0..=2^20")));
        }
        let p = |i: usize| pads.get(i).copied().unwrap_or(0) as u64;
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

    pub(super) fn reduce(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let keep = attr_i(n, "keepdims", 1) != 0;
        let unknown_axes = n.input.len() > 1
            && !n.input[1].is_empty()
            && self.ints(n, 1).is_none()
            && attr(n, "axes").is_none();
        let out = if unknown_axes {
            // Axes computed at run time: only a declared output shape says what is reduced.
            self.declared_full(n, 0).ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    format!(
                        "{} needs constant axes (vchip folds Shape/Gather/Concat chains) or a declared output shape",
                        n.op_type
                    ),
                )
            })?
        } else {
            let axes: Vec<usize> = if n.op_type.starts_with("Arg") {
                vec![axis(attr_i(n, "axis", 0), x.len()).unwrap_or(0)]
            } else {
                match attr_ints(n, "axes").or_else(|| self.ints(n, 1)) {
                    Some(a) if !a.is_empty() => {
                        a.iter().filter_map(|&a| axis(a, x.len())).collect()
                    }
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
            if out.is_empty() {
                vec![1]
            } else {
                out
            }
        };
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
}
