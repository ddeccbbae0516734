//! The FBNet search space (Wu et al., "FBNet", CVPR 2019, Table 1 macro-architecture and Table 2
//! candidate blocks) with HW-NAS-Bench's op keys (Li et al., ICLR 2021: `HW["fbnet"][metric][key]`).
//!
//! 22 searchable layers, 9 candidates each: k3_e1, k3_e1_g2, k3_e3, k3_e6, k5_e1, k5_e1_g2, k5_e3,
//! k5_e6, skip. Fixed layers: a 3×3/2 stem conv to 16 channels, a final 1×1 conv to 1504 channels,
//! global average pooling and a 1000-way classifier. Keys: `ConvNorm_H{}_W{}_Cin{}_Cout{}_kernel{}_
//! stride{}_group{}`, `ConvBlock_H{}_W{}_Cin{}_Cout{}_exp{}_kernel{}_stride{}_group{}`,
//! `Skip_H{}_W{}_Cin{}_Cout{}_stride{}`, `AvgP_H{}_W{}_Cin{}_Cout{}_kernel{}_stride{}`,
//! `FC_Cin{}_Cout{}`; H, W are the op's input size.
//!
//! A block (TBS): 1×1 (group g) conv to e·Cin + BN + ReLU, k×k depthwise conv (stride s) + BN,
//! 1×1 (group g) conv to Cout + BN, residual when s = 1 and Cin = Cout. A `skip` candidate whose
//! shape changes is a 1×1 conv + BN projection (HW-NAS-Bench keys it with Cin, Cout and stride).

use crate::builder::{ConvSpec, TraceBuilder};
use crate::error::Result;
use crate::ir::*;

/// (out channels, layers, stride) of the searchable stages (FBNet Table 1).
pub const STAGES: [(u64, u64, u64); 7] = [
    (16, 1, 1),
    (24, 4, 2),
    (32, 4, 2),
    (64, 4, 2),
    (112, 4, 1),
    (184, 4, 2),
    (352, 1, 1),
];
/// (kernel, expansion, groups); `None` is the skip candidate.
pub const CANDIDATES: [Candidate; 9] = [
    Some((3, 1, 1)),
    Some((3, 1, 2)),
    Some((3, 3, 1)),
    Some((3, 6, 1)),
    Some((5, 1, 1)),
    Some((5, 1, 2)),
    Some((5, 3, 1)),
    Some((5, 6, 1)),
    None,
];
pub const LAST_CONV: u64 = 1504;

#[derive(Clone, Debug, PartialEq)]
pub enum FbOp {
    ConvNorm {
        hw: u64,
        cin: u64,
        cout: u64,
        k: u64,
        stride: u64,
        group: u64,
    },
    ConvBlock {
        hw: u64,
        cin: u64,
        cout: u64,
        exp: u64,
        k: u64,
        stride: u64,
        group: u64,
    },
    Skip {
        hw: u64,
        cin: u64,
        cout: u64,
        stride: u64,
    },
    AvgP {
        hw: u64,
        c: u64,
    },
    Fc {
        cin: u64,
        cout: u64,
    },
}

fn out_hw(hw: u64, s: u64) -> u64 {
    (hw - 1) / s + 1
}

impl FbOp {
    /// Whether this op is the network's stem, reading its input image (a NAS table costs it with
    /// that input off chip).
    pub fn reads_network_input(&self) -> bool {
        matches!(self, FbOp::ConvNorm { cin: 3, .. })
    }

    /// Whether this op is the classifier, writing the network's output.
    pub fn writes_network_output(&self) -> bool {
        matches!(self, FbOp::Fc { .. })
    }

    pub fn key(&self) -> String {
        match *self {
            FbOp::ConvNorm { hw, cin, cout, k, stride, group } => format!("ConvNorm_H{hw}_W{hw}_Cin{cin}_Cout{cout}_kernel{k}_stride{stride}_group{group}"),
            FbOp::ConvBlock { hw, cin, cout, exp, k, stride, group } => format!("ConvBlock_H{hw}_W{hw}_Cin{cin}_Cout{cout}_exp{exp}_kernel{k}_stride{stride}_group{group}"),
            FbOp::Skip { hw, cin, cout, stride } => format!("Skip_H{hw}_W{hw}_Cin{cin}_Cout{cout}_stride{stride}"),
            FbOp::AvgP { hw, c } => format!("AvgP_H{hw}_W{hw}_Cin{c}_Cout{c}_kernel{hw}_stride1"),
            FbOp::Fc { cin, cout } => format!("FC_Cin{cin}_Cout{cout}"),
        }
    }

    fn input_shape(&self, batch: u64) -> Vec<u64> {
        match *self {
            FbOp::ConvNorm { hw, cin, .. }
            | FbOp::ConvBlock { hw, cin, .. }
            | FbOp::Skip { hw, cin, .. } => vec![batch, cin, hw, hw],
            FbOp::AvgP { hw, c } => vec![batch, c, hw, hw],
            FbOp::Fc { cin, .. } => vec![batch, cin],
        }
    }

    pub fn emit(&self, b: &mut TraceBuilder, x: TensorId) -> Result<TensorId> {
        let conv = |b: &mut TraceBuilder, name: &str, x, out, k, s, g| {
            let mut spec = ConvSpec::square(out, k, s, k / 2);
            spec.groups = g;
            let y = b.conv2d(&format!("{name}.conv"), x, spec)?;
            b.batchnorm(&format!("{name}.bn"), y)
        };
        match *self {
            FbOp::ConvNorm {
                cout,
                k,
                stride,
                group,
                ..
            } => {
                let y = conv(b, "conv", x, cout, k, stride, group)?;
                b.eltwise("relu", EltOp::Relu, &[y])
            }
            FbOp::ConvBlock {
                cin,
                cout,
                exp,
                k,
                stride,
                group,
                ..
            } => {
                let mid = cin * exp;
                let mut y = conv(b, "pw", x, mid, 1, 1, group)?;
                y = b.eltwise("pw.relu", EltOp::Relu, &[y])?;
                if group > 1 {
                    let shape = b.shape(y).to_vec();
                    y = b.movement("shuffle", MoveKind::Transpose, &[y], shape)?;
                }
                y = conv(b, "dw", y, mid, k, stride, mid)?;
                y = conv(b, "pwl", y, cout, 1, 1, group)?;
                if stride == 1 && cin == cout {
                    y = b.eltwise("residual", EltOp::Add, &[y, x])?;
                }
                Ok(y)
            }
            FbOp::Skip {
                cin, cout, stride, ..
            } => {
                if cin == cout && stride == 1 {
                    Ok(x)
                } else {
                    conv(b, "proj", x, cout, 1, stride, 1)
                }
            }
            FbOp::AvgP { .. } => b.global_avg_pool("avgpool", x),
            FbOp::Fc { cout, .. } => b.linear("fc", x, cout, true),
        }
    }

    pub fn trace(&self, batch: u64) -> Result<Trace> {
        let mut b = TraceBuilder::new(&self.key());
        let x = b.input("input", self.input_shape(batch), DType::F32)?;
        let y = self.emit(&mut b, x)?;
        if b.ops_len() == 0 {
            // An identity skip costs nothing but still needs a node to carry its key.
            let shape = b.shape(y).to_vec();
            b.reshape("identity", y, shape)?;
        }
        Ok(b.finish())
    }
}

/// A searchable layer's choice: (kernel, expansion, groups) of a block, or `None` for a skip.
pub type Candidate = Option<(u64, u64, u64)>;

/// The fixed stem: a 3×3/2 convolution to 16 channels.
fn stem(r: u64) -> FbOp {
    FbOp::ConvNorm {
        hw: r,
        cin: 3,
        cout: 16,
        k: 3,
        stride: 2,
        group: 1,
    }
}

/// The fixed head on an `hw`×`hw` map of `cin` channels: 1×1 conv, global pool, classifier.
fn head(hw: u64, cin: u64) -> [FbOp; 3] {
    [
        FbOp::ConvNorm {
            hw,
            cin,
            cout: LAST_CONV,
            k: 1,
            stride: 1,
            group: 1,
        },
        FbOp::AvgP { hw, c: LAST_CONV },
        FbOp::Fc {
            cin: LAST_CONV,
            cout: 1000,
        },
    ]
}

/// One searchable layer: a candidate block (kernel, expansion, group) or a skip.
fn candidate(cand: Candidate, hw: u64, cin: u64, cout: u64, stride: u64) -> FbOp {
    match cand {
        Some((k, exp, group)) => FbOp::ConvBlock {
            hw,
            cin,
            cout,
            exp,
            k,
            stride,
            group,
        },
        None => FbOp::Skip {
            hw,
            cin,
            cout,
            stride,
        },
    }
}

/// An FBNet architecture: one candidate index (0..9) per searchable layer (22 layers).
pub fn ops_for(choices: &[usize; 22], r: u64) -> Vec<FbOp> {
    let mut ops = vec![stem(r)];
    let (mut hw, mut cin, mut layer) = (out_hw(r, 2), 16, 0);
    for &(cout, n, s) in &STAGES {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            ops.push(candidate(
                CANDIDATES[choices[layer] % 9],
                hw,
                cin,
                cout,
                stride,
            ));
            hw = out_hw(hw, stride);
            cin = cout;
            layer += 1;
        }
    }
    ops.extend(head(hw, cin));
    ops
}

/// Every distinct op of the space at input resolution `r`.
pub fn space_ops(r: u64) -> Vec<FbOp> {
    let mut ops = vec![stem(r)];
    let (mut hw, mut cin) = (out_hw(r, 2), 16);
    for &(cout, n, s) in &STAGES {
        for first in [true, false] {
            if !first && n == 1 {
                continue;
            }
            let (c, stride, h) = if first {
                (cin, s, hw)
            } else {
                (cout, 1, out_hw(hw, s))
            };
            ops.extend(
                CANDIDATES
                    .iter()
                    .map(|&cand| candidate(cand, h, c, cout, stride)),
            );
        }
        hw = out_hw(hw, s);
        cin = cout;
    }
    ops.extend(head(hw, cin));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_has_every_architecture_op() {
        let keys: std::collections::HashSet<String> =
            space_ops(224).iter().map(FbOp::key).collect();
        for seed in 0..20usize {
            let choices: [usize; 22] = std::array::from_fn(|i| (i * 7 + seed * 13) % 9);
            for op in ops_for(&choices, 224) {
                assert!(keys.contains(&op.key()), "{}", op.key());
                assert!(op.trace(1).is_ok(), "{}", op.key());
            }
        }
        assert_eq!(ops_for(&[0; 22], 224).len(), 1 + 22 + 3);
        assert_eq!(
            FbOp::ConvBlock {
                hw: 56,
                cin: 24,
                cout: 32,
                exp: 6,
                k: 5,
                stride: 2,
                group: 1
            }
            .key(),
            "ConvBlock_H56_W56_Cin24_Cout32_exp6_kernel5_stride2_group1"
        );
    }
}
