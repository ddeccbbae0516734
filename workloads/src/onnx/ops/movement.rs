//! Data movement with shape arithmetic: Concat, Split, Slice, Gather/GatherElements/GatherND.

use super::*;

impl Importer<'_> {
    pub(super) fn concat(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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
    pub(super) fn infer_missing_concat_operand(&mut self, n: &NodeProto) {
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

    pub(super) fn split(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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

    pub(super) fn slice(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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
        // Axes or steps given but only known at run time: the declared output or an error,
        // never the defaults.
        let given = |i: usize| n.input.get(i).is_some_and(|s| !s.is_empty());
        if (axes.is_none() && given(3)) || (steps.is_none() && given(4)) {
            let out = self.declared_full(n, 0).ok_or_else(|| {
                self.err(
                    n,
                    idx,
                    "Slice needs constant axes and steps (or a declared output shape)".into(),
                )
            })?;
            return self.movement(n, idx, MoveKind::Slice, out);
        }
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
            // max-then-min rather than clamp: an empty axis (d = 0) has lo > hi.
            let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
            let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
            let (s, e) = if step > 0 {
                (clamp(norm(starts[i]), 0, d), clamp(norm(ends[i]), 0, d))
            } else {
                // ONNX: with a negative step, starts clamp to [0, d - 1], ends to [-1, d - 1].
                (
                    clamp(norm(starts[i]), 0, d - 1),
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
        if let Some(Val::Const {
            ints: Some(v),
            dtype,
            ..
        }) = self.input(n, 0).cloned()
        {
            if self.all_const(n) {
                // Shape arithmetic sliced in any rank (Swin's pads: a [4, 2] table reversed).
                let mut start = vec![0i64; x.len()];
                let mut step = vec![1i64; x.len()];
                for &(ax, s, _, st) in &ranges {
                    start[ax] = s;
                    step[ax] = st;
                }
                let vals = fold_index_map(&x, &out, &v, |o, i| start[o] + i * step[o], |o| o);
                self.set_const(n, out, dtype, vals);
                return Ok(());
            }
        }
        if out.contains(&0) {
            return Err(self.err(n, idx, format!("slice of {x:?} is empty")));
        }
        self.movement(n, idx, MoveKind::Slice, out)
    }

    pub(super) fn gather(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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

/// Values of a constant tensor of shape `out` whose element at multi-index `o` is the input's
/// (shape `x`, values `v` row-major) element at index `pick(axis_of(d), o[d])` along each input
/// axis `axis_of(d)`: slices (`axis_of` = identity) and transposes (`axis_of` = perm) alike.
/// `None` when an index falls outside the input or the value list does not match its shape.
pub(in crate::onnx) fn fold_index_map(
    x: &[u64],
    out: &[u64],
    v: &[i64],
    pick: impl Fn(usize, i64) -> i64,
    axis_of: impl Fn(usize) -> usize,
) -> Option<Vec<i64>> {
    let total: u64 = out.iter().product();
    if x.iter().product::<u64>() != v.len() as u64 || total > MAX_FOLD || out.len() != x.len() {
        return None;
    }
    let mut strides = vec![1i64; x.len()];
    for d in (0..x.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * x[d + 1] as i64;
    }
    let mut idx = vec![0u64; out.len()];
    let mut vals = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut flat = 0i64;
        for (d, &i) in idx.iter().enumerate() {
            let a = axis_of(d);
            let j = pick(a, i as i64);
            if j < 0 || j >= x[a] as i64 {
                return None;
            }
            flat += j * strides[a];
        }
        vals.push(*v.get(flat as usize)?);
        for d in (0..out.len()).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Some(vals)
}
