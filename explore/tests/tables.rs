//! NAS cost tables add up: a table's per-op entries sum to the whole subnet's simulated latency.

use vchip_hwmodels::{build_model, load_hardware, Boundary, CostOptions};
use vchip_sim::simulate;
use vchip_workloads::Trace;

fn int8(mut t: Trace) -> Trace {
    vchip_workloads::precision::PrecisionPolicy::parse("int8")
        .unwrap()
        .apply(&mut t);
    t
}

#[test]
fn ofa_table_sums_to_the_whole_subnet_latency() {
    use vchip_explore::nas_table;
    let spec = load_hardware("edge-tpu-like").unwrap();
    let policy =
        vchip_workloads::precision::PrecisionPolicy::parse(spec.precision.as_deref().unwrap())
            .unwrap();
    let hw = build_model(spec).unwrap();
    let opts = CostOptions::default();
    let rows = nas_table::ofa_mbv3(hw.as_ref(), &[176], Some(&policy), &opts).unwrap();
    let lut: std::collections::HashMap<String, f64> = rows
        .iter()
        .map(|r| (r.op.ofa_key(), r.totals.latency_s))
        .collect();
    assert_eq!(lut.len(), rows.len(), "keys are unique");
    for net in nas_table::random_subnets(10, 7, &[176]) {
        let summed: f64 = net.ops().iter().map(|op| lut[&op.ofa_key()]).sum();
        let whole = nas_table::subnet_latency_ms(&net, hw.as_ref(), Some(&policy), &opts)
            .unwrap()
            .totals;
        assert!(
            (summed - whole.latency_s).abs() <= 0.01 * whole.latency_s,
            "{}: {summed} vs {}",
            net.arch_dict(),
            whole.latency_s
        );
    }
}

#[test]
fn ofa_resnet50_table_sums_to_the_whole_subnet_latency() {
    use vchip_workloads::nas::ofa_resnet50::{space_ops, ResSubnet};
    let hw = build_model(load_hardware("tpu-v1").unwrap()).unwrap();
    let opts = CostOptions::default();
    let ops: Vec<(String, Trace, Boundary)> = space_ops(192)
        .into_iter()
        .map(|op| {
            let b = Boundary::of_op(op.reads_network_input(), op.writes_network_output());
            (op.key(), int8(op.trace(1).unwrap()), b)
        })
        .collect();
    let rows =
        vchip_explore::nas_table::keyed_ops("ofa-resnet50", ops, hw.as_ref(), None, &opts).unwrap();
    let lut: std::collections::HashMap<String, f64> = rows
        .iter()
        .map(|(d, t)| (d.key.clone(), t.latency_s))
        .collect();
    for spec in [
        "ofa-resnet50:r=192",
        "ofa-resnet50:r=192:d=01210:e=012012012012012012:w=012102",
        "ofa-resnet50:r=192:d=00000:e=000000000000000000:w=000000",
    ] {
        let net = ResSubnet::parse(spec).unwrap();
        let summed: f64 = net.ops().iter().map(|op| lut[&op.key()]).sum();
        let whole = simulate(&int8(net.trace(1).unwrap()), hw.as_ref(), &opts)
            .unwrap()
            .totals
            .latency_s;
        assert!(
            (summed - whole).abs() <= 0.01 * whole,
            "{spec}: {summed} vs {whole}"
        );
    }
}

/// A kind that does not model energy gets null energy in the distinct-op table, never 0.
#[test]
fn distinct_op_tables_leave_energy_null_for_kinds_without_it() {
    use vchip_explore::nas_table;
    let trace = vchip_workloads::zoo::load_by_name("resnet18", &Default::default()).unwrap();
    for (hw, modelled) in [("h100-sxm", false), ("tpu-v1", true)] {
        let model = build_model(load_hardware(hw).unwrap()).unwrap();
        assert_eq!(model.models_energy(), modelled);
        let ops = nas_table::distinct_ops(
            std::slice::from_ref(&trace),
            model.as_ref(),
            &CostOptions::default(),
        )
        .unwrap();
        let df = nas_table::distinct_frame(&ops, hw, model.spec().clock_hz(), modelled).unwrap();
        let energy = df.column("energy_mj_mean").unwrap();
        let nulls = energy.null_count();
        if modelled {
            assert_eq!(nulls, 0, "{hw}");
        } else {
            assert_eq!(nulls, df.height(), "{hw}");
        }
    }
}
