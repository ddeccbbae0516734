//! The `dataflow:` section of the hardware schema (`kind: dataflow`): a reconfigurable dataflow
//! chip (SambaNova SN40L class) as a grid of pattern compute units (PCUs) and pattern memory units
//! (PMUs, the on-chip SRAM), an on-chip network, and an ordered list of memory tiers behind it
//! (HBM, DDR, ...), per socket; several sockets form a node joined by peer-to-peer links.

use serde::{Deserialize, Serialize};

use super::gpu::Interconnect;
use super::{Count, NonNegative, Positive};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataflowSpec {
    /// Pattern compute units per socket.
    pub pcus: Count,
    /// SIMD lanes of a PCU.
    pub pcu_lanes: Count,
    /// Pipeline stages of a PCU; as a systolic array a PCU does lanes × stages MACs per cycle.
    pub pcu_stages: Count,
    /// Pattern memory units (SRAM scratchpads) per socket.
    pub pmus: Count,
    /// SRAM of one PMU, KiB; all PMUs together are the `sram` tier.
    pub pmu_kib: Positive,
    /// Bytes a PMU reads and writes per cycle (all its banks).
    pub pmu_bytes_per_cycle: Positive,
    /// SRAM energy, pJ per bit accessed.
    pub sram_pj_per_bit: Positive,
    /// On-chip network bandwidth between units, GB/s (what stages of a section exchange).
    pub noc_gb_s: Positive,
    /// Cycles a tile takes to pass one stage of a pipeline (PCU pipeline plus network hop): the
    /// fill and drain of a section.
    pub stage_latency_cycles: NonNegative,
    /// Launch of one section when the chip's own orchestrator runs the static schedule of
    /// sections (SN40L's AGCUs: program load, argument load, execute without the host), µs.
    pub orchestrated_launch_us: NonNegative,
    /// Launch of one kernel issued by host software (the unfused baseline, `--fusion off`), µs.
    pub host_launch_us: NonNegative,
    /// Off-chip memory tiers per socket, innermost (fastest) first: HBM, DDR, ...
    pub tiers: Vec<TierSpec>,
    /// Sockets in the node (tensor parallelism splits a model over at most this many).
    #[serde(default = "one")]
    pub sockets: Count,
    /// The peer-to-peer link between sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_link: Option<Interconnect>,
}

fn one() -> Count {
    Count(1)
}

/// One off-chip memory tier of a socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// Its name in reports and `--set` keys (`dataflow.tiers.ddr.bandwidth_gb_s`).
    pub name: String,
    /// Capacity per socket, GiB.
    pub capacity_gib: Positive,
    /// Peak bandwidth per socket, GB/s.
    pub bandwidth_gb_s: Positive,
    /// Share of the peak that streaming reaches (0 to 1).
    pub efficiency: Positive,
    /// Access energy, pJ per bit.
    pub energy_pj_per_bit: Positive,
}

/// Names the model gives its own levels and bounds: no tier may take them.
/// (`launch` is `model::LAUNCH`, the bound of a step whose time is its launch; the spec does not
/// import the model, a test checks they agree.)
pub const RESERVED_NAMES: [&str; 4] = [LEVEL_SRAM, LEVEL_NOC, LEVEL_LINK, "launch"];

/// The dataflow model's own levels: the PMUs' SRAM, the on-chip network, the socket links.
pub const LEVEL_SRAM: &str = "sram";
pub const LEVEL_NOC: &str = "noc";
pub const LEVEL_LINK: &str = "link";

impl DataflowSpec {
    /// MACs per cycle of one socket's PCUs together.
    pub fn macs_per_cycle(&self) -> u64 {
        self.pcus
            .0
            .saturating_mul(self.pcu_lanes.0)
            .saturating_mul(self.pcu_stages.0)
    }

    /// On-chip SRAM per socket, bytes.
    pub fn sram_bytes(&self) -> u64 {
        (self.pmus.0 as f64 * self.pmu_kib.0 * 1024.0).min(u64::MAX as f64) as u64
    }

    /// Checks what types cannot: tier names, shares, order and ranges. `Err((key, message))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.tiers.is_empty() {
            return Err((
                "dataflow.tiers".into(),
                "list at least one off-chip tier (`- { name: hbm, capacity_gib: 64, bandwidth_gb_s: 1600, efficiency: 0.85, energy_pj_per_bit: 4 }`)".into(),
            ));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            let key = format!("dataflow.tiers.{}", t.name);
            let word = !t.name.is_empty()
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !word || RESERVED_NAMES.contains(&t.name.as_str()) {
                return Err((
                    format!("dataflow.tiers[{i}].name"),
                    format!(
                        "`{}` cannot name a tier: use letters, digits, `_` or `-` (it names `--set` keys), and none of {}, which the model uses itself",
                        t.name,
                        RESERVED_NAMES.join(", ")
                    ),
                ));
            }
            if self.tiers[..i].iter().any(|o| o.name == t.name) {
                return Err((key, "is given twice; name each tier once".into()));
            }
            if t.efficiency.0 > 1.0 || t.efficiency.0 < 0.01 {
                return Err((
                    format!("{key}.efficiency"),
                    format!("{} is a share of the peak: give 0.01 to 1", t.efficiency.0),
                ));
            }
            if !(1e-3..=1e6).contains(&t.bandwidth_gb_s.0)
                || t.capacity_gib.0 > 1e9
                || t.energy_pj_per_bit.0 > 1e4
            {
                return Err((
                    key,
                    "is out of range: bandwidth_gb_s from 0.001 (1 MB/s) to 1e6, capacity_gib up to 1e9, energy_pj_per_bit up to 1e4".into(),
                ));
            }
        }
        if let Some(w) = self.tiers.windows(2).find(|w| {
            w[1].bandwidth_gb_s.0 * w[1].efficiency.0 > w[0].bandwidth_gb_s.0 * w[0].efficiency.0
        }) {
            return Err((
                "dataflow.tiers".into(),
                format!(
                    "tiers go innermost (fastest) first, but `{}` is faster than `{}` before it; reorder them",
                    w[1].name, w[0].name
                ),
            ));
        }
        if self.sockets.0 > 1 && self.socket_link.is_none() {
            return Err((
                "dataflow.socket_link".into(),
                format!(
                    "{} sockets need the link between them: add `socket_link: {{ name, gb_s, latency_us }}`",
                    self.sockets.0
                ),
            ));
        }
        for (key, v, max) in [
            ("dataflow.pcus", self.pcus.0, 1_000_000),
            ("dataflow.pmus", self.pmus.0, 1_000_000),
            ("dataflow.pcu_lanes", self.pcu_lanes.0, 4096),
            ("dataflow.pcu_stages", self.pcu_stages.0, 4096),
            ("dataflow.sockets", self.sockets.0, 100_000),
        ] {
            if v > max {
                return Err((key.into(), format!("{v} is out of range ({max} at most)")));
            }
        }
        if self.pmu_kib.0 > 1e6
            || self.noc_gb_s.0 > 1e9
            || self.orchestrated_launch_us.0 > 1e6
            || self.host_launch_us.0 > 1e6
        {
            return Err((
                "dataflow".into(),
                "is out of range: pmu_kib up to 1e6, noc_gb_s up to 1e9, launch times up to 1e6 us"
                    .into(),
            ));
        }
        Ok(())
    }
}
