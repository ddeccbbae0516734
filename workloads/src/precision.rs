//! Per-layer precision policies, e.g. `w4a8`, `bf16`, or `int8;*fc*=f32;layer4.*=w4a8`.
//!
//! A policy is a default followed by `;PATTERN=POLICY` overrides (the last matching override wins).
//! POLICY is a dtype name for weights and activations alike, or `wXaY` with bit widths 4, 8, 16, 32
//! (4 → int4, 8 → int8, 16 → f16, 32 → f32). PATTERN matches hierarchical op names with `*` wildcards.
//! Quantization-aware NAS sweeps exactly this.

use crate::error::{Result, WorkloadError};
use crate::ir::{DType, TensorRole, Trace};

#[derive(Clone, Debug, PartialEq)]
pub struct Precision {
    pub weights: DType,
    pub activations: DType,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PrecisionPolicy {
    pub default: Precision,
    pub overrides: Vec<(String, Precision)>,
}

fn bits_dtype(bits: &str) -> Option<DType> {
    Some(match bits {
        "4" => DType::Int4,
        "8" => DType::Int8,
        "16" => DType::F16,
        "32" => DType::F32,
        _ => return None,
    })
}

fn parse_one(s: &str) -> Option<Precision> {
    let s = s.trim().to_ascii_lowercase();
    if let Some(rest) = s.strip_prefix('w') {
        if let Some((w, a)) = rest.split_once('a') {
            return Some(Precision {
                weights: bits_dtype(w)?,
                activations: bits_dtype(a)?,
            });
        }
    }
    let d = DType::parse(&s).filter(|d| *d != DType::Int64)?;
    Some(Precision {
        weights: d,
        activations: d,
    })
}

impl PrecisionPolicy {
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |part: &str| {
            WorkloadError::Option(format!(
                "--precision: cannot read `{part}`. Fix: use a dtype (f32, f16, bf16, fp8, fp8-e5m2, int8, int4) or wXaY with X, Y in 4/8/16/32, then optional `;PATTERN=POLICY` overrides"
            ))
        };
        let mut parts = s.split(';');
        let head = parts.next().unwrap_or("");
        let default = parse_one(head).ok_or_else(|| bad(head))?;
        let mut overrides = Vec::new();
        for p in parts.filter(|p| !p.trim().is_empty()) {
            let (pat, pol) = p.split_once('=').ok_or_else(|| bad(p))?;
            overrides.push((
                pat.trim().to_string(),
                parse_one(pol).ok_or_else(|| bad(p))?,
            ));
        }
        Ok(PrecisionPolicy { default, overrides })
    }

    pub fn for_op(&self, name: &str) -> &Precision {
        self.overrides
            .iter()
            .rev()
            .find(|(p, _)| glob(p, name))
            .map_or(&self.default, |(_, pr)| pr)
    }

    /// Rewrites dtypes in place: each op's weights and outputs, and the network inputs
    /// (integer ids keep their type).
    pub fn apply(&self, trace: &mut Trace) {
        for t in trace.tensors.iter_mut() {
            if t.role == TensorRole::Input && t.dtype != DType::Int64 {
                t.dtype = self.default.activations;
            }
            if t.role == TensorRole::KvCache {
                t.dtype = self.default.activations;
            }
        }
        // Weights no op of this trace reads (the experts a decode step does not route to) are
        // still resident: stored at the precision their name asks for, else the default.
        if self.overrides.is_empty() {
            // One precision for all: read or not, every weight gets the default (the op loop
            // below sets the read ones to the same).
            for t in trace.tensors.iter_mut() {
                if t.role == TensorRole::Weight {
                    t.dtype = self.default.weights;
                }
            }
        } else {
            let mut read = vec![false; trace.tensors.len()];
            for op in &trace.ops {
                for w in &op.weights {
                    read[w.0 as usize] = true;
                }
            }
            for (t, read) in trace.tensors.iter_mut().zip(read) {
                if t.role == TensorRole::Weight && !read {
                    t.dtype = self.for_op(&t.name).weights;
                }
            }
        }
        let Trace { ops, tensors, .. } = trace;
        for op in ops.iter_mut() {
            let (weights, activations) = {
                let pr = self.for_op(&op.name);
                (pr.weights, pr.activations)
            };
            op.dtype = activations;
            for w in &op.weights {
                tensors[w.0 as usize].dtype = weights;
            }
            for o in &op.outputs {
                tensors[o.0 as usize].dtype = activations;
            }
        }
    }
}

/// Glob with `*` only, matching the whole name.
pub fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}
