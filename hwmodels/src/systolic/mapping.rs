//! GEMM → systolic-array mapping: folds, compute cycles and SRAM access counts per dataflow.
//!
//! Closed forms from SCALE-Sim v3 (`compute/systolic_compute_{os,ws,is}.py`), verified against its
//! reports for every layer of the fixtures under `tests/fixtures/scalesim/`:
//!
//! | df | Sr (rows) | Sc (cols) | T (time) | cycles per fold |
//! |----|-----------|-----------|----------|-----------------|
//! | os | M         | N         | K        | T + R + C − 2   |
//! | ws | K         | N         | M        | 2R + C + T − 2  |
//! | is | K         | M         | N        | 2R + C + T − 2  |
//!
//! Folds never overlap: each fills and drains the array on its own (WS/IS also preload the
//! stationary operand, R cycles).

use crate::spec::Dataflow;

/// A GEMM `C (m×n) = A (m×k) · B (k×n)`; A is the ifmap operand, B the filter operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmDims {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapping {
    pub sr: u64,
    pub sc: u64,
    pub t: u64,
    pub row_folds: u64,
    pub col_folds: u64,
    pub folds: u64,
    pub cycles_per_fold: u64,
    /// `folds × cycles_per_fold`: the cycle count of the work itself.
    pub cycles: u64,
    pub mapping_efficiency: f64,
    /// SCALE-Sim's "Compute Util %" / 100 (its WS/IS denominator is C − 1 larger than the fold).
    pub compute_utilization: f64,
    pub ifmap_reads: u64,
    pub filter_reads: u64,
    /// Output writes without SCALE-Sim's extra `R + C` per OS fold.
    pub ofmap_writes: u64,
    /// SCALE-Sim's OS output-write count, `M·N + folds·(R + C)`; equal to `ofmap_writes` otherwise.
    pub ofmap_writes_scalesim: u64,
}

/// Maps one GEMM onto an `rows × cols` array. Saturating arithmetic: sizes come from validated traces
/// (each tensor below 2^48 elements), so saturation only guards pathological combinations.
pub fn map_gemm(g: GemmDims, rows: u64, cols: u64, df: Dataflow) -> Mapping {
    let (r, c) = (rows.max(1), cols.max(1));
    let (sr, sc, t) = match df {
        Dataflow::Os => (g.m, g.n, g.k),
        Dataflow::Ws => (g.k, g.n, g.m),
        Dataflow::Is => (g.k, g.m, g.n),
    };
    let row_folds = sr.div_ceil(r);
    let col_folds = sc.div_ceil(c);
    let folds = row_folds.saturating_mul(col_folds);
    let cycles_per_fold = match df {
        Dataflow::Os => t + r + c - 2,
        Dataflow::Ws | Dataflow::Is => 2 * r + c + t - 2,
    };
    let util_denominator = match df {
        Dataflow::Os => t + r + c - 2,
        Dataflow::Ws | Dataflow::Is => 2 * r + 2 * c + t - 3,
    };
    let pe_folds = folds as f64 * (r * c) as f64;
    // Σ over folds of used_r·used_c = Sr·Sc, since used rows sum to Sr and used cols to Sc.
    let mapped = sr as f64 * sc as f64;
    let mapping_efficiency = mapped / pe_folds;
    let compute_utilization = mapped * t as f64 / (pe_folds * util_denominator as f64);
    let (m, n, k) = (g.m, g.n, g.k);
    let mn = m.saturating_mul(n);
    let (ifmap_reads, filter_reads, ofmap_writes, ofmap_writes_scalesim) = match df {
        Dataflow::Os => (
            m.saturating_mul(k).saturating_mul(col_folds),
            k.saturating_mul(n).saturating_mul(row_folds),
            mn,
            mn.saturating_add(folds.saturating_mul(r + c)),
        ),
        Dataflow::Ws => (
            m.saturating_mul(k).saturating_mul(col_folds),
            k.saturating_mul(n),
            mn.saturating_mul(row_folds),
            mn.saturating_mul(row_folds),
        ),
        Dataflow::Is => (
            m.saturating_mul(k),
            k.saturating_mul(n).saturating_mul(col_folds),
            mn.saturating_mul(row_folds),
            mn.saturating_mul(row_folds),
        ),
    };
    Mapping {
        sr,
        sc,
        t,
        row_folds,
        col_folds,
        folds,
        cycles_per_fold,
        cycles: folds.saturating_mul(cycles_per_fold),
        mapping_efficiency,
        compute_utilization,
        ifmap_reads,
        filter_reads,
        ofmap_writes,
        ofmap_writes_scalesim,
    }
}

/// Cycles of a WS/IS mapping when the next fold's stationary tile shifts into the array while the
/// current fold streams: TPU v1's matrix unit "holds one 64KiB tile of weights plus one for
/// double-buffering (to hide the 256 cycles it takes to shift a tile in)" (Jouppi et al., ISCA 2017,
/// §2). One preload of R cycles, then every fold but the last takes the longer of its T streaming
/// cycles and the R-cycle shift of the next tile, the last streams its T cycles, and its skew
/// (R + C − 2) drains once: one fold costs exactly the unpipelined `2R + C + T − 2`. OS has no
/// stationary tile to hide: its folds are unchanged.
pub fn pipelined_cycles(m: &Mapping, rows: u64, cols: u64, df: Dataflow) -> u64 {
    let (r, c) = (rows.max(1), cols.max(1));
    match df {
        Dataflow::Os => m.cycles,
        Dataflow::Ws | Dataflow::Is => m
            .folds
            .saturating_sub(1)
            .saturating_mul(m.t.max(r))
            .saturating_add(m.t)
            .saturating_add(2 * r + c - 2),
    }
}

/// SCALE-Sim's output size for a conv: `ceil((H − R + s) / s)` on the padded input
/// (its `topology_utils.py`), where standard semantics use `floor((H − R) / s) + 1`.
pub fn scalesim_out_dim(padded_in: u64, k: u64, stride: u64) -> u64 {
    (padded_in + stride)
        .saturating_sub(k)
        .div_ceil(stride.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_example_from_scalesim_issue_125() {
        // 4x4 OS array, 4x4x4 GEMM: one fold of T + R + C - 2 = 10 cycles; SCALE-Sim reports 9.
        let m = map_gemm(GemmDims { m: 4, n: 4, k: 4 }, 4, 4, Dataflow::Os);
        assert_eq!((m.folds, m.cycles), (1, 10));
    }

    #[test]
    fn folds_and_partial_mapping() {
        // Sr = 40 on 32 rows: 2 row folds, the second uses 8 rows.
        let m = map_gemm(
            GemmDims {
                m: 40,
                n: 32,
                k: 10,
            },
            32,
            32,
            Dataflow::Os,
        );
        assert_eq!((m.row_folds, m.col_folds), (2, 1));
        assert!((m.mapping_efficiency - 40.0 / 64.0).abs() < 1e-12);
    }

    #[test]
    fn pipelined_folds_hide_the_weight_shift() {
        // ResNet-50's fc at batch 1 on a 256x256 WS array: K = 2048 → 8 row folds, N = 1000 → 4
        // column folds, T = M = 1. Unpipelined every fold pays 2R + C + T − 2 = 767 cycles; with
        // a double-buffered tile each fold waits only for the next 256-cycle shift.
        let g = GemmDims {
            m: 1,
            n: 1000,
            k: 2048,
        };
        let m = map_gemm(g, 256, 256, Dataflow::Ws);
        assert_eq!((m.folds, m.cycles_per_fold), (32, 767));
        assert_eq!(
            pipelined_cycles(&m, 256, 256, Dataflow::Ws),
            31 * 256 + 1 + 766
        );
        // A long stream (T = 25,088 rows: a 56x56 layer at batch 8) hides the shift entirely.
        let g = GemmDims {
            m: 25_088,
            n: 64,
            k: 576,
        };
        let m = map_gemm(g, 256, 256, Dataflow::Ws);
        assert_eq!(
            pipelined_cycles(&m, 256, 256, Dataflow::Ws),
            3 * 25_088 + 766
        );
        assert_eq!(pipelined_cycles(&m, 256, 256, Dataflow::Os), m.cycles);
    }

    #[test]
    fn scalesim_rounding_differs_from_floor() {
        // 224 input, 7x7 kernel, stride 2, no padding: SCALE-Sim 110 (ceil(219/2)), standard 109.
        assert_eq!(scalesim_out_dim(224, 7, 2), 110);
        assert_eq!((224 - 7) / 2 + 1, 109);
    }
}
