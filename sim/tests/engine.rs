//! The whole-graph engine on the acceptance cases of its issue: what stays on chip, what crosses
//! off-chip memory, and why ResNet-50 on TPU v1 runs at the utilisation it does.

use vchip_hwmodels::spec::Positive;
use vchip_hwmodels::{
    build_model, load_hardware, CostOptions, Fusion, HardwareModel, HardwareSpec, HwError, Level,
    OpCost, StepKind,
};
use vchip_sim::{prepare, simulate, simulate_graph, SimError, SimResult};
use vchip_workloads::graph::Graph;
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::{hf::LlmPhase, zoo, Op, OpKind, TensorRole, Trace, TraceOptions};

fn model(name: &str, batch: u64, precision: &str) -> Trace {
    let opts = TraceOptions {
        batch,
        ..TraceOptions::default()
    };
    let mut t = zoo::load_by_name(name, &opts).unwrap();
    PrecisionPolicy::parse(precision).unwrap().apply(&mut t);
    t
}

fn run(t: &Trace, spec: &HardwareSpec, fusion: Fusion) -> SimResult {
    let hw = build_model(spec.clone()).unwrap();
    let opts = CostOptions {
        fusion,
        ..CostOptions::default()
    };
    simulate(t, hw.as_ref(), &opts).unwrap()
}

/// Bytes of the distinct weight tensors the (rewritten) graph's ops read, of its inputs, and of
/// its outputs.
fn weights_inputs_outputs(g: &Graph) -> (u64, u64, u64) {
    let mut read = vec![false; g.trace.tensors.len()];
    for op in &g.trace.ops {
        for &w in &op.weights {
            read[w.0 as usize] = true;
        }
    }
    let mut w = 0;
    let mut i = 0;
    let mut o = 0;
    for (id, t) in g.trace.tensors.iter().enumerate() {
        let tid = vchip_workloads::TensorId(id as u32);
        if read[id] {
            w += t.bytes();
        } else if t.role == TensorRole::Input && !g.consumers[id].is_empty() {
            i += t.bytes();
        } else if g.is_output(tid) {
            o += t.bytes();
        }
    }
    (w, i, o)
}

#[test]
fn with_buffers_that_hold_everything_a_cnn_moves_only_weights_input_and_output() {
    let mut spec = load_hardware("tpu-v1").unwrap();
    let b = spec.buffers.as_mut().unwrap();
    // 1 GiB per buffer: every activation stays, every weight is fetched once, no partial sum spills.
    for buf in [&mut b.ifmap, &mut b.filter, &mut b.ofmap] {
        buf.as_mut().unwrap().capacity_kib = Positive(1024.0 * 1024.0);
    }
    for name in ["resnet50", "mobilenet_v2"] {
        let t = model(name, 1, "int8");
        let g = prepare(&t, &CostOptions::default()).unwrap();
        let (w, i, o) = weights_inputs_outputs(&g);
        let r = run(&t, &spec, Fusion::On);
        assert_eq!(r.totals.dram_read_bytes, w + i, "{name}: reads");
        assert_eq!(r.totals.dram_write_bytes, o, "{name}: writes");
        // Layer by layer the same chip moves every activation through DRAM, several times over.
        let off = run(&t, &spec, Fusion::Off);
        assert!(
            off.totals.dram_read_bytes > 2 * (w + i),
            "{name}: {}",
            off.totals.dram_read_bytes
        );
    }
    // The figures themselves: ResNet-50 at int8 reads its 224x224x3 image (150,528 B) and its
    // folded weights; it writes 1,000 logits.
    let t = model("resnet50", 1, "int8");
    let g = prepare(&t, &CostOptions::default()).unwrap();
    let (w, i, o) = weights_inputs_outputs(&g);
    assert_eq!((i, o), (150_528, 1_000));
    // 25,557,032 parameters less the 26,560 BatchNorm scales folded into the convolutions (their
    // shifts become the convolutions' biases); one byte each at int8.
    assert_eq!(w, 25_557_032 - 26_560);
}

/// The ResNet-50 / TPU v1 figure from first principles. TPU v1: 256x256 MACs, weight-stationary,
/// 700 MHz, 34 GB/s DDR3, 24 MiB Unified Buffer (Jouppi et al., ISCA 2017). At batch 8 every
/// activation fits the Unified Buffer, so DRAM sees the weights, the images and the logits once;
/// each convolution/fc is a GEMM of M = 8·H·W rows, K = kh·kw·C_in, N = C_out mapped in
/// ceil(K/256)·ceil(N/256) folds of M cycles each (the weight FIFO hides the 256-cycle tile shift
/// whenever M ≥ 256) plus one preload, fill and drain; epilogues (bias, ReLU, residual add) ride the
/// activation pipeline for free.
#[test]
fn resnet50_on_tpu_v1_at_batch_8_from_first_principles() {
    let spec = load_hardware("tpu-v1").unwrap();
    let t = model("resnet50", 8, "int8");
    let on = run(&t, &spec, Fusion::On);
    let off = run(&t, &spec, Fusion::Off);
    assert!(
        on.totals.utilization >= 5.0 * off.totals.utilization,
        "utilisation {:.4} vs layer by layer {:.4}",
        on.totals.utilization,
        off.totals.utilization
    );
    let (r, c) = (256u64, 256u64);
    let dram_bytes_per_cycle = 34e9 / 700e6;
    let mut expected = 0u64;
    let mut pe_cycles_used = 0u64;
    let g = prepare(&t, &CostOptions::default()).unwrap();
    for s in on.steps.iter().filter(|s| s.kind != StepKind::View) {
        let anchor: &Op = g.trace.ops.iter().find(|o| o.name == s.ops[0]).unwrap();
        if let OpKind::Conv2d(cv) = anchor.kind {
            let m = cv.batch * cv.h_out * cv.w_out;
            let k = cv.kh * cv.kw * cv.c_in / cv.groups;
            let n = cv.c_out / cv.groups;
            let folds = k.div_ceil(r) * n.div_ceil(c);
            // Every fold but the last waits for the longer of its stream and the next tile's
            // shift; the last streams and drains.
            let compute = cv.groups * ((folds - 1) * m.max(r) + m + 2 * r + c - 2);
            assert_eq!(s.cost.compute_cycles, compute, "{}", s.ops[0]);
            // The step takes the longer of its compute and its DRAM transfer (weights, plus the
            // image for conv1), after the first weight tile has arrived.
            let dram: u64 = s
                .cost
                .traffic
                .iter()
                .filter(|x| &*x.level == "dram")
                .map(|x| x.read_bytes + x.write_bytes)
                .sum();
            let cycles = |bytes: u64| (bytes as f64 / dram_bytes_per_cycle).ceil() as u64;
            let first_tile = k.min(r) * n.min(c);
            assert_eq!(
                s.cost.cycles,
                compute.max(cycles(dram)) + cycles(first_tile),
                "{}",
                s.ops[0]
            );
            pe_cycles_used += cv.groups * folds * m.max(r);
        }
        expected += s.cost.cycles;
    }
    assert_eq!(expected, on.totals.cycles);
    // The fc at batch 8 (M = 8) is the one memory-bound GEMM: its 2 MB of weights take
    // 2,049,000 / 48.6 ≈ 42.2k cycles against 32 folds × 256 = 8.2k cycles of compute.
    let fc = on.steps.iter().find(|s| s.ops[0] == "fc").unwrap();
    assert_eq!(fc.cost.bound.label(), "dram");
    let fc_dram = (2_048_000.0 + 1_000.0 + 16_384.0) / dram_bytes_per_cycle;
    assert!(
        (fc.cost.cycles as f64 - fc_dram).abs() < 0.05 * fc_dram,
        "{}",
        fc.cost.cycles
    );
    // Utilisation = useful MACs over PE-cycles; the mapping (64-channel layers fill a quarter of
    // the columns, 3x3x64 = 576 rows fill 75 % of three row folds) explains most of the loss.
    let macs = on.totals.macs as f64;
    let mapped_share = macs / (pe_cycles_used as f64 * (r * c) as f64);
    assert!(
        (0.30..0.45).contains(&on.totals.utilization) && on.totals.utilization < mapped_share,
        "utilisation {:.3}, mapping bound {:.3}",
        on.totals.utilization,
        mapped_share
    );
    // Everything live fits the 24 MiB Unified Buffer; DRAM moves weights + images + logits.
    let sram = on.memory.iter().find(|m| m.level == "sram").unwrap();
    assert!(sram.arena_bytes.unwrap() <= 24 << 20, "{sram:?}");
    assert_eq!(on.totals.dram_write_bytes, 8 * 1_000);
}

#[test]
fn a_decode_step_is_bound_by_weight_bytes_so_narrower_weights_run_faster() {
    let spec = load_hardware("tpu-v1").unwrap();
    let opts = TraceOptions {
        seq: Some(128),
        context: Some(128),
        llm_phase: LlmPhase::Decode,
        ..TraceOptions::default()
    };
    let latency = |precision: &str| {
        let mut t = zoo::load_by_name("llama-2-7b", &opts).unwrap();
        PrecisionPolicy::parse(precision).unwrap().apply(&mut t);
        run(&t, &spec, Fusion::On).totals.latency_s
    };
    let (bf16, int8, w4) = (latency("bf16"), latency("int8"), latency("w4a8"));
    // 6.74 G parameters: 13.5 GB of bf16 weights at 34 GB/s is ~0.40 s; int8 halves it, 4-bit
    // weights halve it again (layer by layer every fold waited for its tile: the same latency at
    // every precision).
    assert!((0.38..0.42).contains(&bf16), "{bf16}");
    assert!((int8 / bf16 - 0.5).abs() < 0.03, "{int8} vs {bf16}");
    assert!((w4 / int8 - 0.5).abs() < 0.05, "{w4} vs {int8}");
}

#[test]
fn a_cpu_gemv_beyond_the_caches_reports_dram_bytes() {
    let yaml = include_str!("../../hwmodels/tests/fixtures/round-host.yaml");
    let spec = HardwareSpec::from_yaml("test-host.yaml", yaml).unwrap();
    // A 4096x4096 f32 GEMV: 64 MiB of weights, far beyond the 8 MiB L3.
    let t = vchip_workloads::dsl::parse_dsl(
        "gemv.vnet",
        "input [4096]\nlinear 4096",
        Default::default(),
    )
    .unwrap();
    let r = run(&t, &spec, Fusion::On);
    assert!(
        r.totals.dram_read_bytes >= 4096 * 4096 * 4,
        "{:?}",
        r.totals
    );
    let dram = r.totals.levels.iter().find(|l| !l.on_chip).unwrap();
    assert_eq!(dram.level, "dram");
    // A small GEMM that fits L2 moves nothing off chip.
    let t =
        vchip_workloads::dsl::parse_dsl("small.vnet", "input [64]\nlinear 64", Default::default())
            .unwrap();
    let r = run(&t, &spec, Fusion::On);
    assert_eq!(r.totals.dram_read_bytes, 0);
}

/// Totals count every byte at every level a model declares off chip, whatever its name, for every
/// hardware kind; a model that reports traffic at a level it does not declare is an error, never a
/// silent drop.
#[test]
fn off_chip_traffic_is_never_dropped_from_totals() {
    let t = model("mobilenet_v2", 1, "int8");
    let mut specs: Vec<HardwareSpec> = vchip_hwmodels::presets::PRESETS
        .iter()
        .map(|p| load_hardware(p.name).unwrap())
        .collect();
    // A chip without memory of its own names its off-chip level after the host link.
    let mut usb = load_hardware("edge-tpu-like").unwrap();
    usb.dram.as_mut().unwrap().host_link = true;
    specs.push(usb);
    for spec in &specs {
        for fusion in [Fusion::On, Fusion::Off] {
            let r = run(&t, spec, fusion);
            let from_steps: u64 = r
                .steps
                .iter()
                .map(|s| vchip_sim::offchip_bytes(&s.cost, &r.levels))
                .sum();
            // Microcontrollers keep everything on chip (SRAM and flash): nothing to count.
            let has_offchip = r.levels.iter().any(|l| !l.on_chip);
            assert_eq!(from_steps > 0, has_offchip, "{}", spec.name);
            assert_eq!(
                r.totals.dram_read_bytes + r.totals.dram_write_bytes,
                from_steps,
                "{} {fusion:?}",
                spec.name
            );
        }
    }

    /// A model that reports traffic at an undeclared level.
    struct Leaky(Box<dyn HardwareModel>);
    impl HardwareModel for Leaky {
        fn spec(&self) -> &HardwareSpec {
            self.0.spec()
        }
        fn cost_op(&self, t: &Trace, op: &Op, o: &CostOptions) -> Result<OpCost, HwError> {
            let mut c = self.0.cost_op(t, op, o)?;
            for x in &mut c.traffic {
                x.level = "hbm".into();
            }
            Ok(c)
        }
        fn peak_macs_per_cycle(&self) -> u64 {
            self.0.peak_macs_per_cycle()
        }
        fn levels(&self) -> Vec<Level> {
            self.0.levels()
        }
        fn area(&self) -> vchip_hwmodels::area::Area {
            self.0.area()
        }
    }
    let leaky = Leaky(build_model(load_hardware("systolic").unwrap()).unwrap());
    let g = prepare(&t, &CostOptions::default()).unwrap();
    let e = simulate_graph(&g, &leaky, &CostOptions::default()).unwrap_err();
    assert!(matches!(e, SimError::UndeclaredLevel { .. }), "{e}");
}

#[test]
fn fused_steps_list_their_ops_and_every_op_belongs_to_one_step() {
    let spec = load_hardware("tpu-v1").unwrap();
    let t = model("resnet18", 1, "int8");
    let r = run(&t, &spec, Fusion::On);
    let first = &r.steps[0];
    assert_eq!(first.ops, vec!["conv1".to_string(), "relu".to_string()]);
    assert_eq!(first.kind, StepKind::Fused);
    // A residual block's add and ReLU ride its last convolution.
    let block = r
        .steps
        .iter()
        .find(|s| s.ops.iter().any(|o| o == "layer1.0.add"))
        .unwrap();
    assert_eq!(
        block.ops,
        vec!["layer1.0.conv2", "layer1.0.add", "layer1.0.relu1"]
    );
    let mut seen: Vec<&str> = r
        .steps
        .iter()
        .flat_map(|s| s.ops.iter().map(String::as_str))
        .collect();
    seen.sort_unstable();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "an op in two steps");
    assert_eq!(seen.len(), r.layers.len());
    // BatchNorms are gone (folded), and the pass says how many.
    assert!(r.layers.iter().all(|l| l.op_type != "norm"));
    assert_eq!(r.passes[0].pass, "fold-batchnorm");
    assert_eq!(r.passes[0].ops.len(), 20);
}

/// The whole-graph schedule never makes a network slower or move more off-chip bytes than layer by
/// layer on the same chip: every zoo model on every systolic preset (a single-fold GEMM once paid
/// for a tile shift it never needed; a strided 1x1 convolution once read its whole input).
#[test]
fn the_schedule_never_loses_to_layer_by_layer() {
    let mut failures = Vec::new();
    for preset in vchip_hwmodels::presets::PRESETS {
        let spec = load_hardware(preset.name).unwrap();
        for entry in zoo::ZOO {
            let opts = TraceOptions {
                seq: Some(128),
                context: Some(128),
                ..TraceOptions::default()
            };
            let mut t = zoo::load_by_name(entry.name, &opts).unwrap();
            PrecisionPolicy::parse("int8").unwrap().apply(&mut t);
            let on = run(&t, &spec, Fusion::On).totals;
            let off = run(&t, &spec, Fusion::Off).totals;
            // Biases of products (folded BatchNorm shifts among them) count with fusion on only:
            // layer by layer never charged them.
            let g = prepare(&t, &CostOptions::default()).unwrap();
            let biases: u64 = g
                .trace
                .ops
                .iter()
                .filter(|o| matches!(o.kind, OpKind::Conv2d(_) | OpKind::MatMul(_)))
                .flat_map(|o| o.weights.iter().skip(1))
                .map(|&w| g.trace.tensor(w).bytes())
                .sum();
            if on.cycles > off.cycles {
                failures.push(format!(
                    "{} on {}: {} cycles vs {}",
                    entry.name, preset.name, on.cycles, off.cycles
                ));
            }
            let (b_on, b_off) = (
                on.dram_read_bytes + on.dram_write_bytes,
                off.dram_read_bytes + off.dram_write_bytes,
            );
            if b_on > b_off + biases {
                failures.push(format!(
                    "{} on {}: {b_on} off-chip bytes vs {b_off}",
                    entry.name, preset.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_strided_pointwise_convolution_reads_only_the_pixels_it_uses() {
    let spec = load_hardware("tpu-v1").unwrap();
    let t = vchip_workloads::dsl::parse_dsl(
        "s2.vnet",
        "input [64, 56, 56]\nconv 128 k=1 s=2",
        Default::default(),
    )
    .unwrap();
    let on = run(&t, &spec, Fusion::On);
    // f32: the array reads 28x28x64 pixels (200,704 B) of the 802,816 B tensor, plus the weights.
    let input_read = on.totals.dram_read_bytes - 64 * 128 * 4;
    assert_eq!(input_read, 28 * 28 * 64 * 4);
}

#[test]
fn a_parameter_cache_in_a_shared_buffer_stays_within_it() {
    let yaml = "name: shared-cache\nkind: systolic\nclock_mhz: 500\nsystolic: { rows: 32, cols: 32, dataflow: ws }\n\
                buffers:\n  shared: { capacity_kib: 96 }\n  weight_cache: true\n\
                dram: { technology: lpddr4, capacity_gib: 1, bandwidth_gb_s: 8, energy_pj_per_bit: 8 }\nvector: { lanes: 32 }\n";
    let spec = HardwareSpec::from_yaml("shared-cache.yaml", yaml).unwrap();
    for name in ["resnet18", "mobilenet_v2"] {
        let r = run(&model(name, 1, "int8"), &spec, Fusion::On);
        let sram = r.memory.iter().find(|m| m.level == "sram").unwrap();
        assert!(sram.fits, "{name}: {sram:?}");
        // The planned arena holds the cached weights beside the activations: never below the peak.
        assert!(
            sram.arena_bytes.unwrap() >= sram.peak_bytes,
            "{name}: {sram:?}"
        );
    }
}

/// A totals-only run (batches, Python queries) agrees with a full one on every total, peak and
/// fit, and builds no rows.
#[test]
fn totals_only_runs_agree_with_full_runs() {
    use vchip_sim::{simulate_graph_with, Detail};
    for preset in [
        "tpu-v1",
        "edge-tpu-like",
        "nucleo-h7a3zi-q",
        "a100-sxm-80gb",
    ] {
        let hw = build_model(load_hardware(preset).unwrap()).unwrap();
        for name in ["resnet50", "mobilenet_v2", "resnet8"] {
            let t = model(name, 1, "int8");
            let opts = CostOptions::default();
            let g = prepare(&t, &opts).unwrap();
            let full = simulate_graph(&g, hw.as_ref(), &opts).unwrap();
            let lean = simulate_graph_with(&g, hw.as_ref(), &opts, Detail::Totals).unwrap();
            let json = |v: &dyn erased::Json| v.json();
            assert_eq!(json(&lean.totals), json(&full.totals), "{name} on {preset}");
            assert_eq!(json(&lean.memory), json(&full.memory), "{name} on {preset}");
            assert_eq!(json(&lean.mcu), json(&full.mcu), "{name} on {preset}");
            assert!(lean.steps.is_empty() && lean.layers.is_empty() && lean.passes.is_empty());
            assert_eq!(full.layers.len(), g.trace.ops.len());
        }
    }
}

/// A search-space model traced without names (the NAS query path) costs exactly what the named
/// trace costs, on every kind, with fusion on (its conv-BN pairs then folded as built) and off;
/// only the names are empty.
#[test]
fn unnamed_search_space_traces_cost_the_same() {
    use vchip_hwmodels::Fusion;
    use vchip_sim::{passes_for, simulate_graph_with, Detail};
    use vchip_workloads::{load_model, load_model_unnamed, NormKind};
    // Random subnets of each space (a fixed xorshift stream), beside hand-picked ones.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut digits = |n: usize, of: &[char]| -> String {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                of[(x % of.len() as u64) as usize]
            })
            .collect()
    };
    let mut specs = vec![
        "ofa-mbv3:r=224:d=34234:ks=35735735735735735735:e=34634634634634634634".to_string(),
        "ofa-resnet50:r=192:d=01210:e=012012012012012012:w=012102".to_string(),
        "nasbench201:cifar10:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".to_string(),
        "nasbench201:ImageNet16-120:|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|".to_string(),
    ];
    for r in [160, 192, 224] {
        specs.push(format!(
            "ofa-mbv3:r={r}:d={}:ks={}:e={}",
            digits(5, &['2', '3', '4']),
            digits(20, &['3', '5', '7']),
            digits(20, &['3', '4', '6'])
        ));
        specs.push(format!(
            "ofa-resnet50:r={r}:d={}:e={}:w={}",
            digits(5, &['0', '1', '2']),
            digits(18, &['0', '1', '2']),
            digits(6, &['0', '1', '2'])
        ));
    }
    let opts = TraceOptions::default();
    for preset in ["edge-tpu-like", "a100-sxm-80gb", "nucleo-h7a3zi-q", "sn40l"] {
        let spec = load_hardware(preset).unwrap();
        let hw = build_model(spec.clone()).unwrap();
        let policy = PrecisionPolicy::parse(spec.precision.as_deref().unwrap_or("f32")).unwrap();
        for fusion in [Fusion::On, Fusion::Off] {
            let cost = CostOptions {
                fusion,
                ..CostOptions::default()
            };
            let passes = passes_for(&cost);
            for m in &specs {
                let (Ok(mut named), Ok(mut unnamed)) =
                    (load_model(m, &opts), load_model_unnamed(m, &opts, passes))
                else {
                    panic!("{m} does not load");
                };
                assert!(unnamed.ops.iter().all(|o| o.name.is_empty()), "{m}");
                assert!(
                    unnamed
                        .tensors
                        .iter()
                        .filter(|t| !t.name.is_empty())
                        .count()
                        <= 1
                );
                assert!(named.ops.iter().all(|o| !o.name.is_empty()));
                assert_eq!(named.name, unnamed.name);
                let batchnorms = |t: &Trace| {
                    t.ops
                        .iter()
                        .filter(|o| {
                            matches!(
                                o.kind,
                                OpKind::Norm {
                                    kind: NormKind::Batch,
                                    ..
                                }
                            )
                        })
                        .count()
                };
                // Folded as built where the fold will run (NAS-Bench-201's last BatchNorm follows
                // an Add, which no fold takes); as the named trace has them where it will not.
                if fusion == Fusion::On {
                    assert!(batchnorms(&unnamed) <= 1, "{m}");
                    assert!(unnamed.tensors.len() < named.tensors.len(), "{m}");
                } else {
                    assert_eq!(batchnorms(&unnamed), batchnorms(&named), "{m}");
                }
                policy.apply(&mut named);
                policy.apply(&mut unnamed);
                let run = |t: &Trace| {
                    let g = prepare(t, &cost).unwrap();
                    let ops = g.trace.ops.len();
                    (
                        simulate_graph_with(&g, hw.as_ref(), &cost, Detail::Totals).unwrap(),
                        ops,
                    )
                };
                let ((mut a, a_ops), (mut b, b_ops)) = (run(&named), run(&unnamed));
                assert_eq!(
                    a_ops, b_ops,
                    "{m} on {preset}, {fusion:?}: ops after the passes"
                );
                let json = |v: &dyn erased::Json| v.json();
                assert_eq!(
                    json(&a.totals),
                    json(&b.totals),
                    "{m} on {preset}, {fusion:?}"
                );
                // An MCU's report names what is live at its peak: the names differ, nothing else.
                for r in [&mut a, &mut b] {
                    if let Some(mcu) = r.mcu.as_mut() {
                        mcu.live_at_peak.clear();
                    }
                }
                assert_eq!(json(&a.mcu), json(&b.mcu), "{m} on {preset}, {fusion:?}");
                let peaks = |r: &SimResult| -> Vec<(u64, Option<u64>, usize, usize, bool)> {
                    r.memory
                        .iter()
                        .map(|m| (m.peak_bytes, m.arena_bytes, m.at_step, m.live_count, m.fits))
                        .collect()
                };
                assert_eq!(peaks(&a), peaks(&b), "{m} on {preset}, {fusion:?}");
            }
        }
    }
    // Other models keep their names and their BatchNorms.
    let t = load_model_unnamed("resnet18", &opts, &vchip_workloads::graph::Pass::ALL).unwrap();
    assert!(t.ops.iter().all(|o| !o.name.is_empty()));
    assert!(t.ops.iter().any(|o| matches!(o.kind, OpKind::Norm { .. })));
}

mod erased {
    /// Compares results through their JSON form (the types carry floats, not `PartialEq`).
    pub trait Json {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}
