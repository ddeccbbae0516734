//! NAS search spaces as per-op building blocks: Once-for-All MobileNetV3 (`ofa-mbv3`).
//!
//! The space follows OFA's `OFAMobileNetV3` with width 1.0 (Cai et al., ICLR 2020;
//! mit-han-lab/once-for-all): first conv 3→16 (3×3/2, h-swish), a fixed first block (expand 1,
//! 16→16), five stages of up to four MBConv blocks with out channels 24/40/80/112/160, strides
//! 2/2/2/1/2, h-swish from stage 3, squeeze-excite in stages 2, 4 and 5; kernel 3/5/7, expand 3/4/6,
//! depth 2/3/4; final 1×1 expand to 960, global pool, 1×1 feature mix to 1280, classifier to 1000.
//! Each op knows its OFA latency-table key, so a table built here is read by OFA's own loader.

use crate::builder::{ConvSpec, TraceBuilder};
use crate::error::{Result, WorkloadError};
use crate::ir::*;

/// (out channels, stride, h-swish, squeeze-excite) per stage.
pub const STAGES: [(u64, u64, bool, bool); 5] = [
    (24, 2, false, false),
    (40, 2, false, true),
    (80, 2, true, false),
    (112, 1, true, true),
    (160, 2, true, true),
];
pub const KERNELS: [u64; 3] = [3, 5, 7];
pub const EXPANDS: [u64; 3] = [3, 4, 6];
pub const DEPTHS: [u64; 3] = [2, 3, 4];
pub const RESOLUTIONS: [u64; 5] = [160, 176, 192, 208, 224];
const MAX_DEPTH: usize = 4;

/// OFA's `make_divisible(v, 8)` (rounds to the nearest multiple, never below 90 % of v).
pub fn make_divisible(v: f64, d: u64) -> u64 {
    let d = d as f64;
    let mut n = ((v + d / 2.0) / d).floor() * d;
    n = n.max(d);
    if n < 0.9 * v {
        n += d;
    }
    n as u64
}

/// One costable unit of the space, with the shapes OFA's latency table keys use.
#[derive(Clone, Debug, PartialEq)]
pub enum OfaOp {
    FirstConv {
        r: u64,
    },
    Block {
        hw: u64,
        in_c: u64,
        out_c: u64,
        mid: u64,
        k: u64,
        stride: u64,
        idskip: bool,
        se: bool,
        hs: bool,
    },
    FinalExpand {
        hw: u64,
    },
    AvgPool {
        hw: u64,
    },
    FeatureMix,
    Logits,
}

fn out_hw(hw: u64, stride: u64) -> u64 {
    (hw - 1) / stride + 1
}

impl OfaOp {
    /// Whether this op is the network's stem, reading its input image (a NAS table costs it with
    /// that input off chip).
    pub fn reads_network_input(&self) -> bool {
        matches!(self, OfaOp::FirstConv { .. })
    }

    /// Whether this op is the classifier, writing the network's output.
    pub fn writes_network_output(&self) -> bool {
        matches!(self, OfaOp::Logits)
    }

    /// The key OFA's `MBv3LatencyTable.query` builds for this op.
    pub fn ofa_key(&self) -> String {
        match *self {
            OfaOp::FirstConv { r } => {
                format!("Conv-input:{r}x{r}x3-output:{0}x{0}x16", r.div_ceil(2))
            }
            OfaOp::Block {
                hw,
                in_c,
                out_c,
                mid,
                k,
                stride,
                idskip,
                se,
                hs,
            } => {
                let o = out_hw(hw, stride);
                format!(
                    "expanded_conv-input:{hw}x{hw}x{in_c}-output:{o}x{o}x{out_c}-expand:{mid}-kernel:{k}-stride:{stride}-idskip:{}-se:{}-hs:{}",
                    idskip as u8, se as u8, hs as u8
                )
            }
            OfaOp::FinalExpand { hw } => format!("Conv_1-input:{hw}x{hw}x160-output:{hw}x{hw}x960"),
            OfaOp::AvgPool { hw } => format!("AvgPool2D-input:{hw}x{hw}x960-output:1x1x960"),
            OfaOp::FeatureMix => "Conv_2-input:1x1x960-output:1x1x1280".into(),
            OfaOp::Logits => "Logits-input:1x1x1280-output:1000".into(),
        }
    }

    /// (in_h, in_c, out_h, out_c) for tables.
    pub fn shape(&self) -> (u64, u64, u64, u64) {
        match *self {
            OfaOp::FirstConv { r } => (r, 3, r.div_ceil(2), 16),
            OfaOp::Block {
                hw,
                in_c,
                out_c,
                stride,
                ..
            } => (hw, in_c, out_hw(hw, stride), out_c),
            OfaOp::FinalExpand { hw } => (hw, 160, hw, 960),
            OfaOp::AvgPool { hw } => (hw, 960, 1, 960),
            OfaOp::FeatureMix => (1, 960, 1, 1280),
            OfaOp::Logits => (1, 1280, 1, 1000),
        }
    }

    pub fn input_shape(&self, batch: u64) -> Vec<u64> {
        let (h, c, _, _) = self.shape();
        match self {
            OfaOp::Logits => vec![batch, c],
            _ => vec![batch, c, h, h],
        }
    }

    /// Appends this op's layers to `b`, consuming `x`.
    pub fn emit(&self, b: &mut TraceBuilder, x: TensorId) -> Result<TensorId> {
        let act = |b: &mut TraceBuilder, x, hs: bool| {
            b.eltwise("", if hs { EltOp::HardSwish } else { EltOp::Relu }, &[x])
        };
        match *self {
            OfaOp::FirstConv { .. } => {
                b.push_scope("first_conv");
                let y = b.conv2d_bn("conv", "bn", x, ConvSpec::square(16, 3, 2, 1))?;
                let y = act(b, y, true)?;
                b.pop_scope();
                Ok(y)
            }
            OfaOp::Block {
                in_c,
                out_c,
                mid,
                k,
                stride,
                idskip,
                se,
                hs,
                ..
            } => {
                let mut y = x;
                if mid != in_c {
                    y = b.conv2d_bn(
                        "inverted_bottleneck.conv",
                        "inverted_bottleneck.bn",
                        y,
                        ConvSpec::square(mid, 1, 1, 0),
                    )?;
                    y = act(b, y, hs)?;
                }
                let mut dw = ConvSpec::square(mid, k, stride, k / 2);
                dw.groups = mid;
                y = b.conv2d_bn("depth_conv.conv", "depth_conv.bn", y, dw)?;
                y = act(b, y, hs)?;
                if se {
                    let sq = make_divisible(mid as f64 / 4.0, 8);
                    let g = b.global_avg_pool("se.pool", y)?;
                    let mut c1 = ConvSpec::square(sq, 1, 1, 0);
                    c1.bias = true;
                    let g = b.conv2d("se.reduce", g, c1)?;
                    let g = b.eltwise("se.relu", EltOp::Relu, &[g])?;
                    let mut c2 = ConvSpec::square(mid, 1, 1, 0);
                    c2.bias = true;
                    let g = b.conv2d("se.expand", g, c2)?;
                    let g = b.eltwise("se.hsigmoid", EltOp::HardSigmoid, &[g])?;
                    y = b.eltwise("se.scale", EltOp::Mul, &[y, g])?;
                }
                y = b.conv2d_bn(
                    "point_linear.conv",
                    "point_linear.bn",
                    y,
                    ConvSpec::square(out_c, 1, 1, 0),
                )?;
                if idskip {
                    y = b.eltwise("shortcut", EltOp::Add, &[y, x])?;
                }
                Ok(y)
            }
            OfaOp::FinalExpand { .. } => {
                let y = b.conv2d_bn(
                    "final_expand_layer.conv",
                    "final_expand_layer.bn",
                    x,
                    ConvSpec::square(960, 1, 1, 0),
                )?;
                act(b, y, true)
            }
            OfaOp::AvgPool { .. } => b.global_avg_pool("global_avg_pool", x),
            OfaOp::FeatureMix => {
                let y = b.conv2d("feature_mix_layer.conv", x, ConvSpec::square(1280, 1, 1, 0))?;
                act(b, y, true)
            }
            OfaOp::Logits => b.linear("classifier", x, 1000, true),
        }
    }

    /// A standalone trace of this op (for per-op cost tables).
    pub fn trace(&self, batch: u64) -> Result<Trace> {
        let mut b = TraceBuilder::new(&self.ofa_key());
        let x = b.input("input", self.input_shape(batch), DType::F32)?;
        self.emit(&mut b, x)?;
        Ok(b.finish())
    }
}

/// An OFA-MBv3 subnet: resolution, per-stage depth, per-block kernel and expand ratio (20 slots,
/// 4 per stage, as in OFA's `arch_dict` `{'ks': [...], 'e': [...], 'd': [...], 'r': [..]}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfaSubnet {
    pub r: u64,
    pub d: [u64; 5],
    pub ks: [u64; 20],
    pub e: [u64; 20],
}

impl OfaSubnet {
    /// The largest subnet (ks 7, e 6, d 4) at resolution `r`.
    pub fn max(r: u64) -> Self {
        OfaSubnet {
            r,
            d: [4; 5],
            ks: [7; 20],
            e: [6; 20],
        }
    }

    /// Parses `ofa-mbv3:r=224:d=44444:ks=<20 digits>:e=<20 digits>` (missing parts: the maximum).
    pub fn parse(s: &str) -> Result<Self> {
        const HELP: &str = "ofa-mbv3:r=224:d=44444:ks=<20 digits of 3/5/7>:e=<20 digits of 3/4/6>";
        let mut net = OfaSubnet::max(224);
        for (k, v) in super::spec_pairs(s, "ofa-mbv3", HELP)? {
            match k {
                "r" => net.r = super::spec_resolution(s, v, HELP)?,
                "d" => net
                    .d
                    .copy_from_slice(&super::spec_digits(s, k, v, 5, &DEPTHS, HELP)?),
                "ks" => net
                    .ks
                    .copy_from_slice(&super::spec_digits(s, k, v, 20, &KERNELS, HELP)?),
                "e" => net
                    .e
                    .copy_from_slice(&super::spec_digits(s, k, v, 20, &EXPANDS, HELP)?),
                _ => {
                    return Err(WorkloadError::Option(format!(
                        "subnet `{s}`: unknown key `{k}`. Fix: write {HELP}"
                    )))
                }
            }
        }
        Ok(net)
    }

    /// The ops of the subnet in execution order, as OFA's latency predictor walks them.
    pub fn ops(&self) -> Vec<OfaOp> {
        let (mut ops, mut hw, mut in_c) = stem(self.r);
        for (s, &(out_c, stride, hs, se)) in STAGES.iter().enumerate() {
            for i in 0..self.d[s] as usize {
                let slot = s * MAX_DEPTH + i;
                let st = if i == 0 { stride } else { 1 };
                let mid = make_divisible((in_c * self.e[slot]) as f64, 8);
                ops.push(OfaOp::Block {
                    hw,
                    in_c,
                    out_c,
                    mid,
                    k: self.ks[slot],
                    stride: st,
                    idskip: i > 0,
                    se,
                    hs,
                });
                hw = out_hw(hw, st);
                in_c = out_c;
            }
        }
        ops.extend(head(hw));
        ops
    }

    /// The whole subnet as one trace.
    pub fn trace(&self, batch: u64) -> Result<Trace> {
        let mut b = TraceBuilder::new(&format!("ofa-mbv3-r{}", self.r));
        let ops = self.ops();
        // Room for 12 ops and 30 tensors per block (a 22-block subnet has 222 and 530): short of it
        // the lists double.
        b.reserve(ops.len() * 12, ops.len() * 30);
        let mut x = b.input("input", vec![batch, 3, self.r, self.r], DType::F32)?;
        for (i, op) in ops.iter().enumerate() {
            b.push_scope_fmt(format_args!("op{i}"));
            if let OfaOp::Logits = op {
                let shape = b.shape(x).to_vec();
                x = b.reshape("flatten", x, vec![shape[0], shape[1..].iter().product()])?;
            }
            x = op.emit(&mut b, x)?;
            b.pop_scope();
        }
        Ok(b.finish())
    }

    /// OFA's `arch_dict` as Python literal text (DyNAS-T's `Sub-network` column).
    pub fn arch_dict(&self) -> String {
        let l = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        format!(
            "{{'ks': [{}], 'e': [{}], 'd': [{}], 'r': [{}]}}",
            l(&self.ks),
            l(&self.e),
            l(&self.d),
            self.r
        )
    }
}

/// Every distinct op of the space at resolution `r`, in a fixed order.
pub fn space_ops(r: u64) -> Vec<OfaOp> {
    let (mut ops, mut hw, mut in_c) = stem(r);
    for &(out_c, stride, hs, se) in &STAGES {
        for first in [true, false] {
            let (c, st) = if first { (in_c, stride) } else { (out_c, 1) };
            let h = if first { hw } else { out_hw(hw, stride) };
            for k in KERNELS {
                for e in EXPANDS {
                    let mid = make_divisible((c * e) as f64, 8);
                    ops.push(OfaOp::Block {
                        hw: h,
                        in_c: c,
                        out_c,
                        mid,
                        k,
                        stride: st,
                        idskip: !first,
                        se,
                        hs,
                    });
                }
            }
        }
        hw = out_hw(hw, stride);
        in_c = out_c;
    }
    ops.extend(head(hw));
    ops
}

/// The fixed first layers every subnet shares (3×3/2 stem, a 16-channel block without expansion),
/// with the feature-map size and channels after them.
fn stem(r: u64) -> (Vec<OfaOp>, u64, u64) {
    let hw = r.div_ceil(2);
    let ops = vec![
        OfaOp::FirstConv { r },
        OfaOp::Block {
            hw,
            in_c: 16,
            out_c: 16,
            mid: 16,
            k: 3,
            stride: 1,
            idskip: true,
            se: false,
            hs: false,
        },
    ];
    (ops, hw, 16)
}

/// The fixed last layers every subnet shares, on an `hw`×`hw` feature map.
fn head(hw: u64) -> [OfaOp; 4] {
    [
        OfaOp::FinalExpand { hw },
        OfaOp::AvgPool { hw },
        OfaOp::FeatureMix,
        OfaOp::Logits,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_subnet_has_the_full_structure() {
        // First conv, first block, 5 stages x 4 blocks, final expand, pool, feature mix, classifier.
        let net = OfaSubnet::max(224);
        assert_eq!(net.ops().len(), 2 + 20 + 4);
        let t = net.trace(1).unwrap();
        assert!(t.totals().macs > 0);
        assert_eq!(net.ops()[2].ofa_key(), "expanded_conv-input:112x112x16-output:56x56x24-expand:96-kernel:7-stride:2-idskip:0-se:0-hs:0");
    }

    #[test]
    fn every_subnet_op_is_in_the_space() {
        let net = OfaSubnet::parse(
            "ofa-mbv3:r=176:d=23423:ks=35735735735735735735:e=34634634634634634634",
        )
        .unwrap();
        let keys: std::collections::HashSet<String> =
            space_ops(176).iter().map(OfaOp::ofa_key).collect();
        for op in net.ops() {
            assert!(keys.contains(&op.ofa_key()), "{}", op.ofa_key());
        }
        assert!(OfaSubnet::parse("ofa-mbv3:d=5").is_err());
    }
}
