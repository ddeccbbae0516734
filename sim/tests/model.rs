//! Properties of the systolic model and the simulation engine on hand-checkable cases.

use vchip_hwmodels::{build_model, load_hardware, CostOptions, HardwareSpec};
use vchip_sim::{simulate, SimResult};
use vchip_workloads::{dsl::parse_dsl, zoo, Trace, TraceOptions};

fn run(trace: &Trace, spec: &HardwareSpec) -> SimResult {
    let model = build_model(spec.clone()).unwrap();
    simulate(trace, model.as_ref(), &CostOptions::default()).unwrap()
}

fn int8(mut t: Trace) -> Trace {
    vchip_workloads::precision::PrecisionPolicy::parse("int8")
        .unwrap()
        .apply(&mut t);
    t
}

fn dsl(src: &str) -> Trace {
    int8(parse_dsl("test.vnet", src, Default::default()).unwrap())
}

#[test]
fn energy_breakdown_sums_to_the_total() {
    let t = int8(zoo::load_by_name("resnet50", &TraceOptions::default()).unwrap());
    let r = run(&t, &load_hardware("tpu-v1").unwrap());
    let e = r.totals.energy_pj.expect("the systolic kind models energy");
    let energy_j = r.totals.energy_j.expect("in joules too");
    let parts = e.mac_pj + e.vector_pj + e.sram_pj + e.dram_pj + e.static_pj;
    assert!((energy_j - parts * 1e-12).abs() <= 1e-12 * energy_j);
    let per_layer: f64 = r.layers.iter().map(|l| l.cost.energy.total()).sum();
    assert!((per_layer - parts).abs() <= 1e-9 * parts);
    assert!(e.mac_pj > 0.0 && e.sram_pj > 0.0 && e.dram_pj > 0.0 && e.static_pj > 0.0);
}

#[test]
fn doubling_dram_energy_per_bit_raises_only_the_dram_share() {
    let t = int8(zoo::load_by_name("resnet18", &TraceOptions::default()).unwrap());
    let spec = load_hardware("edge-tpu-like").unwrap();
    let mut doubled = spec.clone();
    doubled
        .dram
        .as_mut()
        .unwrap()
        .energy_pj_per_bit
        .as_mut()
        .unwrap()
        .0 *= 2.0;
    let (a, b) = (run(&t, &spec).totals, run(&t, &doubled).totals);
    let (ea, eb) = (
        a.energy_pj.expect("modelled"),
        b.energy_pj.expect("modelled"),
    );
    assert_eq!(eb.dram_pj, 2.0 * ea.dram_pj);
    assert_eq!(
        (ea.mac_pj, ea.sram_pj, ea.static_pj, ea.vector_pj),
        (eb.mac_pj, eb.sram_pj, eb.static_pj, eb.vector_pj)
    );
    assert_eq!(a.cycles, b.cycles);
}

#[test]
fn kinds_without_an_energy_model_report_none_never_zero() {
    let t = zoo::load_by_name("resnet18", &TraceOptions::default()).unwrap();
    let cpu = HardwareSpec::from_yaml(
        "round-host.yaml",
        include_str!("../../hwmodels/tests/fixtures/round-host.yaml"),
    )
    .unwrap();
    for (hw, spec) in [
        ("h100-sxm", load_hardware("h100-sxm").unwrap()),
        ("cpu", cpu),
    ] {
        let r = run(&t, &spec);
        assert!(r.totals.energy_pj.is_none(), "{hw}");
        assert!(r.totals.energy_j.is_none(), "{hw}");
        assert!(r.totals.average_power_w.is_none(), "{hw}");
        assert!(r.totals.tops_per_watt.is_none(), "{hw}");
        let json = serde_json::to_value(&r.totals).unwrap();
        assert!(json["energy_j"].is_null(), "{json}");
        assert!(r.area.is_none(), "{hw}");
    }
}

#[test]
fn results_are_identical_with_one_and_two_threads() {
    let t = zoo::load_by_name("llama-2-7b", &TraceOptions::default()).unwrap();
    let spec = load_hardware("systolic").unwrap();
    let with = |n: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        pool.install(|| serde_json::to_string(&run(&t, &spec)).unwrap())
    };
    let one = with(1);
    assert_eq!(one, with(2));
    assert_eq!(one, with(2), "and across runs");
}

/// The systolic model remembers matrix-step costs by everything they depend on: a model that has
/// costed other networks first (warm) gives byte-identical results to a fresh one, and networks
/// sharing layer shapes do not borrow each other's placements.
#[test]
fn remembered_matrix_costs_equal_fresh_ones() {
    let spec = load_hardware("edge-tpu-like").unwrap();
    let warm = build_model(spec.clone()).unwrap();
    let opts = CostOptions::default();
    let nets = ["resnet18", "resnet50", "mobilenetv2", "resnet18"];
    let traces: Vec<Trace> = nets
        .iter()
        .map(|n| int8(zoo::load_by_name(n, &TraceOptions::default()).unwrap()))
        .collect();
    for t in &traces {
        let warm_run = simulate(t, warm.as_ref(), &opts).unwrap();
        let fresh = run(t, &spec);
        assert_eq!(
            serde_json::to_string(&warm_run).unwrap(),
            serde_json::to_string(&fresh).unwrap(),
            "{}",
            t.name
        );
    }
}

/// A 256×256×256 int8 GEMM: each operand is 64 KiB.
const GEMM: &str = "input [256, 256]\nlinear 256 bias=0\n";

#[test]
fn operands_that_fit_on_chip_are_fetched_once() {
    let t = dsl(GEMM);
    let spec = load_hardware("systolic").unwrap(); // 1 MiB ifmap/filter buffers, 512 KiB ofmap
    let r = run(&t, &spec);
    let l = &r.layers[0].cost;
    let dram = l.traffic.iter().find(|x| &*x.level == "dram").unwrap();
    assert_eq!(dram.read_bytes, 2 * 65_536, "A and B read exactly once");
    assert_eq!(dram.write_bytes, 65_536, "C written exactly once");
}

#[test]
fn halving_bandwidth_doubles_memory_time_of_a_memory_bound_layer() {
    // Matrix-vector product (decode-like): 4096×4096 int8 weights, one row of activations.
    let t = dsl("input [4096]\nlinear 4096 bias=0\n");
    let mut spec = load_hardware("scalesim-32x32").unwrap();
    spec.systolic.as_mut().unwrap().dataflow = vchip_hwmodels::spec::Dataflow::Os;
    // 16 then 8 B/cycle at 1 GHz; the traffic (4,096 + 16,777,216 + 4,096 B) divides both exactly.
    spec.dram.as_mut().unwrap().bandwidth_gb_s.0 = 16.0;
    let full = run(&t, &spec).layers[0].cost.clone();
    spec.dram.as_mut().unwrap().bandwidth_gb_s.0 = 8.0;
    let half = run(&t, &spec).layers[0].cost.clone();
    assert!(
        full.memory_cycles > full.compute_cycles,
        "layer must be memory-bound"
    );
    assert_eq!(full.memory_cycles, 16_785_408 / 16);
    assert_eq!(half.memory_cycles, 2 * full.memory_cycles);
    // Total time = memory time + the prologue that loads the first wavefront (33 B here).
    assert_eq!(full.cycles - full.memory_cycles, 33u64.div_ceil(16));
    assert_eq!(half.cycles - half.memory_cycles, 33u64.div_ceil(8));
    assert_eq!(full.compute_cycles, half.compute_cycles);
}

#[test]
fn sram_bandwidth_limit_makes_that_buffer_the_wall() {
    let t = dsl(GEMM);
    let mut spec = load_hardware("scalesim-32x32").unwrap(); // os, 64 KiB per operand
    spec.dram.as_mut().unwrap().bandwidth_gb_s.0 = 1e6; // take DRAM out of the picture
    spec.buffers
        .as_mut()
        .unwrap()
        .ifmap
        .as_mut()
        .unwrap()
        .bytes_per_cycle = Some(vchip_hwmodels::spec::Positive(1.0));
    let c = run(&t, &spec).layers[0].cost.clone();
    // os: A (256x256) is read once per column fold (8 folds) by the array, plus one fill from DRAM.
    assert_eq!(c.array.unwrap().sram.ifmap_reads, 256 * 256 * 8);
    assert_eq!(c.bound.label(), "ifmap_sram");
    assert_eq!(
        c.cycles,
        256 * 256 * 9 + 1,
        "SRAM time + 1-cycle prologue at 1e6 B/cycle DRAM"
    );
}

#[test]
fn shared_buffer_is_split_between_operands() {
    let yaml = vchip_hwmodels::presets::find("scalesim-32x32").unwrap().yaml.replace(
        "  ifmap: { capacity_kib: 64 }    # scale.cfg IfmapSramSzkB\n  filter: { capacity_kib: 64 }   # scale.cfg FilterSramSzkB\n  ofmap: { capacity_kib: 64 }    # scale.cfg OfmapSramSzkB\n",
        "  shared: { capacity_kib: 192 }\n",
    );
    let shared = HardwareSpec::from_yaml("shared.yaml", &yaml).unwrap();
    let separate = load_hardware("scalesim-32x32").unwrap();
    let t = dsl("input [1024, 512]\nlinear 512 bias=0\n");
    let (a, b) = (run(&t, &shared), run(&t, &separate));
    // 192 KiB split three ways is the same capacity per operand as 3 x 64 KiB.
    assert_eq!(a.totals.dram_read_bytes, b.totals.dram_read_bytes);
    assert_eq!(a.totals.cycles, b.totals.cycles);
    let both = yaml.replace(
        "  shared: { capacity_kib: 192 }\n",
        "  shared: { capacity_kib: 192 }\n  ifmap: { capacity_kib: 64 }\n",
    );
    let err = HardwareSpec::from_yaml("both.yaml", &both)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`buffers`") && err.contains("shared"), "{err}");
}
