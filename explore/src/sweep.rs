//! Design-space sweeps over hardware parameters.
//!
//! Any numeric key of the hardware YAML can be swept (`systolic.rows`, `buffers.ifmap.capacity_kib`,
//! `dram.bandwidth_gb_s`, ...). Value sets are lists (`32,64,128`), ranges (`16..128:16`) or geometric
//! ranges (`16..256:x2`); points are drawn by grid (cartesian product), random or Latin-hypercube
//! sampling with a fixed seed, so a sweep is a deterministic, indexable list of points. Everything
//! here is checked before any work starts.

use serde_json::Value;
use vchip_hwmodels::HardwareSpec;

use crate::ExploreError;

/// One swept key and its candidate values. A categorical axis (`systolic.dataflow=os,ws`, a
/// `precision`, the preset axis) has one label per value and its values are the labels' indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<f64>,
    /// Empty for a numeric axis.
    pub labels: Vec<String>,
}

/// The key of the preset axis (`--hw tpu-v1,edge-tpu-like`): its labels name the base
/// descriptions, its value picks one; every other axis applies to the base it picked.
pub const HW_AXIS: &str = "hw";

impl Axis {
    /// A categorical axis over `labels`.
    pub fn categorical(key: &str, labels: Vec<String>) -> Self {
        Axis {
            key: key.to_string(),
            values: (0..labels.len()).map(|i| i as f64).collect(),
            labels,
        }
    }

    pub fn is_categorical(&self) -> bool {
        !self.labels.is_empty()
    }

    /// The value as written in the table: the label of a categorical axis, else the number.
    pub fn label(&self, value: f64) -> String {
        match self.labels.get(value as usize) {
            Some(l) if self.is_categorical() => l.clone(),
            _ => format!("{value}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sampling {
    Grid,
    Random(usize),
    LatinHypercube(usize),
}

impl Sampling {
    pub fn parse(s: &str) -> Result<Self, ExploreError> {
        let bad = || {
            ExploreError::Sweep(format!(
                "--sample `{s}`: use grid, random:N or lhs:N with N >= 1"
            ))
        };
        let (kind, n) = s.split_once(':').map_or((s, None), |(k, n)| (k, Some(n)));
        let count = || {
            n.and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(bad)
        };
        match kind {
            "grid" if n.is_none() => Ok(Sampling::Grid),
            "random" => Ok(Sampling::Random(count()?)),
            "lhs" => Ok(Sampling::LatinHypercube(count()?)),
            _ => Err(bad()),
        }
    }
}

/// Largest number of points a sweep may have (a typo'd range must not exhaust memory).
pub const MAX_POINTS: usize = 50_000_000;

fn num(s: &str, what: &str) -> Result<f64, ExploreError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ExploreError::Sweep(format!("{what}: `{s}` is not a number")))
}

/// Parses `KEY=VALUES`.
pub fn parse_axis(spec: &str) -> Result<Axis, ExploreError> {
    let (key, vals) = spec.split_once('=').ok_or_else(|| {
        ExploreError::Sweep(format!(
            "--set `{spec}`: write KEY=VALUES, e.g. systolic.rows=32,64,128"
        ))
    })?;
    let key = key.trim().to_string();
    let what = format!("--set {key}");
    let vals = vals.trim();
    let values = if let Some((a, rest)) = vals.split_once("..") {
        let (b, step) = rest.split_once(':').map_or((rest, "1"), |(b, s)| (b, s));
        let (a, b) = (num(a, &what)?, num(b, &what)?);
        let mut out = Vec::new();
        if let Some(f) = step.strip_prefix('x') {
            let f = num(f, &what)?;
            if f <= 1.0 || a <= 0.0 {
                return Err(ExploreError::Sweep(format!(
                    "{what}: a geometric range needs a start > 0 and a factor > 1"
                )));
            }
            let mut v = a;
            while v <= b * (1.0 + 1e-12) && out.len() <= MAX_POINTS {
                out.push(v);
                v *= f;
            }
        } else {
            let step = num(step, &what)?;
            if step <= 0.0 {
                return Err(ExploreError::Sweep(format!(
                    "{what}: the step must be positive"
                )));
            }
            let n = ((b - a) / step + 1e-9).floor();
            if n >= MAX_POINTS as f64 {
                return Err(ExploreError::Sweep(format!(
                    "{what}: more than {MAX_POINTS} values"
                )));
            }
            if n >= 0.0 {
                out = (0..=n as usize).map(|i| a + i as f64 * step).collect();
            }
        }
        out
    } else {
        let items: Vec<&str> = vals
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        // A list that is not all numbers is categorical; `check_axes` refuses it on a numeric key.
        if !items.is_empty() && items.iter().any(|v| num(v, &what).is_err()) {
            let mut labels: Vec<String> = Vec::new();
            for v in items {
                if labels.iter().any(|l| l == v) {
                    return Err(ExploreError::Sweep(format!("{what}: `{v}` is given twice")));
                }
                labels.push(v.to_string());
            }
            return Ok(Axis::categorical(&key, labels));
        }
        let values: Vec<f64> = items
            .iter()
            .map(|v| num(v, &what))
            .collect::<Result<_, _>>()?;
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(ExploreError::Sweep(format!("{what}: `{v}` is given twice")));
            }
        }
        values
    };
    if values.is_empty() {
        return Err(ExploreError::Sweep(format!(
            "{what}: the value set `{vals}` is empty"
        )));
    }
    Ok(Axis {
        key,
        values,
        labels: Vec::new(),
    })
}

/// Checks every axis against every base description (one, or one per preset of the preset axis):
/// the key must exist (or be an optional key the schema accepts) and hold the axis's type, and
/// every value must make a valid description on its own.
pub fn check_axes(bases: &[HardwareSpec], axes: &[Axis]) -> Result<(), ExploreError> {
    if axes
        .iter()
        .map(|a| &a.key)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        != axes.len()
    {
        return Err(ExploreError::Sweep("--set: a key is given twice".into()));
    }
    for base in bases {
        let json = serde_json::to_value(base).map_err(|e| ExploreError::Sweep(e.to_string()))?;
        for a in axes.iter().filter(|a| a.key != HW_AXIS) {
            if IDENTITY_KEYS.contains(&a.key.as_str()) {
                return Err(ExploreError::Sweep(format!(
                    "--set {}: the key identifies the description; sweep presets with --hw a,b",
                    a.key
                )));
            }
            let wrong_type = match lookup(&json, &a.key) {
                Some(Value::Number(_)) if a.is_categorical() => Some("a number"),
                Some(Value::String(_)) if !a.is_categorical() => Some("text"),
                Some(Value::Number(_) | Value::String(_)) => None,
                Some(Value::Bool(_)) if a.labels.iter().all(|l| l == "true" || l == "false") => {
                    None
                }
                Some(Value::Bool(_)) => Some("true or false"),
                Some(Value::Object(_) | Value::Array(_)) => {
                    return Err(ExploreError::Sweep(format!(
                        "--set {}: the key is a section, not a value; sweep one of its keys",
                        a.key
                    )))
                }
                // Absent from (or unset in) this description: an optional key the schema
                // accepts is set; a misspelt one fails below with the list of what can be swept.
                None | Some(Value::Null) => {
                    let mut probe = json.clone();
                    let ok = set_value(&mut probe, a, a.values[0])
                        .ok()
                        .and_then(|_| serde_json::from_value::<HardwareSpec>(probe).ok())
                        .is_some();
                    if !ok {
                        let mut keys = Vec::new();
                        value_keys(&json, "", &mut keys);
                        let near = keys
                            .iter()
                            .min_by(|x, y| {
                                strsim::levenshtein(x, &a.key).cmp(&strsim::levenshtein(y, &a.key))
                            })
                            .filter(|k| strsim::levenshtein(k, &a.key) <= 3)
                            .map(|k| format!(" Did you mean `{k}`?"))
                            .unwrap_or_default();
                        return Err(ExploreError::Sweep(format!(
                            "--set {}: no such key in hardware `{}`.{near} Sweepable keys: {}",
                            a.key,
                            base.name,
                            keys.join(", ")
                        )));
                    }
                    None
                }
            };
            if let Some(held) = wrong_type {
                let example = if held == "true or false" {
                    "give its values as true,false".to_string()
                } else if a.is_categorical() {
                    let bad = a
                        .labels
                        .iter()
                        .find(|l| num(l, "").is_err())
                        .unwrap_or(&a.labels[0]);
                    format!("`{bad}` is not a number")
                } else {
                    "give its values as words, e.g. systolic.dataflow=os,ws".to_string()
                };
                return Err(ExploreError::Sweep(format!(
                    "--set {}: the key holds {held} in `{}`: {example}",
                    a.key, base.name
                )));
            }
        }
        // Every value must be valid for its key on its own (a zero array size, a negative
        // bandwidth, a dataflow that does not exist).
        for a in axes.iter().filter(|a| a.key != HW_AXIS) {
            for &v in &a.values {
                apply(base, std::slice::from_ref(a), &[v]).map_err(|e| {
                    ExploreError::Sweep(format!("--set {}={}: {e}", a.key, a.label(v)))
                })?;
            }
        }
    }
    Ok(())
}

/// The description of one point: the base the preset axis picks (the only base without one),
/// with every other axis applied.
pub fn apply_point(
    bases: &[HardwareSpec],
    axes: &[Axis],
    values: &[f64],
) -> Result<HardwareSpec, ExploreError> {
    let pick = axes
        .iter()
        .position(|a| a.key == HW_AXIS)
        .map_or(0, |j| values[j] as usize);
    let base = bases
        .get(pick)
        .ok_or_else(|| ExploreError::Sweep(format!("no base description {pick}")))?;
    apply(base, axes, values)
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, child)
}

/// A key of a section, or the element of a list named `k` (a dataflow chip's memory tiers are a
/// list in order; `dataflow.tiers.ddr.bandwidth_gb_s` names one by its `name`).
fn child<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    match v {
        Value::Array(items) => items
            .iter()
            .find(|x| x.get("name") == Some(&Value::from(k))),
        _ => v.get(k),
    }
}

fn child_mut<'a>(v: &'a mut Value, k: &str) -> Option<&'a mut Value> {
    match v {
        Value::Array(items) => items
            .iter_mut()
            .find(|x| x.get("name") == Some(&Value::from(k))),
        _ => v.get_mut(k),
    }
}

/// Keys that name a description rather than describe it: never swept.
const IDENTITY_KEYS: [&str; 3] = ["name", "description", "kind"];

/// Every key holding a number or a word (what `--set` can sweep).
fn value_keys(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(m) = v {
        for (k, x) in m {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match x {
                Value::Number(_) | Value::String(_) | Value::Bool(_)
                    if !IDENTITY_KEYS.contains(&p.as_str()) =>
                {
                    out.push(p)
                }
                Value::Object(_) => value_keys(x, &p, out),
                Value::Array(items) => {
                    for item in items {
                        if let Some(Value::String(n)) = item.get("name") {
                            // The name identifies the element: not a value to sweep.
                            let named = format!("{p}.{n}");
                            value_keys(item, &named, out);
                            let name_key = format!("{named}.name");
                            out.retain(|k| *k != name_key);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Writes one axis value at its key, creating the key (not its sections) when absent.
fn set_value(json: &mut Value, a: &Axis, v: f64) -> Result<(), ExploreError> {
    let parts: Vec<&str> = a.key.split('.').collect();
    let mut cur = json;
    for k in &parts[..parts.len() - 1] {
        cur = child_mut(cur, k).ok_or_else(|| ExploreError::Sweep(format!("no key {}", a.key)))?;
    }
    let Value::Object(map) = cur else {
        return Err(ExploreError::Sweep(format!("no key {}", a.key)));
    };
    // Integers stay integers so integer-typed fields (array rows, lanes) accept them.
    let value = if a.is_categorical() {
        // Switches (`buffers.double_buffered=true,false`) are booleans in the schema.
        match a.label(v).as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            l => Value::from(l),
        }
    } else if v.fract() == 0.0 && v.abs() < 9e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    };
    map.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// The base description with `values[i]` written at `axes[i].key` (the preset axis skipped),
/// re-validated.
pub fn apply(
    base: &HardwareSpec,
    axes: &[Axis],
    values: &[f64],
) -> Result<HardwareSpec, ExploreError> {
    let mut json = serde_json::to_value(base).map_err(|e| ExploreError::Sweep(e.to_string()))?;
    for (a, &v) in axes.iter().zip(values) {
        if a.key != HW_AXIS {
            set_value(&mut json, a, v)?;
        }
    }
    let spec: HardwareSpec = serde_json::from_value(json).map_err(|e| {
        let point: Vec<String> = axes
            .iter()
            .zip(values)
            .map(|(a, &v)| format!("{}={}", a.key, a.label(v)))
            .collect();
        ExploreError::Sweep(format!("point {}: {e}", point.join(" ")))
    })?;
    spec.validate(&spec.name)
        .map_err(|e| ExploreError::Sweep(e.to_string()))?;
    Ok(spec)
}

/// Whether `key` holds an integer in `base` (array sides, lanes, counts): its sweep column is then
/// an integer column, as the key is in the description, not a float.
pub fn integer_key(base: &HardwareSpec, key: &str) -> bool {
    let Ok(json) = serde_json::to_value(base) else {
        return false;
    };
    key.split('.')
        .try_fold(&json, |cur, k| cur.get(k))
        .is_some_and(|v| v.is_u64() || v.is_i64())
}

/// SplitMix64: a tiny, well-known deterministic generator (Steele et al. 2014), enough for sampling.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The sweep's points as value vectors (one value per axis), in a fixed order.
pub fn points(axes: &[Axis], sampling: Sampling, seed: u64) -> Result<Vec<Vec<f64>>, ExploreError> {
    let total = axes
        .iter()
        .try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()));
    let mut rng = SplitMix(seed);
    match sampling {
        Sampling::Grid => {
            let total = total.filter(|t| *t <= MAX_POINTS).ok_or_else(|| {
                ExploreError::Sweep(format!(
                    "the grid has more than {MAX_POINTS} points; use --sample random:N or lhs:N"
                ))
            })?;
            Ok((0..total)
                .map(|mut i| {
                    // Last axis varies fastest.
                    let mut p = vec![0.0; axes.len()];
                    for (j, a) in axes.iter().enumerate().rev() {
                        p[j] = a.values[i % a.values.len()];
                        i /= a.values.len();
                    }
                    p
                })
                .collect())
        }
        Sampling::Random(n) => {
            if n > MAX_POINTS {
                return Err(ExploreError::Sweep(format!(
                    "more than {MAX_POINTS} points"
                )));
            }
            Ok((0..n)
                .map(|_| {
                    axes.iter()
                        .map(|a| a.values[rng.below(a.values.len())])
                        .collect()
                })
                .collect())
        }
        Sampling::LatinHypercube(n) => {
            if n > MAX_POINTS {
                return Err(ExploreError::Sweep(format!(
                    "more than {MAX_POINTS} points"
                )));
            }
            // One stratum per point on each axis, strata shuffled independently per axis.
            let mut cols: Vec<Vec<f64>> = Vec::new();
            for a in axes {
                let mut strata: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    strata.swap(i, rng.below(i + 1));
                }
                cols.push(
                    strata
                        .iter()
                        .map(|&s| a.values[s * a.values.len() / n])
                        .collect(),
                );
            }
            Ok((0..n)
                .map(|i| cols.iter().map(|c| c[i]).collect())
                .collect())
        }
    }
}

/// A shard `i/N` (0-based): which slice of the work this process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self, ExploreError> {
        let bad = || {
            ExploreError::Sweep(format!(
                "--shard `{s}`: write i/N with 0 <= i < N, e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    pub fn owns(&self, chunk: usize) -> bool {
        chunk % self.count == self.index
    }
}

/// Which rows are Pareto-optimal when minimising every objective column: a row is off the front
/// when another is no worse in every objective and better in one. Two and three objectives take
/// O(n log n) (a sort, then a sweep keeping the best second objective, or the staircase of the
/// second and third: Kung, Luccio & Preparata, J. ACM 22(4), 1975); more, or NaNs, the pairwise
/// definition.
pub fn pareto_front(objectives: &[Vec<f64>]) -> Vec<bool> {
    let n = objectives.first().map_or(0, Vec::len);
    let has_nan = objectives.iter().any(|o| o.iter().any(|v| v.is_nan()));
    match objectives.len() {
        2 | 3 if !has_nan => front_by_sweep(objectives, n),
        _ => front_pairwise(objectives, n),
    }
}

fn front_pairwise(objectives: &[Vec<f64>], n: usize) -> Vec<bool> {
    let dominates = |a: usize, b: usize| {
        let mut strictly = false;
        for o in objectives {
            if o[a] > o[b] {
                return false;
            }
            strictly |= o[a] < o[b];
        }
        strictly
    };
    (0..n)
        .map(|i| !(0..n).any(|j| j != i && dominates(j, i)))
        .collect()
}

/// An order-preserving integer key of a non-NaN float (for ordered maps).
fn ordered(v: f64) -> i64 {
    let b = v.to_bits() as i64;
    b ^ ((((b >> 63) as u64) >> 1) as i64)
}

/// Sorted lexicographically, a point is dominated exactly when an earlier, different point is no
/// worse in the remaining objectives; identical points share their fate.
fn front_by_sweep(objectives: &[Vec<f64>], n: usize) -> Vec<bool> {
    // −0 and +0 are one value to the definition; give them one bit pattern for the sort and map.
    let cols: Vec<Vec<f64>> = objectives
        .iter()
        .map(|o| o.iter().map(|&v| if v == 0.0 { 0.0 } else { v }).collect())
        .collect();
    let x = &cols[0];
    let y = &cols[1];
    let z = cols.get(2);
    let zv = |i: usize| z.map_or(0.0, |z| z[i]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        x[a].total_cmp(&x[b])
            .then(y[a].total_cmp(&y[b]))
            .then(zv(a).total_cmp(&zv(b)))
    });
    let same = |a: usize, b: usize| x[a] == x[b] && y[a] == y[b] && zv(a) == zv(b);
    let mut on = vec![false; n];
    let mut best_y = f64::INFINITY;
    let mut any_before = false;
    // The staircase of (y, z) seen so far: z strictly falls as y rises.
    let mut stairs: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    let mut g = 0;
    while g < n {
        let first = order[g];
        let mut end = g + 1;
        while end < n && same(order[end], first) {
            end += 1;
        }
        let (py, pz) = (y[first], zv(first));
        let dominated = if z.is_none() {
            any_before && best_y <= py
        } else {
            stairs
                .range(..=ordered(py))
                .next_back()
                .is_some_and(|(_, &qz)| qz <= pz)
        };
        for &i in &order[g..end] {
            on[i] = !dominated;
        }
        if !dominated {
            best_y = best_y.min(py);
            if z.is_some() {
                let stale: Vec<i64> = stairs
                    .range(ordered(py)..)
                    .take_while(|(_, &qz)| qz >= pz)
                    .map(|(&k, _)| k)
                    .collect();
                for k in stale {
                    stairs.remove(&k);
                }
                stairs.insert(ordered(py), pz);
            }
        }
        any_before = true;
        g = end;
    }
    on
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_front_equals_the_definition() {
        // Random clouds with many ties and duplicates (values on a coarse grid), 2 and 3 objectives.
        let mut rng = SplitMix(7);
        for trial in 0..200 {
            let dims = 2 + trial % 2;
            let n = 1 + rng.below(60);
            let objs: Vec<Vec<f64>> = (0..dims)
                .map(|_| (0..n).map(|_| rng.below(6) as f64 - 2.0).collect())
                .collect();
            assert_eq!(
                front_by_sweep(&objs, n),
                front_pairwise(&objs, n),
                "trial {trial}: {objs:?}"
            );
        }
        // Infinities (missing objectives) and negative zero order like any other value.
        let objs = vec![
            vec![f64::INFINITY, 1.0, -0.0, 0.0, 0.0],
            vec![0.0, f64::INFINITY, 2.0, 2.0, -0.0],
            vec![1.0, 1.0, -0.0, 0.0, 3.0],
        ];
        assert_eq!(front_by_sweep(&objs, 5), front_pairwise(&objs, 5));
        assert_eq!(front_by_sweep(&objs[..2], 5), front_pairwise(&objs[..2], 5));
    }

    #[test]
    fn value_sets() {
        assert_eq!(parse_axis("a=1,2,4").unwrap().values, vec![1.0, 2.0, 4.0]);
        assert_eq!(
            parse_axis("a=16..64:16").unwrap().values,
            vec![16.0, 32.0, 48.0, 64.0]
        );
        assert_eq!(
            parse_axis("a=16..256:x2").unwrap().values,
            vec![16.0, 32.0, 64.0, 128.0, 256.0]
        );
        assert!(parse_axis("a=8..4")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(parse_axis("a=").is_err());
        assert!(parse_axis("a=1..4:0").is_err());
    }

    #[test]
    fn shards() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        assert!(Shard::parse("3/2").is_err());
        assert!(Shard::parse("0/0").is_err());
    }

    #[test]
    fn sampling_is_deterministic_and_stratified() {
        let axes = vec![
            Axis {
                key: "a".into(),
                values: (0..10).map(f64::from).collect(),
                labels: Vec::new(),
            },
            Axis::categorical("b", vec!["os".into(), "ws".into()]),
        ];
        assert_eq!(points(&axes, Sampling::Grid, 0).unwrap().len(), 20);
        assert_eq!(
            points(&axes, Sampling::Random(7), 3).unwrap(),
            points(&axes, Sampling::Random(7), 3).unwrap()
        );
        let lhs = points(&axes, Sampling::LatinHypercube(10), 1).unwrap();
        let mut a: Vec<f64> = lhs.iter().map(|p| p[0]).collect();
        a.sort_by(f64::total_cmp);
        assert_eq!(
            a,
            (0..10).map(f64::from).collect::<Vec<_>>(),
            "each stratum of `a` used exactly once"
        );
    }

    #[test]
    fn pareto() {
        let front = pareto_front(&[vec![1.0, 2.0, 3.0, 2.0], vec![3.0, 2.0, 1.0, 3.0]]);
        assert_eq!(front, vec![true, true, true, false]);
    }
}
