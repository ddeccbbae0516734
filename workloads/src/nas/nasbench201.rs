//! The NAS-Bench-201 search space (Dong & Yang, ICLR 2020, §2.1 and Fig. 1; HW-NAS-Bench's most
//! used space, Li et al., ICLR 2021): one cell of 4 nodes whose 6 edges each take one of 5 ops,
//! 5^6 = 15,625 architectures, stacked in a fixed macro skeleton.
//!
//! Structure as the reference implementation builds it for inference (AutoDL-Projects,
//! `xautodl/models/cell_infers/{tiny_network,cells}.py` and `cell_operations.py`):
//! - stem: 3×3 conv (3 → C = 16, no bias) + BN;
//! - three stages of N = 5 cells at C, 2C, 4C channels, a residual reduction block between stages
//!   (`ResNetBasicblock`, stride 2: ReLU-conv3×3/2-BN, ReLU-conv3×3-BN, and a shortcut of 2×2/2
//!   average pooling and a 1×1 conv);
//! - BN + ReLU, global average pooling, a linear classifier (10, 100 or 120 classes).
//!
//! In a cell, node j (1..=3) is the sum over i < j of op_{j,i}(node i), and the cell's output is
//! node 3. Ops: `none` (the reference multiplies its input by 0: an element-wise op here too),
//! `skip_connect` (identity), `nor_conv_1x1` / `nor_conv_3x3` (ReLU, conv, BN), `avg_pool_3x3`
//! (3×3/1 average pooling, padding 1). A node of k inputs costs k − 1 additions.
//!
//! Architectures are written as NAS-Bench-201 writes them,
//! `|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|`,
//! and numbered here in base 5 over the edges in that order with the op order of
//! `cell_operations.NAS_BENCH_201`; NAS-Bench-201's own index comes from its benchmark file
//! (`api.query_index_by_arch(arch_str)`), so tables carry the string beside the number.

use crate::builder::{ConvSpec, PoolWindow, TraceBuilder};
use crate::error::{Result, WorkloadError};
use crate::ir::*;

/// The candidate ops, in `cell_operations.NAS_BENCH_201` order.
pub const OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];
/// Edges (to node, from node) in the order of the architecture string.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];
/// Architectures in the space.
pub const SPACE_SIZE: usize = 15_625;
/// Channels of the first stage and cells per stage (NAS-Bench-201 §2.1: C = 16, N = 5).
pub const C: u64 = 16;
pub const N: usize = 5;

/// The data sets NAS-Bench-201 (and HW-NAS-Bench) report: (name, input side, classes).
pub const DATASETS: [(&str, u64, u64); 3] = [
    ("cifar10", 32, 10),
    ("cifar100", 32, 100),
    ("ImageNet16-120", 16, 120),
];

/// One architecture: the op index (into [`OPS`]) of each edge of [`EDGES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell(pub [u8; 6]);

impl Cell {
    /// The `index`-th architecture (0..15,625) in this module's numbering.
    pub fn from_index(index: usize) -> Option<Cell> {
        (index < SPACE_SIZE).then(|| {
            let mut ops = [0u8; 6];
            let mut rest = index;
            for e in (0..6).rev() {
                ops[e] = (rest % 5) as u8;
                rest /= 5;
            }
            Cell(ops)
        })
    }

    pub fn index(&self) -> usize {
        self.0.iter().fold(0, |acc, &o| acc * 5 + o as usize)
    }

    /// NAS-Bench-201's architecture string.
    pub fn arch_str(&self) -> String {
        let mut s = String::from("|");
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            if e > 0 && EDGES[e - 1].0 != to {
                s.push_str("+|");
            }
            s.push_str(OPS[self.0[e] as usize]);
            s.push('~');
            s.push_str(&from.to_string());
            s.push('|');
        }
        s
    }

    /// Parses an architecture string (`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`).
    pub fn parse(s: &str) -> Result<Cell> {
        let bad = |why: String| {
            WorkloadError::Option(format!(
                "NAS-Bench-201 architecture `{s}`: {why}. Fix: write |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops from {}",
                OPS.join(", ")
            ))
        };
        let nodes: Vec<&str> = s.split('+').collect();
        if nodes.len() != 3 {
            return Err(bad(format!(
                "{} nodes, NAS-Bench-201 cells have 3",
                nodes.len()
            )));
        }
        let mut ops = [0u8; 6];
        let mut e = 0;
        for (j, node) in nodes.iter().enumerate() {
            let edges: Vec<&str> = node
                .trim()
                .trim_matches('|')
                .split('|')
                .filter(|p| !p.is_empty())
                .collect();
            if edges.len() != j + 1 {
                return Err(bad(format!(
                    "node {} has {} inputs, it takes {}",
                    j + 1,
                    edges.len(),
                    j + 1
                )));
            }
            for (i, edge) in edges.iter().enumerate() {
                let (op, from) = edge
                    .split_once('~')
                    .ok_or_else(|| bad(format!("`{edge}` is not op~input")))?;
                if from.parse::<usize>().ok() != Some(i) {
                    return Err(bad(format!("`{edge}`: input {i} expected in this place")));
                }
                let k = OPS
                    .iter()
                    .position(|o| *o == op)
                    .ok_or_else(|| bad(format!("unknown op `{op}`")))?;
                ops[e] = k as u8;
                e += 1;
            }
        }
        Ok(Cell(ops))
    }

    /// Every architecture, in index order.
    pub fn all() -> impl Iterator<Item = Cell> {
        (0..SPACE_SIZE).filter_map(Cell::from_index)
    }
}

/// The data set's input side and class count, by NAS-Bench-201's names.
pub fn dataset(name: &str) -> Result<(u64, u64)> {
    DATASETS
        .iter()
        .find(|d| d.0.eq_ignore_ascii_case(name))
        .map(|d| (d.1, d.2))
        .ok_or_else(|| {
            WorkloadError::Option(format!(
                "NAS-Bench-201 data set `{name}`: use cifar10, cifar100 or ImageNet16-120"
            ))
        })
}

/// A model spec `nasbench201:<dataset>:<arch string>` (`nasbench201:cifar10:|nor_conv_3x3~0|+...`)
/// or with the architecture's number (`nasbench201:cifar10:1234`).
pub fn parse_spec(spec: &str) -> Result<(Cell, String)> {
    let rest = spec.strip_prefix("nasbench201:").ok_or_else(|| {
        WorkloadError::Option(format!(
            "`{spec}`: write nasbench201:<cifar10|cifar100|ImageNet16-120>:<arch string or index>"
        ))
    })?;
    let (ds, arch) = rest.split_once(':').ok_or_else(|| {
        WorkloadError::Option(format!(
            "`{spec}`: name the data set and the architecture, e.g. nasbench201:cifar10:|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
        ))
    })?;
    dataset(ds)?;
    // A number (anything without an op's `~`) is an index; an arch string names ops.
    let cell = if arch.contains('~') {
        Cell::parse(arch)?
    } else {
        let index = arch.trim();
        index
            .parse::<usize>()
            .ok()
            .filter(|_| index.bytes().all(|b| b.is_ascii_digit()))
            .and_then(Cell::from_index)
            .ok_or_else(|| {
                WorkloadError::Option(format!(
                    "`{spec}`: `{index}` is not an architecture index of the space: use 0..={} or an arch string (|op~0|+|op~0|op~1|+|op~0|op~1|op~2|)",
                    SPACE_SIZE - 1
                ))
            })?
    };
    Ok((cell, ds.to_string()))
}

fn relu_conv_bn(
    b: &mut TraceBuilder,
    name: &str,
    x: TensorId,
    c_out: u64,
    k: u64,
    stride: u64,
) -> Result<TensorId> {
    b.push_scope(name);
    let y = b.eltwise("relu", EltOp::Relu, &[x])?;
    let y = b.conv2d_bn("conv", "bn", y, ConvSpec::square(c_out, k, stride, k / 2))?;
    b.pop_scope();
    Ok(y)
}

/// One cell (stride 1, `c` channels in and out).
fn cell(b: &mut TraceBuilder, arch: Cell, x: TensorId, c: u64) -> Result<TensorId> {
    let mut nodes = vec![x];
    for j in 1..=3 {
        let mut inputs = Vec::new();
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            if to != j {
                continue;
            }
            let name = format!("edge{j}{from}");
            let src = nodes[from];
            inputs.push(match OPS[arch.0[e] as usize] {
                "none" => b.eltwise(&format!("{name}.zero"), EltOp::Mul, &[src])?,
                "skip_connect" => src,
                "nor_conv_1x1" => relu_conv_bn(b, &name, src, c, 1, 1)?,
                "nor_conv_3x3" => relu_conv_bn(b, &name, src, c, 3, 1)?,
                _ => b.pool(
                    &format!("{name}.avgpool"),
                    src,
                    PoolKind::Avg,
                    PoolWindow {
                        k: 3,
                        stride: 1,
                        pad: 1,
                        ceil_mode: false,
                    },
                )?,
            });
        }
        let mut sum = inputs[0];
        for (k, &t) in inputs.iter().enumerate().skip(1) {
            sum = b.eltwise(&format!("node{j}.add{k}"), EltOp::Add, &[sum, t])?;
        }
        nodes.push(sum);
    }
    Ok(nodes[3])
}

/// The residual reduction block between stages (`ResNetBasicblock`, stride 2).
fn reduction(b: &mut TraceBuilder, x: TensorId, c_out: u64) -> Result<TensorId> {
    let a = relu_conv_bn(b, "conv_a", x, c_out, 3, 2)?;
    let y = relu_conv_bn(b, "conv_b", a, c_out, 3, 1)?;
    let s = b.pool(
        "downsample.avgpool",
        x,
        PoolKind::Avg,
        PoolWindow {
            k: 2,
            stride: 2,
            pad: 0,
            ceil_mode: false,
        },
    )?;
    let s = b.conv2d("downsample.conv", s, ConvSpec::square(c_out, 1, 1, 0))?;
    b.eltwise("add", EltOp::Add, &[s, y])
}

/// The whole network of `arch` for `dataset` at `batch`.
pub fn trace(arch: Cell, dataset_name: &str, batch: u64) -> Result<Trace> {
    let (side, classes) = dataset(dataset_name)?;
    let mut b = TraceBuilder::new(&format!("nasbench201-{}", arch.index()));
    let x = b.input("input", vec![batch, 3, side, side], DType::F32)?;
    b.push_scope("stem");
    let mut y = b.conv2d_bn("conv", "bn", x, ConvSpec::square(C, 3, 1, 1))?;
    b.pop_scope();
    let mut c = C;
    let mut k = 0;
    for stage in 0..3 {
        if stage > 0 {
            c *= 2;
            b.push_scope_fmt(format_args!("cells.{k}"));
            y = reduction(&mut b, y, c)?;
            b.pop_scope();
            k += 1;
        }
        for _ in 0..N {
            b.push_scope_fmt(format_args!("cells.{k}"));
            y = cell(&mut b, arch, y, c)?;
            b.pop_scope();
            k += 1;
        }
    }
    b.push_scope("lastact");
    let y = b.batchnorm("bn", y)?;
    let y = b.eltwise("relu", EltOp::Relu, &[y])?;
    b.pop_scope();
    let y = b.global_avg_pool("global_pooling", y)?;
    let y = b.reshape("flatten", y, vec![batch, c])?;
    b.linear("classifier", y, classes, true)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CONV3: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    #[test]
    fn indices_and_strings_round_trip() {
        let all: Vec<Cell> = Cell::all().collect();
        assert_eq!(all.len(), SPACE_SIZE);
        let mut strings = std::collections::HashSet::new();
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.index(), i);
            let s = c.arch_str();
            assert_eq!(Cell::parse(&s).unwrap(), *c, "{s}");
            strings.insert(s);
        }
        assert_eq!(strings.len(), SPACE_SIZE);
        assert_eq!(Cell::parse(ALL_CONV3).unwrap(), Cell([3; 6]));
        assert_eq!(
            Cell::from_index(0).unwrap().arch_str(),
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        );
        assert!(Cell::from_index(SPACE_SIZE).is_none());
    }

    /// NAS-Bench-201 (Dong & Yang 2020, §3 / its API's `get_cost_info`) gives CIFAR-10 networks
    /// from 7.78 to 220.11 MFLOPs (multiply-accumulates) and 0.073 to 1.53 M parameters: the
    /// all-`none` cell and the all-3x3 cell. Counted here by hand from the skeleton as well:
    /// 3 stages x 5 cells x 6 convs + stem + 2 reduction blocks + classifier.
    #[test]
    fn the_extreme_cells_have_the_published_size() {
        let big = trace(Cell([3; 6]), "cifar10", 1).unwrap().totals();
        let stage = 6 * 5 * (32 * 32 * 16 * 16 * 9);
        let reduction = 16 * 16 * 32 * 16 * 9 + 16 * 16 * 32 * 32 * 9 + 16 * 16 * 32 * 16;
        assert_eq!(
            big.macs,
            32 * 32 * 16 * 3 * 9 + 3 * stage + 2 * reduction + 64 * 10
        );
        assert_eq!(big.macs, 220_119_680);
        assert_eq!(big.params, 1_531_546);
        let small = trace(Cell([0; 6]), "cifar10", 1).unwrap().totals();
        assert_eq!(small.macs, 7_783_040);
        assert_eq!(small.params, 73_306);
        // CIFAR-100 only widens the classifier; ImageNet16-120 quarters the feature maps.
        let c100 = trace(Cell([3; 6]), "cifar100", 1).unwrap().totals();
        assert_eq!(c100.params - big.params, 64 * 90 + 90);
        let in16 = trace(Cell([3; 6]), "ImageNet16-120", 1).unwrap().totals();
        assert_eq!(in16.macs, (big.macs - 640) / 4 + 64 * 120);
    }

    #[test]
    fn skip_and_pool_edges_cost_what_they_do() {
        // Cell of skips: node sums only (1 + 2 + 3 inputs: 0 + 1 + 2 additions), no convolution.
        let skips = trace(Cell([1; 6]), "cifar10", 1).unwrap();
        let cell_adds = skips
            .ops
            .iter()
            .filter(|o| o.name.starts_with("cells.0.") && o.name.contains(".add"))
            .count();
        assert_eq!(cell_adds, 3);
        assert!(!skips
            .ops
            .iter()
            .any(|o| o.name.starts_with("cells.0.") && matches!(o.kind, OpKind::Conv2d(_))));
        let pools = trace(Cell([4; 6]), "cifar10", 1).unwrap();
        let pooled = pools
            .ops
            .iter()
            .filter(|o| o.name.starts_with("cells.0.") && matches!(o.kind, OpKind::Pool { .. }))
            .count();
        assert_eq!(pooled, 6);
    }

    #[test]
    fn bad_specs_name_the_fix() {
        for (spec, want) in [
            (
                "nasbench201:cifar10:|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                "unknown op `nor_conv_5x5`",
            ),
            (
                "nasbench201:cifar10:|none~0|+|none~0|+|none~0|none~1|none~2|",
                "node 2 has 1 inputs",
            ),
            (
                "nasbench201:cifar10:|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                "input 0 expected",
            ),
            ("nasbench201:cifar10:15625", "not an architecture index"),
            ("nasbench201:cifar10:-1", "use 0..=15624"),
            ("nasbench201:cifar10:+5", "not an architecture index"),
            (
                "nasbench201:svhn:0",
                "use cifar10, cifar100 or ImageNet16-120",
            ),
            ("nasbench201:0", "name the data set"),
        ] {
            let e = parse_spec(spec).unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
        }
        assert_eq!(
            parse_spec("nasbench201:cifar100:7").unwrap().0,
            Cell::from_index(7).unwrap()
        );
    }
}
