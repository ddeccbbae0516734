//! Live-range arena planner: places buffers with known lifetimes at byte offsets in one arena so
//! that buffers alive at the same time never overlap. Greedy by size (largest first), each at the
//! lowest offset that fits among the buffers already placed that overlap it in time: the strategy
//! of TensorFlow Lite Micro's `GreedyMemoryPlanner` (tensorflow/lite/micro/memory_planner/
//! greedy_memory_planner.cc), which MCU deployments size their SRAM arena with.

/// A buffer to place: its size and the first and last step (inclusive) it must exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub size: u64,
    pub first: usize,
    pub last: usize,
}

impl Buffer {
    #[cfg(test)]
    fn overlaps(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// An arena plan: each buffer's offset (in input order) and the arena's size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    pub offsets: Vec<u64>,
    pub size: u64,
}

/// Plans `buffers`. Deterministic: ties in size go to the earlier-starting, then lower-index buffer.
pub fn plan_arena(buffers: &[Buffer]) -> ArenaPlan {
    // Sorted on keys laid out beside each other (largest first, then earlier, then lower index):
    // the index breaks every tie, so the unstable sort's order is the only one.
    let mut keyed: Vec<(std::cmp::Reverse<u64>, usize, usize)> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| (std::cmp::Reverse(b.size), b.first, i))
        .collect();
    keyed.sort_unstable();
    let order: Vec<usize> = keyed.into_iter().map(|(_, _, i)| i).collect();
    place_in_order(buffers, &order)
}

/// Plans `buffers` exactly as TFLM's `GreedyMemoryPlanner::CalculateOffsetsIfNeeded` does
/// (tflite-micro, greedy_memory_planner.cc): the buffers are listed from the last added to the
/// first, then stable-sorted by size, descending, so equal sizes go latest-added first; each takes
/// the first gap, in offset order, among the placed buffers alive at the same time (first and last
/// use inclusive), else the end of the highest of them. `buffers` is in the order the interpreter
/// adds them (tensors by index, then scratch buffers).
pub fn plan_arena_tflm(buffers: &[Buffer]) -> ArenaPlan {
    let mut order: Vec<usize> = (0..buffers.len()).rev().collect();
    order.sort_by(|&a, &b| buffers[b].size.cmp(&buffers[a].size));
    place_in_order(buffers, &order)
}

/// Places `buffers` in `order`, each at the first gap (in offset order) among the placed buffers
/// alive at the same time. Two ways to find those, with identical results: per-step lists while
/// lifetimes are short (the usual network), a scan of everything placed when many buffers live
/// long (per-step lists would grow with lifetime x count).
fn place_in_order(buffers: &[Buffer], order: &[usize]) -> ArenaPlan {
    let total_span = buffers
        .iter()
        .map(|b| b.last.saturating_sub(b.first).saturating_add(1))
        .fold(0usize, usize::saturating_add);
    if total_span <= buffers.len().saturating_mul(16).saturating_add(1024) {
        place_by_step_lists(buffers, order, total_span)
    } else {
        place_by_scan(buffers, order)
    }
}

/// The lowest offset where `size` bytes fit among `taken` intervals (sorted by start, then end).
fn first_fit(taken: impl Iterator<Item = (u64, u64)>, size: u64) -> u64 {
    let mut at = 0u64;
    for (start, end) in taken {
        if start >= at.saturating_add(size) {
            break;
        }
        at = at.max(end);
    }
    at
}

/// First-fit over a scan of every placed buffer, kept sorted by (offset, end).
fn place_by_scan(buffers: &[Buffer], order: &[usize]) -> ArenaPlan {
    let mut offsets = vec![0u64; buffers.len()];
    let mut placed: Vec<(u64, u64, usize, usize)> = Vec::with_capacity(buffers.len());
    let mut size = 0u64;
    for &i in order {
        let b = &buffers[i];
        let alive = placed
            .iter()
            .filter(|&&(_, _, first, last)| first <= b.last && b.first <= last)
            .map(|&(start, end, _, _)| (start, end));
        let at = first_fit(alive, b.size);
        offsets[i] = at;
        let end = at.saturating_add(b.size);
        size = size.max(end);
        let slot = placed.partition_point(|p| (p.0, p.1) <= (at, end));
        placed.insert(slot, (at, end, b.first, b.last));
    }
    ArenaPlan { offsets, size }
}

/// First-fit over per-step lists of what is placed (`total_span`: the buffers' lifetimes
/// summed, the lists' total length).
fn place_by_step_lists(buffers: &[Buffer], order: &[usize], total_span: usize) -> ArenaPlan {
    let mut offsets = vec![0u64; buffers.len()];
    let mut size = 0u64;
    if buffers.is_empty() {
        return ArenaPlan { offsets, size };
    }
    // The (offset, end) of every placed buffer alive at each step, in one flat list: step `s`
    // owns `slot[s]..slot[s + 1]`, of which the first `used[s]` are filled, sorted. A buffer
    // then looks only at what lives during its own steps, not at every buffer placed (the
    // planner runs once per query, and scanning all of them was a tenth of a query).
    let steps = buffers.iter().map(|b| b.last).max().unwrap_or(0) + 1;
    let mut slot = vec![0usize; steps + 1];
    for b in buffers {
        for s in b.first..=b.last {
            slot[s + 1] += 1;
        }
    }
    for s in 0..steps {
        slot[s + 1] += slot[s];
    }
    debug_assert_eq!(slot[steps], total_span);
    let mut live: Vec<(u64, u64)> = vec![(0, 0); slot[steps]];
    let mut used = vec![0usize; steps];
    // Intervals taken by buffers alive at the same time, by offset (reused per buffer; a buffer
    // alive at several of the steps appears once per step, which the first-fit scan tolerates).
    let mut taken: Vec<(u64, u64)> = Vec::new();
    for &i in order {
        let b = &buffers[i];
        taken.clear();
        for s in b.first..=b.last {
            taken.extend_from_slice(&live[slot[s]..slot[s] + used[s]]);
        }
        if b.first != b.last {
            // One step's list is sorted already; several are merged here.
            taken.sort_unstable();
        }
        let at = first_fit(taken.iter().copied(), b.size);
        offsets[i] = at;
        let end = at.saturating_add(b.size);
        size = size.max(end);
        for s in b.first..=b.last {
            let cell = &mut live[slot[s]..slot[s] + used[s] + 1];
            let k = cell[..used[s]].partition_point(|&p| p <= (at, end));
            cell.copy_within(k..used[s], k + 1);
            cell[k] = (at, end);
            used[s] += 1;
        }
    }
    ArenaPlan { offsets, size }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest sum of sizes of buffers alive at one step: a lower bound on any arena.
    fn peak_live(buffers: &[Buffer]) -> u64 {
        let mut events: Vec<(usize, bool, u64)> = Vec::with_capacity(2 * buffers.len());
        for b in buffers {
            events.push((b.first, true, b.size));
            events.push((b.last.saturating_add(1), false, b.size));
        }
        // Frees at a step come before allocations at it.
        events.sort_by_key(|&(t, alloc, _)| (t, alloc));
        let (mut live, mut peak) = (0u64, 0u64);
        for (_, alloc, s) in events {
            if alloc {
                live = live.saturating_add(s);
                peak = peak.max(live);
            } else {
                live = live.saturating_sub(s);
            }
        }
        peak
    }

    #[test]
    fn step_lists_and_the_scan_place_alike() {
        // A fixed pseudo-random stream (xorshift): lifetimes short and long, sizes with ties.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for case in 0..200 {
            let n = 1 + next(60) as usize;
            let bufs: Vec<Buffer> = (0..n)
                .map(|_| {
                    let first = next(40) as usize;
                    let len = if next(5) == 0 { next(40) } else { next(3) } as usize;
                    b(1 + next(8) * 64, first, first + len)
                })
                .collect();
            let order: Vec<usize> = (0..n).rev().collect();
            let span = bufs.iter().map(|x| x.last - x.first + 1).sum();
            let lists = place_by_step_lists(&bufs, &order, span);
            assert_eq!(lists, place_by_scan(&bufs, &order), "case {case}");
            check_no_overlap(&bufs, &lists);
        }
    }

    fn b(size: u64, first: usize, last: usize) -> Buffer {
        Buffer { size, first, last }
    }

    fn check_no_overlap(bufs: &[Buffer], plan: &ArenaPlan) {
        for i in 0..bufs.len() {
            for j in 0..i {
                if bufs[i].overlaps(&bufs[j]) {
                    let (a0, a1) = (plan.offsets[i], plan.offsets[i] + bufs[i].size);
                    let (b0, b1) = (plan.offsets[j], plan.offsets[j] + bufs[j].size);
                    assert!(a1 <= b0 || b1 <= a0, "buffers {i} and {j} overlap");
                }
            }
        }
    }

    #[test]
    fn a_chain_reuses_memory() {
        // x0 → x1 → x2 → x3: each tensor lives from its producer to its consumer, so only two are
        // alive at once and the arena is the largest adjacent pair.
        let bufs = [b(100, 0, 1), b(60, 1, 2), b(80, 2, 3), b(10, 3, 4)];
        let plan = plan_arena(&bufs);
        check_no_overlap(&bufs, &plan);
        assert_eq!(plan.size, 160);
        assert_eq!(peak_live(&bufs), 160);
        // Largest first at 0; 80 overlaps 60 only, which sits at 100; 80 fits below it at 0.
        assert_eq!(plan.offsets, vec![0, 100, 0, 80]);
    }

    #[test]
    fn a_residual_keeps_its_input_alive() {
        // The block input (50) lives across the whole block while its branch runs.
        let bufs = [b(50, 0, 3), b(40, 1, 2), b(40, 2, 3), b(50, 3, 4)];
        let plan = plan_arena(&bufs);
        check_no_overlap(&bufs, &plan);
        assert_eq!(peak_live(&bufs), 140);
        assert_eq!(plan.size, 140);
    }

    #[test]
    fn tflm_ties_go_latest_added_first() {
        // Two equal buffers alive together: TFLM lists them last-added first, so buffer 1 takes
        // offset 0 and buffer 0 goes above it (vchip's own order would do the opposite).
        let bufs = [b(16, 0, 1), b(16, 0, 1)];
        assert_eq!(plan_arena_tflm(&bufs).offsets, vec![16, 0]);
        assert_eq!(plan_arena(&bufs).offsets, vec![0, 16]);
    }

    #[test]
    fn tflm_first_gap_among_simultaneous_buffers() {
        // Hand-built lifetimes (sizes 40, 30, 20, 20, 10, 0):
        //   A 40 [0,1]  B 30 [1,2]  C 20 [2,3]  D 20 [0,0]  E 10 [3,4]  F 0 [2,2]
        // Order: A, B, then the 20s latest-added first (D, C), E, F.
        // A→0; B overlaps A → 40; D overlaps A only → 40 (gap above A, B not alive at 0);
        // C overlaps B (40..70) → gap below B is [0,40) → 0; E overlaps C (0..20) → 20;
        // F (size 0) overlaps B and C → 0 (a zero gap fits anywhere, TFLM's `gap >= 0`).
        let bufs = [
            b(40, 0, 1),
            b(30, 1, 2),
            b(20, 2, 3),
            b(20, 0, 0),
            b(10, 3, 4),
            b(0, 2, 2),
        ];
        let plan = plan_arena_tflm(&bufs);
        check_no_overlap(&bufs, &plan);
        assert_eq!(plan.offsets, vec![0, 40, 0, 40, 20, 0]);
        assert_eq!(plan.size, 70);
    }

    #[test]
    fn tflm_appends_after_the_highest_end_when_no_gap_fits() {
        // A 50 [0,3] → 0; B 30 [0,0] → 50; C 25 [1,1] overlaps A only → 50 (B is dead at 1);
        // D 20 [0,1] meets A [0,50), B [50,80), C [50,75) in offset order: no gap, and it goes
        // after the highest end seen (80), not after the last entry's end (75).
        let bufs = [b(50, 0, 3), b(30, 0, 0), b(25, 1, 1), b(20, 0, 1)];
        let plan = plan_arena_tflm(&bufs);
        check_no_overlap(&bufs, &plan);
        assert_eq!(plan.offsets, vec![0, 50, 50, 80]);
        assert_eq!(plan.size, 100);
        // Nothing alive together: everything at 0.
        let apart = [b(50, 0, 0), b(10, 1, 1), b(20, 2, 2)];
        assert_eq!(plan_arena_tflm(&apart).offsets, vec![0, 0, 0]);
        assert_eq!(plan_arena_tflm(&apart).size, 50);
        assert_eq!(plan_arena_tflm(&[]).size, 0);
    }

    #[test]
    fn greedy_can_exceed_the_live_peak_but_never_goes_below_it() {
        let bufs = [b(3, 0, 0), b(2, 0, 1), b(2, 1, 2), b(3, 2, 2), b(1, 1, 1)];
        let plan = plan_arena(&bufs);
        check_no_overlap(&bufs, &plan);
        assert!(plan.size >= peak_live(&bufs));
    }
}
