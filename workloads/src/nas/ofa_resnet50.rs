//! The Once-for-All ResNet-50 space (`OFAResNets` in mit-han-lab/once-for-all,
//! `elastic_nn/networks/ofa_resnets.py`): depth 0/1/2 extra blocks per stage over base depths
//! 2/2/4/2, expand ratio 0.2/0.25/0.35 per block, width multiplier 0.65/0.8/1.0 for the two stem
//! widths and each stage (stage widths 256/512/1024/2048), strides 1/2/2/2.
//!
//! Stem: 3×3/2 conv to `mid`, an optional residual 3×3 conv block (present when `d[0] = 2`), 3×3 conv
//! to `input`, 3×3/2 max pool. Block: 1×1 conv to `make_divisible(round(W·e), 8)`, 3×3 conv (stride),
//! 1×1 conv to W, each with BN (ReLU after the first two); the shortcut is identity, or avg-pool
//! (stride, ceil) + 1×1 conv + BN when the shape changes; ReLU after the add. Classifier to 1000.
//! OFA publishes no latency table for this space, so keys are vchip's, in OFA's style.

use super::make_divisible;
use crate::builder::{ConvSpec, PoolWindow, TraceBuilder};
use crate::error::{Result, WorkloadError};
use crate::ir::*;

pub const BASE_DEPTH: [u64; 4] = [2, 2, 4, 2];
pub const STAGE_WIDTH: [u64; 4] = [256, 512, 1024, 2048];
pub const STRIDES: [u64; 4] = [1, 2, 2, 2];
pub const DEPTHS: [u64; 3] = [0, 1, 2];
pub const EXPANDS: [f64; 3] = [0.2, 0.25, 0.35];
pub const WIDTHS: [f64; 3] = [0.65, 0.8, 1.0];
/// Blocks when every stage is at maximum depth.
pub const MAX_BLOCKS: usize = 18;

fn stem_widths(w: usize) -> (u64, u64) {
    let input = make_divisible(64.0 * WIDTHS[w], 8);
    (make_divisible((input / 2) as f64, 8), input)
}

fn stage_width(stage: usize, w: usize) -> u64 {
    make_divisible(STAGE_WIDTH[stage] as f64 * WIDTHS[w], 8)
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResOp {
    /// 3×3 conv + BN + ReLU (stem), `stride` 2 for the first.
    StemConv {
        hw: u64,
        cin: u64,
        cout: u64,
        stride: u64,
    },
    /// The stem's optional residual 3×3 block.
    StemResidual {
        hw: u64,
        c: u64,
    },
    MaxPool {
        hw: u64,
        c: u64,
    },
    Bottleneck {
        hw: u64,
        cin: u64,
        cout: u64,
        mid: u64,
        stride: u64,
    },
    Classifier {
        cin: u64,
    },
}

fn out_hw(hw: u64, s: u64) -> u64 {
    (hw - 1) / s + 1
}

impl ResOp {
    /// Whether this op is the network's stem, reading its input image (a NAS table costs it with
    /// that input off chip).
    pub fn reads_network_input(&self) -> bool {
        matches!(self, ResOp::StemConv { cin: 3, .. })
    }

    /// Whether this op is the classifier, writing the network's output.
    pub fn writes_network_output(&self) -> bool {
        matches!(self, ResOp::Classifier { .. })
    }

    pub fn key(&self) -> String {
        match *self {
            ResOp::StemConv {
                hw,
                cin,
                cout,
                stride,
            } => format!(
                "Conv-input:{hw}x{hw}x{cin}-output:{0}x{0}x{cout}-kernel:3-stride:{stride}",
                out_hw(hw, stride)
            ),
            ResOp::StemResidual { hw, c } => {
                format!("StemResidual-input:{hw}x{hw}x{c}-output:{hw}x{hw}x{c}")
            }
            ResOp::MaxPool { hw, c } => format!(
                "MaxPool-input:{hw}x{hw}x{c}-output:{0}x{0}x{c}",
                out_hw(hw, 2)
            ),
            ResOp::Bottleneck {
                hw,
                cin,
                cout,
                mid,
                stride,
            } => {
                let down = u8::from(stride != 1 || cin != cout);
                format!("bottleneck-input:{hw}x{hw}x{cin}-output:{0}x{0}x{cout}-mid:{mid}-stride:{stride}-downsample:{down}", out_hw(hw, stride))
            }
            ResOp::Classifier { cin } => format!("Logits-input:1x1x{cin}-output:1000"),
        }
    }

    fn input_shape(&self, batch: u64) -> Vec<u64> {
        match *self {
            ResOp::StemConv { hw, cin, .. } | ResOp::Bottleneck { hw, cin, .. } => {
                vec![batch, cin, hw, hw]
            }
            ResOp::StemResidual { hw, c } | ResOp::MaxPool { hw, c } => vec![batch, c, hw, hw],
            ResOp::Classifier { cin } => vec![batch, cin, 1, 1],
        }
    }

    pub fn emit(&self, b: &mut TraceBuilder, x: TensorId) -> Result<TensorId> {
        let cbr = |b: &mut TraceBuilder, n: &str, x, out, k, s, relu: bool| -> Result<TensorId> {
            let y = b.conv2d_bn(
                &format!("{n}.conv"),
                &format!("{n}.bn"),
                x,
                ConvSpec::square(out, k, s, k / 2),
            )?;
            if relu {
                b.eltwise(&format!("{n}.relu"), EltOp::Relu, &[y])
            } else {
                Ok(y)
            }
        };
        match *self {
            ResOp::StemConv { cout, stride, .. } => cbr(b, "stem", x, cout, 3, stride, true),
            ResOp::StemResidual { c, .. } => {
                let y = cbr(b, "stem_res", x, c, 3, 1, true)?;
                b.eltwise("stem_res.add", EltOp::Add, &[y, x])
            }
            ResOp::MaxPool { .. } => b.pool(
                "max_pool",
                x,
                PoolKind::Max,
                PoolWindow {
                    k: 3,
                    stride: 2,
                    pad: 1,
                    ceil_mode: false,
                },
            ),
            ResOp::Bottleneck {
                cin,
                cout,
                mid,
                stride,
                ..
            } => {
                let mut y = cbr(b, "conv1", x, mid, 1, 1, true)?;
                y = cbr(b, "conv2", y, mid, 3, stride, true)?;
                y = cbr(b, "conv3", y, cout, 1, 1, false)?;
                let short = if stride == 1 && cin == cout {
                    x
                } else {
                    let p = if stride > 1 {
                        b.pool(
                            "downsample.avg",
                            x,
                            PoolKind::Avg,
                            PoolWindow {
                                k: stride,
                                stride,
                                pad: 0,
                                ceil_mode: true,
                            },
                        )?
                    } else {
                        x
                    };
                    cbr(b, "downsample", p, cout, 1, 1, false)?
                };
                let y = b.eltwise("add", EltOp::Add, &[y, short])?;
                b.eltwise("relu", EltOp::Relu, &[y])
            }
            ResOp::Classifier { cin } => {
                let g = b.global_avg_pool("global_avg_pool", x)?;
                let shape = b.shape(g).to_vec();
                let f = b.reshape("flatten", g, vec![shape[0], cin])?;
                b.linear("classifier", f, 1000, true)
            }
        }
    }

    pub fn trace(&self, batch: u64) -> Result<Trace> {
        let mut b = TraceBuilder::new(&self.key());
        let x = b.input("input", self.input_shape(batch), DType::F32)?;
        self.emit(&mut b, x)?;
        Ok(b.finish())
    }
}

/// An OFA-ResNet50 subnet: `d` (5: stem, then per stage), `e` (18 expand-ratio indices), `w`
/// (6 width indices: stem mid, stem output, four stages), resolution `r`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResSubnet {
    pub r: u64,
    pub d: [u64; 5],
    pub e: [usize; MAX_BLOCKS],
    pub w: [usize; 6],
}

impl ResSubnet {
    pub fn max(r: u64) -> Self {
        ResSubnet {
            r,
            d: [2; 5],
            e: [2; MAX_BLOCKS],
            w: [2; 6],
        }
    }

    /// Parses `ofa-resnet50:r=224:d=22222:e=<18 digits 0-2>:w=<6 digits 0-2>` (indices into the
    /// expand and width lists; missing parts: the maximum).
    pub fn parse(s: &str) -> Result<Self> {
        const HELP: &str = "ofa-resnet50:r=224:d=<5 digits 0-2>:e=<18 digits 0-2>:w=<6 digits 0-2>";
        let idx = |k: &str, v: &str, n: usize| super::spec_digits(s, k, v, n, &[0, 1, 2], HELP);
        let mut net = ResSubnet::max(224);
        for (k, v) in super::spec_pairs(s, "ofa-resnet50", HELP)? {
            match k {
                "r" => net.r = super::spec_resolution(s, v, HELP)?,
                "d" => net.d.copy_from_slice(&idx(k, v, 5)?),
                "e" => net
                    .e
                    .iter_mut()
                    .zip(idx(k, v, MAX_BLOCKS)?)
                    .for_each(|(a, b)| *a = b as usize),
                "w" => net
                    .w
                    .iter_mut()
                    .zip(idx(k, v, 6)?)
                    .for_each(|(a, b)| *a = b as usize),
                _ => {
                    return Err(WorkloadError::Option(format!(
                        "subnet `{s}`: unknown key `{k}`. Fix: write {HELP}"
                    )))
                }
            }
        }
        Ok(net)
    }

    pub fn ops(&self) -> Vec<ResOp> {
        let (mid, _) = stem_widths(self.w[0]);
        let (_, input) = stem_widths(self.w[1]);
        let mut hw = self.r;
        let mut ops = vec![ResOp::StemConv {
            hw,
            cin: 3,
            cout: mid,
            stride: 2,
        }];
        hw = out_hw(hw, 2);
        if self.d[0] == 2 {
            ops.push(ResOp::StemResidual { hw, c: mid });
        }
        ops.push(ResOp::StemConv {
            hw,
            cin: mid,
            cout: input,
            stride: 1,
        });
        ops.push(ResOp::MaxPool { hw, c: input });
        hw = out_hw(hw, 2);
        let mut cin = input;
        let mut slot = 0;
        for s in 0..4 {
            let width = stage_width(s, self.w[s + 2]);
            let max_blocks = BASE_DEPTH[s] + 2;
            for i in 0..max_blocks {
                // Inactive blocks still consume their slot in `e`, as in OFA.
                if i < BASE_DEPTH[s] + self.d[s + 1] {
                    let stride = if i == 0 { STRIDES[s] } else { 1 };
                    let mid = make_divisible((width as f64 * EXPANDS[self.e[slot]]).round(), 8);
                    ops.push(ResOp::Bottleneck {
                        hw,
                        cin,
                        cout: width,
                        mid,
                        stride,
                    });
                    hw = out_hw(hw, stride);
                    cin = width;
                }
                slot += 1;
            }
        }
        ops.push(ResOp::Classifier { cin });
        ops
    }

    pub fn trace(&self, batch: u64) -> Result<Trace> {
        let mut b = TraceBuilder::new(&format!("ofa-resnet50-r{}", self.r));
        let mut x = b.input("input", vec![batch, 3, self.r, self.r], DType::F32)?;
        for (i, op) in self.ops().iter().enumerate() {
            b.push_scope_fmt(format_args!("op{i}"));
            x = op.emit(&mut b, x)?;
            b.pop_scope();
        }
        Ok(b.finish())
    }
}

/// Every distinct op of the space at resolution `r`.
pub fn space_ops(r: u64) -> Vec<ResOp> {
    let mut ops = Vec::new();
    let push = |op: ResOp, ops: &mut Vec<ResOp>| {
        if !ops.contains(&op) {
            ops.push(op);
        }
    };
    let hw1 = out_hw(r, 2);
    for wm in 0..3 {
        let (mid, _) = stem_widths(wm);
        push(
            ResOp::StemConv {
                hw: r,
                cin: 3,
                cout: mid,
                stride: 2,
            },
            &mut ops,
        );
        push(ResOp::StemResidual { hw: hw1, c: mid }, &mut ops);
        for wi in 0..3 {
            let (_, input) = stem_widths(wi);
            push(
                ResOp::StemConv {
                    hw: hw1,
                    cin: mid,
                    cout: input,
                    stride: 1,
                },
                &mut ops,
            );
        }
    }
    let mut hw = out_hw(hw1, 2);
    let mut prev: Vec<u64> = (0..3).map(|w| stem_widths(w).1).collect();
    for wi in &prev {
        push(ResOp::MaxPool { hw: hw1, c: *wi }, &mut ops);
    }
    for (s, &stride) in STRIDES.iter().enumerate() {
        let widths: Vec<u64> = (0..3).map(|w| stage_width(s, w)).collect();
        for &width in &widths {
            for e in EXPANDS {
                let mid = make_divisible((width as f64 * e).round(), 8);
                for &cin in &prev {
                    push(
                        ResOp::Bottleneck {
                            hw,
                            cin,
                            cout: width,
                            mid,
                            stride,
                        },
                        &mut ops,
                    );
                }
                push(
                    ResOp::Bottleneck {
                        hw: out_hw(hw, stride),
                        cin: width,
                        cout: width,
                        mid,
                        stride: 1,
                    },
                    &mut ops,
                );
            }
        }
        hw = out_hw(hw, stride);
        prev = widths;
    }
    for &c in &prev {
        push(ResOp::Classifier { cin: c }, &mut ops);
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_subnet_has_resnet50_like_shape() {
        let net = ResSubnet::max(224);
        // 3 stem convs/blocks + pool + 18 bottlenecks + classifier.
        assert_eq!(net.ops().len(), 3 + 1 + 18 + 1);
        let t = net.trace(1).unwrap();
        assert!(
            t.totals().macs > 4_000_000_000,
            "wider and deeper than ResNet-50: {}",
            t.totals().macs
        );
    }

    #[test]
    fn every_subnet_op_is_in_the_space() {
        let keys: std::collections::HashSet<String> =
            space_ops(192).iter().map(ResOp::key).collect();
        let net =
            ResSubnet::parse("ofa-resnet50:r=192:d=01210:e=012012012012012012:w=012102").unwrap();
        for op in net.ops() {
            assert!(keys.contains(&op.key()), "{}", op.key());
        }
        assert_eq!(stem_widths(0), (24, 40));
        assert_eq!(stage_width(3, 1), 1640);
    }
}
