//! ONNX `Attention` (opset 23) and `RotaryEmbedding` (opset 23): the transformer blocks as one
//! node each, costed as vchip's attention and rotary element-wise ops.

use super::*;

impl Importer<'_> {
    /// `Attention(Q, K, V, [attn_mask], [past_key], [past_value])`: Q/K/V are 4-D
    /// `[batch, heads, seq, head_size]` or 3-D `[batch, seq, heads * head_size]` with
    /// `q_num_heads`/`kv_num_heads`; outputs Y (Q's layout, V's head size), present_key,
    /// present_value (past + new sequence) and the QKᵀ scores.
    pub(super) fn attention(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let q = self.in_shape(n, 0, idx)?;
        let k = self.in_shape(n, 1, idx)?;
        let v = self.in_shape(n, 2, idx)?;
        let heads = |attr_name: &str, hidden: u64| -> Result<(u64, u64)> {
            let h = attr_i(n, attr_name, 0);
            if h <= 0 || !hidden.is_multiple_of(h as u64) {
                return Err(self.err(
                    n,
                    idx,
                    format!("a 3-D input needs `{attr_name}` dividing its hidden size {hidden} (got {h})"),
                ));
            }
            Ok((h as u64, hidden / h as u64))
        };
        let bad = |what: &str, s: &[u64]| {
            self.err(n, idx, format!("{what} must be 3-D or 4-D, got {s:?}"))
        };
        let (batch, q_heads, q_len, q_head) = match q.len() {
            4 => (q[0], q[1], q[2], q[3]),
            3 => {
                let (h, d) = heads("q_num_heads", q[2])?;
                (q[0], h, q[1], d)
            }
            _ => return Err(bad("Q", &q)),
        };
        let (kv_heads, kv_len, k_head) = match k.len() {
            4 => (k[1], k[2], k[3]),
            3 => {
                let (h, d) = heads("kv_num_heads", k[2])?;
                (h, k[1], d)
            }
            _ => return Err(bad("K", &k)),
        };
        let v_head = match v.len() {
            4 => v[3],
            3 if kv_heads > 0 && v[2] % kv_heads == 0 => v[2] / kv_heads,
            _ => return Err(bad("V", &v)),
        };
        if k_head != q_head || kv_heads == 0 || q_heads % kv_heads != 0 {
            return Err(self.err(
                n,
                idx,
                format!(
                    "Q {q:?} and K {k:?}: head sizes must match and Q's heads be a multiple of K's"
                ),
            ));
        }
        let past_len = match n.input.get(4).filter(|s| !s.is_empty()) {
            Some(_) => {
                let p = self.in_shape(n, 4, idx)?;
                *p.get(2)
                    .ok_or_else(|| self.err(n, idx, format!("past_key {p:?} must be 4-D")))?
            }
            None => 0,
        };
        let total = past_len + kv_len;
        let y = if q.len() == 4 {
            vec![batch, q_heads, q_len, v_head]
        } else {
            vec![batch, q_len, q_heads * v_head]
        };
        let outs: Vec<Vec<u64>> = [
            y,
            vec![batch, kv_heads, total, k_head],
            vec![batch, kv_heads, total, v_head],
            vec![batch, q_heads, q_len, total],
        ]
        .into_iter()
        .take(n.output.len().max(1))
        .collect();
        self.emit(
            n,
            idx,
            OpKind::Attention {
                batch,
                heads: q_heads,
                kv_heads,
                q_len,
                kv_len: total,
                // QKᵀ costs q_head per score, ·V v_head: their mean keeps the MAC count exact
                // (to half a MAC per score when the sum is odd).
                head_dim: (q_head + v_head).div_ceil(2),
                causal: attr_i(n, "is_causal", 0) != 0,
            },
            &[],
            outs,
        )
    }

    /// `RotaryEmbedding(X, cos_cache, sin_cache, [position_ids])`: X rotated in place.
    pub(super) fn rotary_embedding(&mut self, n: &NodeProto, idx: usize) -> Result<()> {
        let x = self.in_shape(n, 0, idx)?;
        let elems = numel(&x);
        self.emit(
            n,
            idx,
            OpKind::Elementwise {
                op: EltOp::Rope,
                elems,
            },
            &[1, 2],
            vec![x],
        )
    }
}
