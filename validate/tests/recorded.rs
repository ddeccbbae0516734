//! Calibration and prediction from measurements recorded by a full `vchip validate --device cpu`
//! run on a real machine (`fixtures/xeon-2vcpu-full.json`: Intel Xeon with AVX-512, 2 vCPUs under
//! KVM, November 2026). Calibrating from a fixed recording is deterministic, so the model's
//! accuracy on it is pinned: a model change that loses accuracy fails here, not only on the next
//! (noisy) timing run. Re-record the fixture when the kernel set changes (the error says so).
//!
//! A second recording (`fixtures/xeon-16core-h200-host-full.json`) comes from another machine: the
//! 16-core Xeon host (2 MiB L2 per core, 300 MiB L3, Firecracker VM) of a lent H200 GPU machine,
//! November 2026, run by `scripts/validate-gpu.sh`. It keeps the model honest beyond the machine
//! it was tuned on; it cannot be re-recorded without such a machine, so a kernel-set change that
//! invalidates it must say so in docs/validation.md.

use vchip_validate::calibrate::calibrate;
use vchip_validate::run::CpuMeasurements;

fn recorded() -> CpuMeasurements {
    serde_json::from_str(include_str!("fixtures/xeon-2vcpu-full.json"))
        .expect("the recorded measurements parse")
}

fn recorded_on_another_machine() -> CpuMeasurements {
    serde_json::from_str(include_str!("fixtures/xeon-16core-h200-host-full.json"))
        .expect("the recorded measurements parse")
}

/// Calibrates from `m` and checks its test part against floors (percent) and a MAPE ceiling.
fn assert_test_part(m: &CpuMeasurements, within_10: f64, within_20: f64, mape_below: f64) {
    let r = calibrate(m, &|_| {}).expect("calibrates");
    let t = &r.test;
    assert_eq!(t.kernels, 45);
    assert!(
        t.within_10_pct >= within_10,
        "within ±10 %: {:.1} %",
        t.within_10_pct
    );
    assert!(
        t.within_20_pct >= within_20,
        "within ±20 %: {:.1} %",
        t.within_20_pct
    );
    assert!(t.spearman.value >= 0.95, "{:?}", t.spearman);
    assert!(t.mape_pct < mape_below, "test MAPE {:.2} %", t.mape_pct);
}

#[test]
fn a_recording_from_another_machine_keeps_its_accuracy() {
    let m = recorded_on_another_machine();
    assert_eq!(m.host.logical_cpus, 16);
    // With the current model: 80 % (36 of 45) within ±10 %, 93 % (42 of 45) within ±20 %, MAPE
    // 6.7 %, Spearman 0.998. One kernel of slack on each; ±10 % is below the bar on this machine
    // (docs/validation.md says why), so it is pinned near its current level.
    assert_test_part(&m, 77.0, 91.0, 7.0);
}

#[test]
fn the_recorded_run_meets_the_accuracy_bar() {
    // The bar is 90 % within ±10 % and Spearman ≥ 0.95, raised here to the level the
    // model holds: on this recording it reaches 43 of 45 (95.6 %), 100 % within ±20 % and a MAPE
    // of 3.7 %; one kernel of slack.
    assert_test_part(&recorded(), 93.0, 97.0, 4.5);
}

#[test]
fn calibration_from_a_recording_is_deterministic() {
    let (a, b) = (
        calibrate(&recorded(), &|_| {}).expect("calibrates"),
        calibrate(&recorded(), &|_| {}).expect("calibrates"),
    );
    assert_eq!(a.hardware, b.hardware);
    let times = |r: &vchip_validate::CpuReport| -> Vec<u64> {
        r.kernels.iter().map(|k| k.predicted_s.to_bits()).collect()
    };
    assert_eq!(times(&a), times(&b));
}

#[test]
fn measurements_of_another_kernel_set_are_refused() {
    let mut m = recorded();
    m.items.pop();
    let e = calibrate(&m, &|_| {}).expect_err("a shorter recording must not calibrate");
    assert!(e.to_string().contains("time them again"), "{e}");
    let mut m = recorded();
    m.quick = true;
    assert!(calibrate(&m, &|_| {}).is_err());
}
