//! Criterion benchmarks: building traces and simulating whole networks.
//! Run with `cargo bench --bench simulate`.

use criterion::{criterion_group, criterion_main, Criterion};
use vchip_hwmodels::{build_model, load_hardware, CostOptions};
use vchip_workloads::{zoo, TraceOptions};

fn benches(c: &mut Criterion) {
    let opts = TraceOptions::default();
    c.bench_function("trace resnet50 (DSL parse + shape inference)", |b| {
        b.iter(|| zoo::load_by_name("resnet50", &opts).unwrap())
    });
    let resnet50 = zoo::load_by_name("resnet50", &opts).unwrap();
    let mut spec = load_hardware("systolic").unwrap(); // 128x128 array
    spec.systolic.as_mut().unwrap().rows.0 = 128;
    spec.systolic.as_mut().unwrap().cols.0 = 128;
    let hw = build_model(spec).unwrap();
    c.bench_function("simulate resnet50 on 128x128", |b| {
        b.iter(|| vchip_sim::simulate(&resnet50, hw.as_ref(), &CostOptions::default()).unwrap())
    });
    let llama = zoo::load_by_name("llama-2-7b", &opts).unwrap();
    c.bench_function("simulate llama-2-7b prefill+decode on 128x128", |b| {
        b.iter(|| vchip_sim::simulate(&llama, hw.as_ref(), &CostOptions::default()).unwrap())
    });

    // One serving prediction: Llama-2-70B, prefill 2048 + 128 decode steps, TP=8 on a DGX H100
    // (the GPU issue's acceptance case: under 2 ms).
    let (name, cfg) = vchip_workloads::llm_config("llama-2-70b").unwrap().unwrap();
    let cfg = cfg.tensor_parallel(8).unwrap();
    let dgx = build_model(load_hardware("dgx-h100").unwrap()).unwrap();
    // The same prediction on an SN40L node: its sections span layers, so serving costs the whole
    // 80-layer network at each point instead of one and two layers.
    let sn40l = build_model(load_hardware("sn40l-8").unwrap()).unwrap();
    for (hw_name, hw) in [("dgx-h100", &dgx), ("sn40l-8", &sn40l)] {
        c.bench_function(
            &format!("serve llama-2-70b 2048+128 tp8 on {hw_name}"),
            |b| {
                b.iter(|| {
                    vchip_sim::serving::serve(
                        &name,
                        &cfg,
                        1,
                        2048,
                        128,
                        None,
                        hw.as_ref(),
                        &CostOptions::default(),
                    )
                    .unwrap()
                })
            },
        );
    }

    // A Composition of Experts scenario on the SN40L node and a DGX H100 (docs/dataflow.md).
    let spec = load_hardware("sn40l-8").unwrap();
    let dgx_spec = load_hardware("dgx-h100").unwrap();
    let (expert, expert_cfg) = vchip_workloads::llm_config("llama-2-7b").unwrap().unwrap();
    let scenario = vchip_sim::coe::Scenario {
        name: expert,
        cfg: expert_cfg,
        experts: 150,
        requests: vchip_sim::coe::Requests::Zipf {
            s: 1.0,
            count: 1000,
        },
        request_source: "zipf:1".into(),
        prompt: 512,
        gen: 20,
        precision: None,
        router: None,
    };
    c.bench_function("coe 150 llama-2-7b experts, sn40l-8 vs dgx-h100", |b| {
        b.iter(|| {
            vchip_sim::coe::compare(
                &scenario,
                (&spec, sn40l.as_ref(), 8),
                (&dgx_spec, dgx.as_ref(), 8),
            )
            .unwrap()
        })
    });
}

criterion_group!(simulate, benches);
criterion_main!(simulate);
