//! NAS search spaces as per-op building blocks whose keys match what NAS tools look up:
//! OFA MobileNetV3 (`ofa-mbv3`, OFA's own LUT keys), OFA ResNet-50 (`ofa-resnet50`) and FBNet
//! (`fbnet`, HW-NAS-Bench's keys) and NAS-Bench-201 (`nasbench201`, whole cell networks).

pub mod fbnet;
pub mod nasbench201;
mod ofa_mbv3;
pub mod ofa_resnet50;

pub use ofa_mbv3::*;

use crate::error::{Result, WorkloadError};

/// Splits a subnet spec `PREFIX:key=value:...` into its pairs; `help` is the corrective example
/// for error messages.
pub(crate) fn spec_pairs<'a>(
    s: &'a str,
    prefix: &str,
    help: &str,
) -> Result<Vec<(&'a str, &'a str)>> {
    let bad = |m: String| WorkloadError::Option(format!("subnet `{s}`: {m}. Fix: write {help}"));
    let rest = s
        .strip_prefix(prefix)
        .ok_or_else(|| bad(format!("not a {prefix} subnet")))?;
    rest.split(':')
        .filter(|p| !p.is_empty())
        .map(|part| {
            part.split_once('=')
                .ok_or_else(|| bad(format!("`{part}` is not key=value")))
        })
        .collect()
}

/// `v` as exactly `n` single digits, each one of `allowed`.
pub(crate) fn spec_digits(
    s: &str,
    key: &str,
    v: &str,
    n: usize,
    allowed: &[u64],
    help: &str,
) -> Result<Vec<u64>> {
    let d: Vec<u64> = v
        .chars()
        .filter_map(|c| c.to_digit(10).map(u64::from))
        .collect();
    if d.len() != n || v.len() != n || d.iter().any(|x| !allowed.contains(x)) {
        return Err(WorkloadError::Option(format!(
            "subnet `{s}`: `{key}` needs {n} digits from {allowed:?}. Fix: write {help}"
        )));
    }
    Ok(d)
}

/// The input resolution of a subnet spec.
pub(crate) fn spec_resolution(s: &str, v: &str, help: &str) -> Result<u64> {
    v.parse()
        .ok()
        .filter(|r| (32..=1024).contains(r))
        .ok_or_else(|| {
            WorkloadError::Option(format!(
                "subnet `{s}`: r must be 32..1024. Fix: write {help}"
            ))
        })
}
