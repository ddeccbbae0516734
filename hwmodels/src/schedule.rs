//! What a hardware model decides for a whole graph: the steps it runs (one op, or a fused group),
//! where each tensor lives, and the peak bytes each memory level holds.
//!
//! Memory levels are declared by the model (name, capacity, bandwidth, on chip or not). Totals and
//! reports follow that declaration, never a level's name.

use serde::Serialize;
use vchip_workloads::graph::Graph;
use vchip_workloads::{OpId, TensorId, TensorRole};

pub type LevelId = usize;

/// A memory level as the model declares it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Level {
    pub name: String,
    /// Bytes it holds; `None` for levels the model does not bound.
    pub capacity_bytes: Option<u64>,
    /// Sustained bandwidth, bytes per second (all ports or cores together); infinite if unlimited.
    pub bytes_per_s: f64,
    pub on_chip: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One op.
    Op,
    /// An anchor op and the epilogue ops fused into it (the anchor first).
    Fused,
    /// A view (reshape): costs nothing.
    View,
    /// A pipelined section of a dataflow chip: its ops run at once as stages spread over the
    /// chip's compute units, passing tiles through on-chip memory.
    Section,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// The ops, anchor first, in execution order (inline up to four: most steps are an anchor
    /// and an epilogue or two).
    pub ops: smallvec::SmallVec<[OpId; 4]>,
    pub kind: StepKind,
}

/// Peak bytes at one level over the schedule, and what is live then.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelPeak {
    pub level: String,
    pub on_chip: bool,
    pub capacity_bytes: Option<u64>,
    /// Largest sum of live tensor bytes at one step.
    pub peak_bytes: u64,
    /// Size of the planned arena (≥ the peak: fragmentation), where the model plans one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arena_bytes: Option<u64>,
    /// Step at which the peak occurs.
    pub at_step: usize,
    /// Tensors live at the peak, largest first (at most [`LIVE_LISTED`]).
    pub live_at_peak: Vec<String>,
    pub live_count: usize,
    /// Whether the peak (or arena) fits the capacity.
    pub fits: bool,
}

/// How many live tensors a peak lists by name.
pub const LIVE_LISTED: usize = 12;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    pub steps: Vec<Step>,
    /// Level holding each tensor's storage (by tensor id; views resolve through `Graph::storage`);
    /// `None` for tensors never materialised (intermediates inside a fused step).
    pub home: Vec<Option<LevelId>>,
    pub memory: Vec<LevelPeak>,
}

impl Schedule {
    /// Today's default: every op its own step, every tensor in the outermost level (layers exchange
    /// activations through off-chip memory).
    pub fn layer_by_layer(g: &Graph, levels: &[Level]) -> Schedule {
        let steps: Vec<Step> = g
            .order
            .iter()
            .map(|&o| Step {
                ops: smallvec::smallvec![o],
                kind: if vchip_workloads::graph::is_view(g.op(o)) {
                    StepKind::View
                } else {
                    StepKind::Op
                },
            })
            .collect();
        let outer = levels.len().saturating_sub(1);
        let home = materialised(g, &steps)
            .iter()
            .map(|&m| m.then_some(outer))
            .collect();
        Schedule::with_peaks(g, steps, home, levels, &[])
    }

    /// A schedule with its per-level peaks computed (`arenas`: a planned arena size per level
    /// where the model planned one).
    pub fn with_peaks(
        g: &Graph,
        steps: Vec<Step>,
        home: Vec<Option<LevelId>>,
        levels: &[Level],
        arenas: &[Option<u64>],
    ) -> Schedule {
        let spans = step_spans(g, &steps);
        Self::with_peaks_over(g, steps, &spans, home, levels, arenas)
    }

    /// [`Schedule::with_peaks`] for a planner that has the steps' spans ([`step_spans`]) already.
    pub fn with_peaks_over(
        g: &Graph,
        steps: Vec<Step>,
        spans: &[Option<(usize, usize)>],
        home: Vec<Option<LevelId>>,
        levels: &[Level],
        arenas: &[Option<u64>],
    ) -> Schedule {
        let mut s = Schedule {
            steps,
            home,
            memory: Vec::new(),
        };
        s.memory = level_peaks_over(g, &s, spans, levels, arenas);
        s
    }

    /// Level of tensor `t`'s storage.
    pub fn home_of(&self, g: &Graph, t: TensorId) -> Option<LevelId> {
        self.home[g.storage[t.0 as usize].0 as usize]
    }
}

/// Whether each tensor is ever stored: false for a tensor produced and read only inside one fused
/// step (it never leaves the output path).
pub fn materialised(g: &Graph, steps: &[Step]) -> Vec<bool> {
    let step_of = step_of_ops(g, steps);
    (0..g.trace.tensors.len())
        .map(|t| {
            let Some(p) = g.producer[t] else {
                return true;
            };
            let ps = step_of[p.0 as usize];
            if ps == usize::MAX {
                // An op the schedule left out (the engine reports it); stored, to be safe.
                return true;
            }
            let inside = !g.consumers[t].is_empty()
                && g.consumers[t].iter().all(|c| step_of[c.0 as usize] == ps)
                && steps[ps].kind == StepKind::Fused;
            !inside
        })
        .collect()
}

/// The step each op runs in, by op index; `usize::MAX` for an op no step holds.
pub fn step_of_ops(g: &Graph, steps: &[Step]) -> Vec<usize> {
    let mut step_of = vec![usize::MAX; g.trace.ops.len()];
    for (i, s) in steps.iter().enumerate() {
        for &o in &s.ops {
            step_of[o.0 as usize] = i;
        }
    }
    step_of
}

/// First and last step (inclusive) of each tensor's storage root; `None` for tensors with none
/// (weights and constants live throughout and are handled apart).
pub fn step_spans(g: &Graph, steps: &[Step]) -> Vec<Option<(usize, usize)>> {
    let mut step_of = vec![0usize; g.trace.ops.len()];
    for (i, s) in steps.iter().enumerate() {
        for &o in &s.ops {
            step_of[o.0 as usize] = i;
        }
    }
    let last_step = steps.len().saturating_sub(1);
    let mut spans: Vec<Option<(usize, usize)>> = vec![None; g.trace.tensors.len()];
    for (t, tensor) in g.trace.tensors.iter().enumerate() {
        if matches!(tensor.role, TensorRole::Weight | TensorRole::Constant) {
            continue;
        }
        let read = &g.consumers[t];
        if g.producer[t].is_none() && read.is_empty() {
            continue;
        }
        let first = g.producer[t].map_or(0, |p| step_of[p.0 as usize]);
        let last = if read.is_empty() {
            last_step
        } else {
            read.iter()
                .map(|c| step_of[c.0 as usize])
                .max()
                .unwrap_or(first)
        };
        let root = g.storage[t].0 as usize;
        let span = spans[root].get_or_insert((first, last));
        span.0 = span.0.min(first);
        span.1 = span.1.max(last.max(first));
    }
    spans
}

/// Peak live bytes per level. Weights and constants that some op reads or that are learned
/// parameters live for the whole schedule at their home. `arenas` gives a planned arena size per
/// level where the model planned one.
pub fn level_peaks(
    g: &Graph,
    s: &Schedule,
    levels: &[Level],
    arenas: &[Option<u64>],
) -> Vec<LevelPeak> {
    level_peaks_over(g, s, &step_spans(g, &s.steps), levels, arenas)
}

/// [`level_peaks`] with the steps' spans given.
fn level_peaks_over(
    g: &Graph,
    s: &Schedule,
    spans: &[Option<(usize, usize)>],
    levels: &[Level],
    arenas: &[Option<u64>],
) -> Vec<LevelPeak> {
    let n = s.steps.len().max(1);
    // Per level, a difference array over steps: +bytes where a tensor's life starts, −bytes after
    // it ends (linear in tensors + steps, whatever the lifetimes).
    let mut delta: Vec<Vec<i128>> = vec![vec![0i128; n + 1]; levels.len()];
    // Constants count where some op reads them; learned weights always (an MoE's idle experts
    // occupy memory too).
    let mut read = vec![false; g.trace.tensors.len()];
    for op in &g.trace.ops {
        for &w in &op.weights {
            read[w.0 as usize] = true;
        }
    }
    // (level, tensor, first, last, bytes) of everything stored.
    let mut stored: Vec<(usize, usize, usize, usize, u64)> =
        Vec::with_capacity(g.trace.tensors.len());
    for (t, tensor) in g.trace.tensors.iter().enumerate() {
        if g.storage[t].0 as usize != t || g.folded_away.get(t).copied().unwrap_or(false) {
            continue;
        }
        let Some(level) = s.home[t] else { continue };
        if level >= levels.len() {
            continue;
        }
        let (first, last) = match tensor.role {
            TensorRole::Weight => (0, n - 1),
            TensorRole::Constant if read[t] => (0, n - 1),
            TensorRole::Constant => continue,
            _ => match spans[t] {
                Some(sp) => sp,
                None => continue,
            },
        };
        let last = last.min(n - 1);
        let bytes = tensor.bytes();
        delta[level][first] += bytes as i128;
        delta[level][last + 1] -= bytes as i128;
        stored.push((level, t, first, last, bytes));
    }
    let live: Vec<Vec<u64>> = delta
        .iter()
        .map(|d| {
            let mut acc = 0i128;
            d[..n]
                .iter()
                .map(|&x| {
                    acc += x;
                    acc.clamp(0, u64::MAX as i128) as u64
                })
                .collect()
        })
        .collect();
    levels
        .iter()
        .enumerate()
        .map(|(l, lv)| {
            let (at, peak) = live[l]
                .iter()
                .enumerate()
                .fold(
                    (0usize, 0u64),
                    |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                );
            // Tensors without names (a NAS query's trace, which reads totals) are counted, not
            // listed: there is nothing to list them by.
            let mut live_count = 0;
            let mut at_peak: Vec<(u64, usize)> = Vec::new();
            for &(level, t, first, last, bytes) in &stored {
                if level == l && first <= at && at <= last {
                    live_count += 1;
                    if !g.trace.tensors[t].name.is_empty() {
                        at_peak.push((bytes, t));
                    }
                }
            }
            // Only the largest few are listed: select them, then sort those (a level holding a
            // network's weights has hundreds live).
            let largest = |a: &(u64, usize), b: &(u64, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
            if at_peak.len() > LIVE_LISTED {
                at_peak.select_nth_unstable_by(LIVE_LISTED, largest);
                at_peak.truncate(LIVE_LISTED);
            }
            at_peak.sort_by(largest);
            let arena = arenas.get(l).copied().flatten();
            let need = arena.unwrap_or(peak).max(peak);
            LevelPeak {
                level: lv.name.clone(),
                on_chip: lv.on_chip,
                capacity_bytes: lv.capacity_bytes,
                peak_bytes: peak,
                arena_bytes: arena,
                at_step: at,
                live_count,
                live_at_peak: at_peak
                    .iter()
                    .map(|&(_, t)| g.trace.tensors[t].name.clone())
                    .collect(),
                fits: lv.capacity_bytes.is_none_or(|c| need <= c),
            }
        })
        .collect()
}
