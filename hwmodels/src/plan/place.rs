//! Placement of tensors in memory levels by capacity: each tensor goes to the innermost level that
//! can hold it beside everything already placed there for its whole lifetime, in the order tensors
//! are created (a compiler allocates as it walks the schedule). A level's arena is then planned
//! with the live-range planner; while fragmentation pushes it past capacity, the largest tensor
//! there moves one level out.

use vchip_workloads::graph::Graph;
use vchip_workloads::TensorId;

use super::arena::{plan_arena, Buffer};
use crate::schedule::{materialised, step_spans, Step};

/// Where each buffer went (index into `capacities`), and each bounded level's planned arena size
/// (0 for an unbounded level: nothing there needs a plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub level: Vec<usize>,
    pub arena: Vec<u64>,
}

/// `capacities` innermost first; `None` holds anything (the last level must be `None`).
/// `steps` is the number of schedule steps (buffers' `last` must be below it).
pub fn place_by_capacity(
    buffers: &[Buffer],
    capacities: &[Option<u64>],
    steps: usize,
) -> Placement {
    let outer = capacities.len().saturating_sub(1);
    let mut level = vec![outer; buffers.len()];
    let mut live: Vec<Vec<u64>> = vec![vec![0u64; steps.max(1)]; capacities.len()];
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    // Keys are distinct (the index breaks ties), so an unstable sort gives the stable order;
    // buffers usually come in creation order, already sorted.
    if !buffers.is_sorted_by_key(|b| b.first) {
        order.sort_unstable_by_key(|&i| (buffers[i].first, i));
    }
    for &i in &order {
        let b = &buffers[i];
        let span = b.first..=b.last.min(steps.saturating_sub(1));
        for (l, cap) in capacities.iter().enumerate() {
            let fits = match cap {
                None => true,
                Some(c) => live[l][span.clone()]
                    .iter()
                    .all(|&v| v.saturating_add(b.size) <= *c),
            };
            if fits {
                level[i] = l;
                for v in &mut live[l][span.clone()] {
                    *v = v.saturating_add(b.size);
                }
                break;
            }
        }
    }
    let mut arena = vec![0u64; capacities.len()];
    for (l, cap) in capacities.iter().enumerate() {
        if cap.is_none() {
            continue;
        }
        loop {
            let members: Vec<usize> = (0..buffers.len()).filter(|&i| level[i] == l).collect();
            let bufs: Vec<Buffer> = members.iter().map(|&i| buffers[i]).collect();
            let plan = plan_arena(&bufs);
            arena[l] = plan.size;
            match cap {
                Some(c) if plan.size > *c => {
                    // Evict the largest (ties: the latest created) one level out.
                    let Some(&victim) = members
                        .iter()
                        .max_by_key(|&&i| (buffers[i].size, buffers[i].first, i))
                    else {
                        break;
                    };
                    level[victim] = (l + 1).min(outer);
                }
                _ => break,
            }
        }
    }
    Placement { level, arena }
}

/// Activation buffers (storage roots that are materialised) with their spans, for planners.
pub fn activation_buffers(g: &Graph, steps: &[Step]) -> Vec<(TensorId, Buffer)> {
    activation_buffers_over(g, &step_spans(g, steps), &materialised(g, steps))
}

/// [`activation_buffers`] from the steps' spans and materialised tensors, where the caller has
/// them already.
pub fn activation_buffers_over(
    g: &Graph,
    spans: &[Option<(usize, usize)>],
    mat: &[bool],
) -> Vec<(TensorId, Buffer)> {
    spans
        .iter()
        .enumerate()
        .filter(|(t, s)| s.is_some() && mat[*t] && g.storage[*t].0 as usize == *t)
        .filter_map(|(t, s)| {
            let (first, last) = (*s)?;
            Some((
                TensorId(t as u32),
                Buffer {
                    size: g.trace.tensors[t].bytes(),
                    first,
                    last,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits_stays_inner_the_rest_goes_out() {
        let bufs = [
            Buffer {
                size: 60,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 50,
                first: 1,
                last: 2,
            }, // 60 + 50 > 100 at step 1
            Buffer {
                size: 40,
                first: 2,
                last: 3,
            },
        ];
        let p = place_by_capacity(&bufs, &[Some(100), None], 4);
        assert_eq!(p.level, vec![0, 1, 0]);
        assert_eq!(p.arena[0], 60);
        assert_eq!(p.arena[1], 0, "the unbounded level is not planned");
    }

    #[test]
    fn everything_fits_a_large_level() {
        let bufs = [
            Buffer {
                size: 60,
                first: 0,
                last: 1,
            },
            Buffer {
                size: 50,
                first: 1,
                last: 2,
            },
        ];
        let p = place_by_capacity(&bufs, &[Some(1 << 20), None], 3);
        assert_eq!(p.level, vec![0, 0]);
        assert_eq!(p.arena[0], 110);
    }
}
