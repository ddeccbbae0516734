//! What the OS says about the host CPU: model, cores, SIMD width, cache sizes, clock.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostInfo {
    pub model: String,
    pub logical_cpus: usize,
    pub simd_bits: u64,
    pub fma: bool,
    /// L1d, L2, L3 in KiB (from sysfs; empty levels omitted).
    pub caches_kib: Vec<u64>,
    pub mhz: f64,
    /// MemTotal from /proc/meminfo, GiB.
    pub memory_gib: f64,
}

fn sysfs_cache_kib(level: u32, data: bool) -> Option<u64> {
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let lvl = std::fs::read_to_string(format!("{dir}/level")).ok()?;
        let ty = std::fs::read_to_string(format!("{dir}/type")).unwrap_or_default();
        if lvl.trim() == level.to_string() && (!data || ty.trim() != "Instruction") {
            let size = std::fs::read_to_string(format!("{dir}/size")).ok()?;
            let size = size.trim();
            let (num, mult) = match size.strip_suffix('K') {
                Some(n) => (n, 1),
                None => match size.strip_suffix('M') {
                    Some(n) => (n, 1024),
                    None => (size, 1),
                },
            };
            return num.parse::<u64>().ok().map(|v| v * mult);
        }
    }
    None
}

pub fn detect() -> HostInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let simd_bits = if has("avx512f") {
        512
    } else if has("avx2") || has("avx") {
        256
    } else {
        128
    };
    let caches_kib = [(1, true), (2, false), (3, false)]
        .iter()
        .filter_map(|&(l, d)| sysfs_cache_kib(l, d))
        .collect();
    HostInfo {
        model: field("model name"),
        logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        simd_bits,
        fma: has("fma"),
        caches_kib,
        mhz: field("cpu MHz").parse().unwrap_or(0.0),
        memory_gib: std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / (1024.0 * 1024.0)),
    }
}
