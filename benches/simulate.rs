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
}

criterion_group!(simulate, benches);
criterion_main!(simulate);
