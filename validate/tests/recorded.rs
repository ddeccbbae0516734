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
//!
//! A third (`fixtures/amd-epyc-zen4-2vcpu-full.json`, its `lscpu` beside it) comes from an AMD
//! EPYC (Zen 4, 2 vCPUs under KVM, 1 MiB L2 per core as the guest sees it, 32 MiB L3), a
//! microarchitecture the model was never developed on. A fourth
//! (`fixtures/xeon-2vcpu-l3-260mib-full.json`, `lscpu` beside it) is the first fresh run of the
//! code that fixed it, on a 2-vCPU Xeon VM with a 260 MiB L3 that no recording came from
//! (November 30, 2026). A fifth (`fixtures/amd-epyc-zen3-2vcpu-full.json`, `lscpu` beside it)
//! is a fresh run on an AMD EPYC Zen 3 VM (AVX2 only, 512 KiB L2 per core), the first recording
//! with the cross-core hand-off passes and the copy over twice the L2 (November 30, 2026); a
//! sixth (`fixtures/amd-epyc-zen3-2vcpu-full-dec1.json`, the same VM, same `lscpu`) a fresh run
//! of session 18's code a day later, whose 16 MiB copy fell past the last cache's end.

use vchip_validate::calibrate::{calibrate, CpuReport};
use vchip_validate::kernels::Kernel;
use vchip_validate::run::CpuMeasurements;

/// The measurements recorded in `fixtures/$file` (embedded, so the test needs no files at run time).
macro_rules! recording {
    ($file:literal) => {
        serde_json::from_str::<CpuMeasurements>(include_str!(concat!("fixtures/", $file)))
            .expect("the recorded measurements parse")
    };
}

fn recorded() -> CpuMeasurements {
    recording!("xeon-2vcpu-full.json")
}

fn recorded_on_amd() -> CpuMeasurements {
    recording!("amd-epyc-zen4-2vcpu-full.json")
}

fn recorded_fresh_on_an_unseen_machine() -> CpuMeasurements {
    recording!("xeon-2vcpu-l3-260mib-full.json")
}

fn recorded_fresh_on_a_zen3() -> CpuMeasurements {
    recording!("amd-epyc-zen3-2vcpu-full.json")
}

fn recorded_again_on_the_zen3() -> CpuMeasurements {
    recording!("amd-epyc-zen3-2vcpu-full-dec1.json")
}

fn recorded_on_another_machine() -> CpuMeasurements {
    recording!("xeon-16core-h200-host-full.json")
}

/// Calibrates from `m` and checks its test part against floors (percent) and a MAPE ceiling;
/// returns the report for further checks.
fn assert_test_part(
    m: &CpuMeasurements,
    within_10: f64,
    within_20: f64,
    mape_below: f64,
) -> CpuReport {
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
    r
}

#[test]
fn a_recording_from_another_machine_meets_the_accuracy_bar() {
    let m = recorded_on_another_machine();
    assert_eq!(m.host.logical_cpus, 16);
    // The bar. With the current model: 91 % (41 of 45) within ±10 %, 96 % (43 of 45)
    // within ±20 %, MAPE 5.5 %, Spearman 0.998 (82 %, 93 %, 6.4 % before the residual add in L2
    // read at what the copy costs beyond the fill and threaded tasks re-read A at what it costs
    // beyond L2; 93 % and 5.2 % before threaded tasks paid for packing A: Llama's 2-thread
    // prefill projection went -5.7 → -10.8 % with the refit). No slack on ±10 %.
    assert_test_part(&m, 90.0, 93.0, 6.0);
}

#[test]
fn a_recording_from_an_amd_zen4_meets_the_accuracy_bar() {
    let m = recorded_on_amd();
    assert_eq!(m.host.model, "AMD EPYC");
    // The bar: 90 % within ±10 % and a MAPE of at most 6 %. With the current model: 43 of
    // 45 (95.6 %), MAPE 4.4 %. Before: 84 % and 6.0 % (no last-cache bandwidth curve, no bound
    // on the GEMV's dot products), 91.1 % and 4.5 % (threaded tasks re-reading A from their
    // level beside C), 93.3 % and 4.3 % (that re-read charged in full, not beyond L2), 91.1 %
    // and 4.6 % (threaded tasks not paying for packing A). One kernel of slack.
    assert_test_part(&m, 93.0, 93.0, 5.0);
}

#[test]
fn a_fresh_run_on_a_machine_no_recording_came_from_meets_the_bar() {
    let m = recorded_fresh_on_an_unseen_machine();
    assert_eq!(m.host.caches_kib, vec![48, 2048, 266240]);
    // 42 of 45 (93.3 %) within ±10 %, 98 % within ±20 %, MAPE 3.7 % (91.1 % and 4.2 % before
    // threaded tasks paid for packing A). One kernel of slack.
    assert_test_part(&m, 91.0, 95.0, 4.2);
}

#[test]
fn a_fresh_run_on_an_amd_zen3_meets_the_bar() {
    let m = recorded_fresh_on_a_zen3();
    assert_eq!(m.host.simd_bits, 256);
    assert_eq!(m.host.caches_kib, vec![32, 512, 32768]);
    // The bar. With the current model: 41 of 45 (91 %) within ±10 %, 43 of 45 (96 %)
    // within ±20 %, MAPE 5.5 % (84 % and 5.9 % before threaded tasks re-read A at what it costs
    // beyond L2, 87 % and 5.7 % before they paid for packing it). No slack on ±10 %.
    assert_test_part(&m, 90.0, 93.0, 6.0);
}

#[test]
fn a_second_fresh_run_on_the_zen3_meets_the_bar() {
    let m = recorded_again_on_the_zen3();
    assert_eq!(m.host.caches_kib, vec![32, 512, 32768]);
    // The bar. With the current model: 41 of 45 (91 %) within ±10 %, 42 of 45 (93 %)
    // within ±20 %, MAPE 4.4 % (89 % and 5.2 % before threaded tasks paid for packing A). No
    // slack on ±10 %.
    let r = assert_test_part(&m, 90.0, 91.0, 5.0);
    // Its copies ran 75, 67 and 54 GB/s at 4, 8 and 16 MiB (DRAM 34), so the last cache ends at
    // 8 MiB; ResNet's 9.6 MB residual add, measured at 124 µs, streams on the curve towards the
    // 16 MiB point (150 µs), not at DRAM's 34 GB/s (282 µs, +127 %).
    let add = r
        .kernels
        .iter()
        .find(|k| k.name == "resnet50:add_56")
        .expect("the residual add");
    assert!(add.ape_pct < 25.0, "{} %", add.ape_pct);
}

/// The cross-core read bandwidth of a calibrated recording and the microbenchmark line that
/// reports it.
fn cross_core(m: &CpuMeasurements) -> (f64, String) {
    let r = calibrate(m, &|_| {}).expect("calibrates");
    let line = r
        .microbenchmarks
        .iter()
        .find(|(what, _)| what.starts_with("cross-core reads"))
        .expect("the report lists the cross-core bandwidth");
    let gb_s = r.hardware.cpu.as_ref().expect("a CPU").cross_core_gb_s.0;
    assert_eq!(gb_s, line.1);
    (gb_s, line.0.clone())
}

#[test]
fn the_cross_core_bandwidth_is_measured_where_the_recording_has_the_hand_off_passes() {
    // Recordings made before the hand-off microbenchmark keep the 10 GB/s set on a Xeon.
    let (old, what) = cross_core(&recorded());
    assert_eq!(old, 10.0);
    assert!(what.contains("assumed"), "{what}");
    // On the Zen 3 VM, whose two vCPUs share an L3, the 32 passes over 256 KiB (8 MiB) took
    // 208 µs handed over against 191 µs kept on one core: some 500 GB/s, a small charge.
    let m = recorded_fresh_on_a_zen3();
    let median = |m: &CpuMeasurements, remote: bool| -> f64 {
        m.items
            .iter()
            .find(|i| matches!(i.kernel, Kernel::HandOff { remote: r, .. } if r == remote))
            .expect("the hand-off passes")
            .measured
            .median_s
    };
    let bytes = 32.0 * 256.0 * 1024.0;
    let (measured, what) = cross_core(&m);
    assert!(what.contains("hand-off less same-core"), "{what}");
    let expected = bytes / (median(&m, true) - median(&m, false)) / 1e9;
    assert!(
        (measured - expected).abs() < 1e-9 * expected,
        "{measured} {expected}"
    );
    assert!((400.0..600.0).contains(&measured), "{measured}");
    // Passes kept on one core that took longer than handed-over ones: no charge at all (0 is
    // the description's "none").
    let mut free = m.clone();
    let remote_s = median(&free, true);
    for item in &mut free.items {
        if matches!(item.kernel, Kernel::HandOff { remote: false, .. }) {
            item.measured.median_s = remote_s * 1.01;
        }
    }
    let (none, what) = cross_core(&free);
    assert_eq!(none, 0.0);
    assert!(what.contains("no longer"), "{what}");
}

#[test]
fn the_recorded_run_meets_the_accuracy_bar() {
    // The bar is 90 % within ±10 % and Spearman ≥ 0.95, raised here to the level the
    // model holds: on this recording it reaches 43 of 45 (95.6 %), 100 % within ±20 % and a MAPE
    // of 3.9 %; one kernel of slack.
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
fn an_older_kernel_set_loads_with_the_missing_kernels_skipped_and_counted() {
    let full = calibrate(&recorded(), &|_| {}).expect("calibrates");
    assert!(full.skipped.is_empty());
    // The last item is a test kernel (Llama-2-7B's prefill projection on 2 threads); an older
    // recording without it still calibrates, and that kernel is named as skipped.
    let mut m = recorded();
    m.items.pop();
    let r = calibrate(&m, &|_| {}).expect("a recording that lacks a test kernel calibrates");
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert!(r.skipped[0].contains("prefill_qproj"), "{:?}", r.skipped);
    assert_eq!(r.test.kernels, full.test.kernels - 1);
    // Items are matched by kernel, not position: a reordered recording gives the same model (a
    // stable sort keeps a kernel timed twice in its order).
    let mut m = recorded();
    m.items.sort_by_key(|i| format!("{:?}", i.kernel));
    let r = calibrate(&m, &|_| {}).expect("calibrates");
    assert_eq!(r.hardware, full.hardware);
}

#[test]
fn a_damaged_recording_with_a_non_positive_time_is_refused() {
    let mut m = recorded();
    let last = m.items.len() - 1;
    m.items[last].measured.median_s = -1.0;
    let e = calibrate(&m, &|_| {}).expect_err("a negative time is refused");
    assert!(e.to_string().contains("must be positive"), "{e}");
}

#[test]
fn a_recording_without_a_microbenchmark_anchor_is_refused() {
    let mut m = recorded();
    let gemv = Kernel::Gemm {
        m: 1,
        n: 8192,
        k: 4096,
    };
    m.items.retain(|i| i.kernel != gemv);
    let e = calibrate(&m, &|_| {}).expect_err("the GEMV anchor is missing");
    assert!(e.to_string().contains("1x8192x4096"), "{e}");
    assert!(e.to_string().contains("time them again"), "{e}");
}

/// The effective L3 (KiB) and the last point of the last cache's curve (KiB, GB/s) calibrated
/// from the Zen 3 recording with its 16 MiB copy timed at `gb_s`.
fn last_cache_with_16_mib_copy_at(gb_s: f64) -> (f64, (f64, f64)) {
    let mut m = recorded_fresh_on_a_zen3();
    let bytes = 16usize << 20;
    let copy = m
        .items
        .iter_mut()
        .find(|i| i.threads == 1 && matches!(i.kernel, Kernel::Copy { n } if n == bytes / 8))
        .expect("the 16 MiB copy");
    copy.measured.median_s = bytes as f64 / (gb_s * 1e9);
    let r = calibrate(&m, &|_| {}).expect("calibrates");
    let cpu = r.hardware.cpu.expect("a CPU");
    let effective = cpu.caches_kib[2].0;
    let last = (
        cpu.llc_working_set_kib.last().expect("a curve").0,
        cpu.llc_bandwidth_gb_s.last().expect("a curve").0,
    );
    (effective, last)
}

#[test]
fn the_last_cache_s_curve_ends_at_the_first_point_past_it_that_still_beats_dram() {
    // The recording copied 71 and 73 GB/s at 4 and 8 MiB, DRAM 33.5: the level ends where a
    // copy falls below 52.5 GB/s (half-way). At 45 GB/s the 16 MiB point is past the level's
    // end but faster than DRAM, so it closes the curve (one thread streams a 9.6 MB working set
    // between 73 and 45 GB/s, not at DRAM's 33.5); at 30 GB/s it is DRAM's and the curve ends
    // with the level. Either way the level ends at 8 MiB.
    let (effective, last) = last_cache_with_16_mib_copy_at(45.0);
    assert_eq!(effective, 8192.0);
    assert_eq!(last.0, 16384.0);
    assert!((last.1 - 45.0).abs() < 1e-9, "{last:?}");
    let (effective, last) = last_cache_with_16_mib_copy_at(30.0);
    assert_eq!(effective, 8192.0);
    assert_eq!(last.0, 8192.0);
}
