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
    c.bench_function("serve llama-2-70b 2048+128 tp8 on dgx-h100", |b| {
        b.iter(|| {
            vchip_sim::serving::serve(
                &name,
                &cfg,
                1,
                2048,
                128,
                None,
                dgx.as_ref(),
                &CostOptions::default(),
            )
            .unwrap()
        })
    });
}

criterion_group!(simulate, benches);
criterion_main!(simulate);
