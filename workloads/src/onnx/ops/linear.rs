//! Products: Conv, Gemm, MatMul and two-operand Einsum.

use super::*;

impl Importer<'_> {
    pub(super) fn conv(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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

    pub(super) fn gemm(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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

    pub(super) fn matmul(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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

    pub(super) fn einsum(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
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
}
