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
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&buffers[a], &buffers[b]);
        y.size
            .cmp(&x.size)
            .then(x.first.cmp(&y.first))
            .then(a.cmp(&b))
    });
    let mut offsets = vec![0u64; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut size = 0u64;
    for &i in &order {
        let b = &buffers[i];
        // Intervals taken by placed buffers alive at the same time, by offset.
        let mut taken: Vec<(u64, u64)> = placed
            .iter()
            .filter(|&&j| buffers[j].overlaps(b))
            .map(|&j| (offsets[j], offsets[j].saturating_add(buffers[j].size)))
            .collect();
        taken.sort_unstable();
        let mut at = 0u64;
        for (start, end) in taken {
            if start >= at.saturating_add(b.size) {
                break;
            }
            at = at.max(end);
        }
        offsets[i] = at;
        size = size.max(at.saturating_add(b.size));
        placed.push(i);
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
    fn greedy_can_exceed_the_live_peak_but_never_goes_below_it() {
        let bufs = [b(3, 0, 0), b(2, 0, 1), b(2, 1, 2), b(3, 2, 2), b(1, 1, 1)];
        let plan = plan_arena(&bufs);
        check_no_overlap(&bufs, &plan);
        assert!(plan.size >= peak_live(&bufs));
    }
}
