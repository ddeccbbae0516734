//! vchip's DRAM traffic and stall model for a GEMM on a systolic array with finite, double-buffered
//! per-operand SRAMs (documented in `docs/memory-model.md`).
//!
//! Folds form an `Fr × Fc` grid. Each operand's tile depends on the row fold, the column fold or
//! both (per dataflow). For a loop order (outer, inner):
//! - an operand that depends on both fold indices is fetched once (each tile is used once);
//! - one that depends on the outer index only is fetched once if its tile fits the usable buffer,
//!   else re-fetched for every inner fold;
//! - one that depends on the inner index only is fetched once if the whole operand fits, else
//!   re-fetched for every outer fold;
//! - outputs that accumulate across folds (WS/IS partial sums over K) stay on chip if the partial
//!   results that must persist fit the output buffer; otherwise they spill and are read back.
//!
//! Both loop orders are evaluated and the cheaper one is taken (what a compiler would choose).
//! Time: with double buffering, transfer overlaps compute, so an op takes
//! `max(compute, dram_bytes / bandwidth) + prologue`, where the prologue loads the first fold's
//! stationary tile (WS/IS) or first wavefront (OS) before any MAC can start.

use super::mapping::{GemmDims, Mapping};
use crate::spec::Dataflow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dep {
    Row,
    Col,
    Both,
}

/// Usable buffer bytes per operand (half the capacity when double-buffered).
#[derive(Clone, Copy, Debug)]
pub struct BufferBytes {
    pub ifmap: u64,
    pub filter: u64,
    pub ofmap: u64,
}

/// Bytes per element of each operand.
#[derive(Clone, Copy, Debug)]
pub struct WordBytes {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DramTraffic {
    pub ifmap_read: u64,
    pub filter_read: u64,
    pub ofmap_write: u64,
    /// Partial sums read back after a spill.
    pub ofmap_read: u64,
    /// Bytes that must arrive before the first MAC.
    pub prologue: u64,
}

impl DramTraffic {
    pub fn reads(&self) -> u64 {
        self.ifmap_read
            .saturating_add(self.filter_read)
            .saturating_add(self.ofmap_read)
    }

    pub fn writes(&self) -> u64 {
        self.ofmap_write
    }

    pub fn total(&self) -> u64 {
        self.reads().saturating_add(self.writes())
    }
}

fn bytes(elems: u64, word: f64) -> u64 {
    (elems as f64 * word).ceil().min(u64::MAX as f64) as u64
}

/// Fetch volume of a read operand of `size` bytes.
fn read_volume(size: u64, dep: Dep, outer: Dep, f_outer: u64, f_inner: u64, buf: u64) -> u64 {
    match dep {
        Dep::Both => size,
        d if d == outer => {
            if size.div_ceil(f_outer.max(1)) <= buf {
                size
            } else {
                size.saturating_mul(f_inner)
            }
        }
        _ => {
            if size <= buf {
                size
            } else {
                size.saturating_mul(f_outer)
            }
        }
    }
}

/// (writes, reads) of the output operand.
fn output_volume(
    size: u64,
    dep: Dep,
    outer: Dep,
    f_outer: u64,
    f_inner: u64,
    buf: u64,
) -> (u64, u64) {
    match dep {
        Dep::Both => (size, 0),
        // Output depends on the inner fold and accumulates over the outer one: every inner tile's
        // partial sums must survive a whole outer iteration.
        d if d != outer => {
            if size <= buf || f_outer <= 1 {
                (size, 0)
            } else {
                (
                    size.saturating_mul(f_outer),
                    size.saturating_mul(f_outer - 1),
                )
            }
        }
        // Output depends on the outer fold and accumulates within the inner loop.
        _ => {
            if size.div_ceil(f_outer.max(1)) <= buf || f_inner <= 1 {
                (size, 0)
            } else {
                (
                    size.saturating_mul(f_inner),
                    size.saturating_mul(f_inner - 1),
                )
            }
        }
    }
}

/// `a_stored`: bytes of A as it sits in memory when that differs from the M×K matrix the array
/// sees (a convolution's input, expanded on chip by address generation), else `None`.
#[allow(clippy::too_many_arguments)]
pub fn dram_traffic(
    g: GemmDims,
    map: &Mapping,
    df: Dataflow,
    rows: u64,
    cols: u64,
    buf: BufferBytes,
    w: WordBytes,
    a_stored: Option<u64>,
) -> DramTraffic {
    let a = a_stored.unwrap_or_else(|| bytes(g.m.saturating_mul(g.k), w.a));
    let b = bytes(g.k.saturating_mul(g.n), w.b);
    let c = bytes(g.m.saturating_mul(g.n), w.c);
    // Which fold index each operand's tile depends on; the output's dependency decides whether it
    // accumulates (WS/IS fold K over rows).
    let (da, db, dc) = match df {
        Dataflow::Os => (Dep::Row, Dep::Col, Dep::Both),
        Dataflow::Ws => (Dep::Row, Dep::Both, Dep::Col),
        Dataflow::Is => (Dep::Both, Dep::Row, Dep::Col),
    };
    let (fr, fc) = (map.row_folds, map.col_folds);
    let eval = |outer: Dep| {
        let (fo, fi) = if outer == Dep::Row {
            (fr, fc)
        } else {
            (fc, fr)
        };
        let ifmap_read = read_volume(a, da, outer, fo, fi, buf.ifmap);
        let filter_read = read_volume(b, db, outer, fo, fi, buf.filter);
        let (ofmap_write, ofmap_read) = if df == Dataflow::Os {
            (c, 0)
        } else {
            output_volume(c, dc, outer, fo, fi, buf.ofmap)
        };
        DramTraffic {
            ifmap_read,
            filter_read,
            ofmap_write,
            ofmap_read,
            prologue: 0,
        }
    };
    let by_rows = eval(Dep::Row);
    let by_cols = eval(Dep::Col);
    let mut t = if by_cols.total() < by_rows.total() {
        by_cols
    } else {
        by_rows
    };
    let (r, cc) = (rows.min(map.sr), cols.min(map.sc));
    t.prologue = match df {
        // The first wavefront: one row of A and one column of B.
        Dataflow::Os => bytes(r, w.a).saturating_add(bytes(cc, w.b)),
        // The stationary tile must be resident before streaming starts.
        Dataflow::Ws => bytes(r.saturating_mul(cc), w.b),
        Dataflow::Is => bytes(r.saturating_mul(cc), w.a),
    };
    t
}

#[cfg(test)]
mod tests {
    use super::super::mapping::map_gemm;
    use super::*;

    const BIG: BufferBytes = BufferBytes {
        ifmap: 1 << 30,
        filter: 1 << 30,
        ofmap: 1 << 30,
    };
    const W1: WordBytes = WordBytes {
        a: 1.0,
        b: 1.0,
        c: 1.0,
    };

    #[test]
    fn operands_that_fit_are_fetched_once() {
        let g = GemmDims {
            m: 300,
            n: 200,
            k: 100,
        };
        for df in [Dataflow::Os, Dataflow::Ws, Dataflow::Is] {
            let map = map_gemm(g, 32, 32, df);
            let t = dram_traffic(g, &map, df, 32, 32, BIG, W1, None);
            assert_eq!(
                (t.ifmap_read, t.filter_read, t.ofmap_write, t.ofmap_read),
                (30_000, 20_000, 60_000, 0),
                "{df:?}"
            );
        }
    }

    #[test]
    fn filter_that_does_not_fit_is_refetched_per_outer_fold() {
        // OS: B (K×N = 100×200 = 20,000 B) depends on the column fold only. With a 1 KiB filter
        // buffer it cannot stay, and A's per-row-fold tile (32×100 B) fits its buffer.
        let g = GemmDims {
            m: 320,
            n: 200,
            k: 100,
        };
        let map = map_gemm(g, 32, 32, Dataflow::Os);
        let buf = BufferBytes {
            ifmap: 4096,
            filter: 1024,
            ofmap: 1 << 20,
        };
        let t = dram_traffic(g, &map, Dataflow::Os, 32, 32, buf, W1, None);
        // Row-outer: A once (32,000), B re-read for each of 10 row folds (200,000): 232,000.
        // Col-outer: B's tile per column fold (2,858 B) does not fit 1 KiB → re-read 10x too, and
        // A (32,000 B) does not fit 4 KiB → re-read for each of 7 column folds. Row-outer wins.
        assert_eq!(map.row_folds, 10);
        assert_eq!((t.ifmap_read, t.filter_read), (32_000, 200_000));
    }

    #[test]
    fn ws_partial_sums_spill_when_the_output_does_not_fit() {
        // WS with K = 64 on 32 rows: 2 row folds accumulate into each output; N = 32 → 1 col fold.
        let g = GemmDims {
            m: 1000,
            n: 32,
            k: 64,
        };
        let map = map_gemm(g, 32, 32, Dataflow::Ws);
        let small = BufferBytes {
            ifmap: 1 << 20,
            filter: 1 << 20,
            ofmap: 1000,
        };
        let t = dram_traffic(g, &map, Dataflow::Ws, 32, 32, small, W1, None);
        assert_eq!((t.ofmap_write, t.ofmap_read), (64_000, 32_000));
        let t = dram_traffic(g, &map, Dataflow::Ws, 32, 32, BIG, W1, None);
        assert_eq!((t.ofmap_write, t.ofmap_read), (32_000, 0));
    }
}
