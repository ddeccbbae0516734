//! GPU kernel times from shapes: GEMMs tiled the way CUTLASS/cuBLAS tile them (a set of CTA tiles
//! and split-K factors, wave quantisation over the SMs, the best candidate picked as the libraries'
//! heuristics pick it), FlashAttention for prefill, a paged KV-cache read for decode, and
//! bandwidth-bound kernels at the achievable HBM (or L2) rate.

use crate::spec::gpu::GpuSpec;

/// CTA tiles (M × N) CUTLASS ships for SM80/SM90 tensor-core GEMMs (cutlass/library generator:
/// 256×128, 128×256, 128×128, 128×64, 64×128, 64×64), plus the 16/32-row tiles small-M kernels use.
const TILES: [(u64, u64); 8] = [
    (256, 128),
    (128, 256),
    (128, 128),
    (128, 64),
    (64, 128),
    (64, 64),
    (32, 128),
    (16, 128),
];

/// Split-K factors the libraries try when the output has too few tiles to fill the GPU.
const SPLIT_K: [u64; 6] = [1, 2, 3, 4, 8, 16];

/// Share of the tensor-core peak FlashAttention-2's forward pass reaches relative to a GEMM main
/// loop: the online softmax and rescaling sit between the two matrix products (Dao 2023: 50-73 %
/// of the A100's peak forward, against ~80-90 % for large GEMMs): 0.8 of the GEMM efficiency.
const ATTENTION_VS_GEMM: f64 = 0.8;

/// A kernel's time and the bytes it moves at HBM and L2.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KernelTime {
    pub seconds: f64,
    pub compute_s: f64,
    pub hbm_bytes: u64,
    pub l2_bytes: u64,
}

pub struct Gpu<'a> {
    pub g: &'a GpuSpec,
    /// Raw HBM bandwidth, bytes/s.
    pub hbm_bytes_per_s: f64,
}

impl Gpu<'_> {
    /// Achievable HBM bandwidth, bytes/s: the datasheet's at `hbm_efficiency`.
    pub fn hbm_rate(&self) -> f64 {
        self.hbm_bytes_per_s * self.g.hbm_efficiency.0
    }

    /// L2 bandwidth, bytes/s.
    pub fn l2_rate(&self) -> f64 {
        self.g.l2_gb_s.0 * 1e9
    }

    fn l2_bytes_cap(&self) -> f64 {
        self.g.l2_mib.0 * 1024.0 * 1024.0
    }

    /// Whether `bytes` just written or just read stay in L2 for the next kernel: they fit in half
    /// of it (the rest is other data's).
    pub fn holds_in_l2(&self, bytes: f64) -> bool {
        bytes <= self.l2_bytes_cap() / 2.0
    }

    /// Time to stream `bytes` through HBM, or through L2 when the working set fits there and was
    /// just written (`hot`).
    pub fn stream(&self, bytes: u64, hot: bool) -> KernelTime {
        let b = bytes as f64;
        let in_l2 = hot && self.holds_in_l2(b);
        let rate = if in_l2 {
            self.l2_rate()
        } else {
            self.hbm_rate()
        };
        KernelTime {
            seconds: b / rate,
            compute_s: 0.0,
            hbm_bytes: if in_l2 { 0 } else { bytes },
            l2_bytes: bytes,
        }
    }

    /// A (batched) GEMM `C[b] = A (m×k) · B (k×n)` at `flops_per_s` peak; operand sizes in bytes
    /// per element (B narrower for weight-only quantisation, dequantised in the main loop).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm(
        &self,
        batch: u64,
        m: u64,
        n: u64,
        k: u64,
        a_bytes: f64,
        b_bytes: f64,
        c_bytes: f64,
        flops_per_s: f64,
        a_hot: bool,
    ) -> KernelTime {
        let sms = self.g.sms.0;
        let per_sm = flops_per_s / sms as f64 * self.g.mma_efficiency.0;
        let (bf, mf, nf, kf) = (batch as f64, m as f64, n as f64, k as f64);
        let a_total = bf * mf * kf * a_bytes;
        let b_total = bf * kf * nf * b_bytes;
        let c_total = bf * mf * nf * c_bytes;
        let mut best = KernelTime {
            seconds: f64::INFINITY,
            ..KernelTime::default()
        };
        for &(tm, tn) in &TILES {
            // Two CTAs share an SM when the tile is at most half of 128×128 (registers and shared
            // memory allow it), one otherwise.
            let per_sm_ctas = if tm * tn <= 128 * 64 { 2 } else { 1 };
            for &sk in &SPLIT_K {
                if sk > 1 && k / sk < 256 {
                    continue;
                }
                let tiles_m = m.div_ceil(tm);
                let tiles_n = n.div_ceil(tn);
                let ctas = batch.saturating_mul(tiles_m).saturating_mul(tiles_n) * sk;
                let slots = sms * per_sm_ctas;
                let waves = ctas.div_ceil(slots).max(1);
                let cta_flops = 2.0 * tm as f64 * tn as f64 * (kf / sk as f64).ceil();
                let cta_s = cta_flops / (per_sm / per_sm_ctas as f64);
                let compute = waves as f64 * cta_s;
                // L2 serves the re-reads: every N-tile column reads its A panel, every M-tile row
                // its B panel. HBM sees each operand once while the smaller one fits in L2.
                let l2 = a_total * tiles_n as f64 + b_total * tiles_m as f64 + c_total;
                let fits = self.holds_in_l2(a_total.min(b_total));
                let a_hbm = if a_hot && self.holds_in_l2(a_total) {
                    0.0
                } else {
                    a_total
                };
                let base = if fits {
                    a_hbm + b_total + c_total
                } else {
                    a_total * tiles_n as f64 + b_total + c_total
                };
                // Split-K writes fp32 partial tiles and reads them back to reduce.
                let partials = if sk > 1 {
                    bf * mf * nf * 4.0 * sk as f64 * 2.0
                } else {
                    0.0
                };
                let t = compute.max(base / self.hbm_rate()).max(l2 / self.l2_rate())
                    + partials / self.hbm_rate();
                let hbm = base + partials;
                if t < best.seconds {
                    best = KernelTime {
                        seconds: t,
                        compute_s: compute,
                        hbm_bytes: hbm as u64,
                        l2_bytes: l2 as u64,
                    };
                }
            }
        }
        best
    }

    /// FlashAttention forward (prefill): Q, K, V read and O written once per head; K and V
    /// re-read from L2 by each 128-row query tile; the S×S scores never leave the SM.
    #[allow(clippy::too_many_arguments)]
    pub fn flash_attention(
        &self,
        batch: u64,
        heads: u64,
        kv_heads: u64,
        q_len: u64,
        kv_len: u64,
        head_dim: u64,
        causal: bool,
        elem_bytes: f64,
        flops_per_s: f64,
    ) -> KernelTime {
        let sms = self.g.sms.0;
        let per_sm = flops_per_s / sms as f64 * self.g.mma_efficiency.0 * ATTENTION_VS_GEMM;
        let q_tiles = q_len.div_ceil(128);
        let ctas = batch.saturating_mul(heads).saturating_mul(q_tiles);
        let waves = ctas.div_ceil(sms).max(1) as f64;
        // Keys each query tile attends to: all of them, or under a causal mask on average the
        // cached prefix plus half the new tokens.
        let kv_seen = if causal {
            (kv_len - q_len.min(kv_len)) as f64 + (q_len.min(kv_len) as f64 + 128.0) / 2.0
        } else {
            kv_len as f64
        }
        .min(kv_len as f64);
        let cta_flops = 4.0 * 128.0 * kv_seen * head_dim as f64;
        let compute = waves * cta_flops / per_sm;
        let q_o = 2.0 * (batch * heads * q_len * head_dim) as f64 * elem_bytes;
        let kv = 2.0 * (batch * kv_heads * kv_len * head_dim) as f64 * elem_bytes;
        let hbm = q_o + kv;
        let l2 = q_o + kv * q_tiles as f64;
        let t = compute.max(hbm / self.hbm_rate()).max(l2 / self.l2_rate());
        KernelTime {
            seconds: t,
            compute_s: compute,
            hbm_bytes: hbm as u64,
            l2_bytes: l2 as u64,
        }
    }

    /// Decode attention: each new token reads its sequence's whole KV cache (a paged read, the
    /// pages as large as the bandwidth needs), split over the SMs by sequence and head.
    pub fn decode_attention(&self, kv_bytes: u64, qo_bytes: u64) -> KernelTime {
        let bytes = kv_bytes.saturating_add(qo_bytes);
        KernelTime {
            seconds: bytes as f64 / self.hbm_rate(),
            compute_s: 0.0,
            hbm_bytes: bytes,
            l2_bytes: bytes,
        }
    }
}
