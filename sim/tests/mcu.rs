//! The MCU kind against MLPerf Tiny: calibration on the Nucleo-L4R5ZI rows only (re-derived
//! here from the rows), test boards within ±25 %, energy within ±30 %, and the memory planners.
//! Reference figures: MLPerf Tiny v0.5/v1.0 results as collected in docs/mcu.md.

use vchip_hwmodels::mcu::kernels::{profile, LibProfile};
use vchip_hwmodels::mcu::McuModel;
use vchip_hwmodels::spec::mcu::{Library, Planner};
use vchip_hwmodels::{build_model, load_hardware, CostOptions, HardwareSpec};
use vchip_sim::{simulate, SimResult};
use vchip_workloads::precision::PrecisionPolicy;
use vchip_workloads::{zoo, Trace, TraceOptions};

/// MLPerf Tiny benchmarks in the order of the tables: image classification, visual wake words,
/// keyword spotting, anomaly detection.
const MODELS: [&str; 4] = [
    "resnet8",
    "mobilenet_v1_025_vww",
    "ds_cnn_kws",
    "fc_autoencoder",
];

/// Nucleo-L4R5ZI at 120 MHz, ms and µJ per inference (the calibration set).
const L4R5: [(Library, [f64; 4], [f64; 4]); 3] = [
    // TFLM reference kernels, MLPerf Tiny v0.5.
    (
        Library::Tflm,
        [704.23, 600.60, 181.92, 10.05],
        [29207.0, 24313.0, 7374.0, 416.0],
    ),
    // microTVM + CMSIS-NN, v1.0.
    (
        Library::CmsisNn,
        [389.56, 301.20, 99.81, 8.60],
        [20236.0, 15531.0, 5230.0, 443.0],
    ),
    // ST X-CUBE-AI 7.x, v1.0.
    (
        Library::Vendor,
        [226.91, 230.47, 75.06, 7.58],
        [10682.0, 10067.0, 3372.0, 323.0],
    ),
];

fn trace(name: &str) -> Trace {
    let mut t = zoo::load_by_name(name, &TraceOptions::default()).unwrap();
    PrecisionPolicy::parse("int8").unwrap().apply(&mut t);
    t
}

fn board(name: &str, lib: Library) -> HardwareSpec {
    let mut s = load_hardware(name).unwrap();
    s.mcu.as_mut().unwrap().library = lib;
    s
}

fn run(model: &str, spec: &HardwareSpec) -> SimResult {
    let hw = build_model(spec.clone()).unwrap();
    simulate(&trace(model), hw.as_ref(), &CostOptions::default()).unwrap()
}

fn error(predicted: f64, measured: f64) -> f64 {
    predicted / measured - 1.0
}

/// The calibration: with a library's unit weights fixed, fit its scale (M4 cycles per unit) and
/// per-call cycles to the L4R5ZI rows by least squares on relative error (the per-call cost on a
/// 100-cycle grid, the scale in closed form for each), as `docs/mcu.md` describes.
fn calibrate(lib: Library, measured_ms: &[f64; 4]) -> (f64, f64, [f64; 4]) {
    let spec = board("nucleo-l4r5zi", lib);
    let unit = LibProfile {
        scale: 1.0,
        per_op: 0.0,
        ..*profile(lib)
    };
    // Units, flash stall cycles and kernel calls of each model with unit weights.
    let features: Vec<(f64, f64, f64)> = MODELS
        .iter()
        .map(|m| {
            let hw = McuModel::with_profile(spec.clone(), unit).unwrap();
            let r = simulate(&trace(m), &hw, &CostOptions::default()).unwrap();
            let calls = r
                .steps
                .iter()
                .filter(|s| s.kind != vchip_hwmodels::StepKind::View)
                .count();
            (
                r.totals.compute_cycles as f64,
                r.totals.stall_cycles as f64,
                calls as f64,
            )
        })
        .collect();
    let cycles: Vec<f64> = measured_ms.iter().map(|ms| ms * 1e-3 * 120e6).collect();
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for step in 0..=400 {
        let per_op = step as f64 * 100.0;
        let (mut num, mut den) = (0.0, 0.0);
        for ((u, stall, calls), y) in features.iter().zip(&cycles) {
            let w = 1.0 / (y * y);
            num += w * u * (y - stall - per_op * calls);
            den += w * u * u;
        }
        let scale = num / den;
        let rms = features
            .iter()
            .zip(&cycles)
            .map(|((u, stall, calls), y)| ((scale * u + stall + per_op * calls) / y - 1.0).powi(2))
            .sum::<f64>();
        if rms < best.0 {
            best = (rms, scale, per_op);
        }
    }
    let (_, scale, per_op) = best;
    let errs = std::array::from_fn(|i| {
        let (u, stall, calls) = features[i];
        error(scale * u + stall + per_op * calls, cycles[i])
    });
    (scale, per_op, errs)
}

#[test]
fn calibration_on_the_l4r5zi_rows_reproduces_the_stored_profiles() {
    for (lib, ms, _) in L4R5 {
        let (scale, per_op, errs) = calibrate(lib, &ms);
        let p = profile(lib);
        eprintln!(
            "{}: scale {scale:.3} per_op {per_op:.0}; errors {:?}",
            lib.name(),
            errs.map(|e| (e * 1000.0).round() / 10.0)
        );
        assert!(
            (p.scale - scale).abs() <= 0.01 * scale,
            "{}: stored scale {} vs fitted {scale:.3}",
            lib.name(),
            p.scale
        );
        assert!(
            (p.per_op - per_op).abs() <= 100.0,
            "{}: stored per_op {} vs fitted {per_op}",
            lib.name(),
            p.per_op
        );
    }
}

#[test]
fn calibration_rows_are_within_ten_percent() {
    for (lib, ms, _) in L4R5 {
        let spec = board("nucleo-l4r5zi", lib);
        for (m, want) in MODELS.iter().zip(ms) {
            let got = run(m, &spec).totals.latency_s * 1e3;
            let e = error(got, want);
            eprintln!(
                "L4R5ZI {} {m}: {got:.2} ms vs {want} ms ({:+.1} %)",
                lib.name(),
                e * 100.0
            );
            assert!(e.abs() <= 0.10, "{} {m}: {got:.2} vs {want}", lib.name());
        }
    }
}

/// Boards never fitted: the H7A3ZI-Q with X-CUBE-AI (the vendor profile) and the DISCO-F746NG
/// with Plumerai's runtime, predicted with the vendor profile (Plumerai's kernels are closed; the
/// vendor profile is the nearest optimised runtime vchip has).
#[test]
fn test_boards_are_within_25_percent() {
    let rows: [(&str, [f64; 4]); 2] = [
        ("nucleo-h7a3zi-q", [54.34, 50.70, 16.76, 1.83]),
        ("disco-f746ng", [64.77, 57.03, 19.12, 2.29]),
    ];
    for (b, ms) in rows {
        let spec = board(b, Library::Vendor);
        for (m, want) in MODELS.iter().zip(ms) {
            let got = run(m, &spec).totals.latency_s * 1e3;
            let e = error(got, want);
            eprintln!("{b} {m}: {got:.2} ms vs {want} ms ({:+.1} %)", e * 100.0);
            assert!(e.abs() <= 0.25, "{b} {m}: {got:.2} ms vs {want} ms");
        }
    }
}

#[test]
fn energy_is_within_30_percent_on_the_calibration_and_test_boards() {
    for (lib, _, uj) in L4R5 {
        let spec = board("nucleo-l4r5zi", lib);
        for (m, want) in MODELS.iter().zip(uj) {
            let got = run(m, &spec).mcu.unwrap().energy_uj;
            let e = error(got, want);
            eprintln!(
                "L4R5ZI {} {m}: {got:.0} uJ vs {want} uJ ({:+.1} %)",
                lib.name(),
                e * 100.0
            );
            assert!(e.abs() <= 0.30, "{} {m}: {got:.0} vs {want}", lib.name());
        }
    }
    let spec = board("nucleo-h7a3zi-q", Library::Vendor);
    for (m, want) in [("ds_cnn_kws", 2722.0), ("fc_autoencoder", 266.5)] {
        let got = run(m, &spec).mcu.unwrap().energy_uj;
        let e = error(got, want);
        eprintln!(
            "H7A3ZI-Q {m}: {got:.0} uJ vs {want} uJ ({:+.1} %)",
            e * 100.0
        );
        assert!(e.abs() <= 0.30, "H7A3ZI-Q {m}: {got:.0} vs {want}");
    }
}

/// The board's power is the mean of energy / latency over the twelve calibration rows.
#[test]
fn l4r5zi_board_power_is_the_mean_of_its_rows() {
    let mut sum = 0.0;
    for (_, ms, uj) in L4R5 {
        for (t, e) in ms.iter().zip(uj) {
            sum += e / t; // µJ / ms = mW
        }
    }
    let mean = sum / 12.0;
    let preset = load_hardware("nucleo-l4r5zi")
        .unwrap()
        .mcu
        .unwrap()
        .power_mw_per_mhz
        .0
        * 120.0;
    assert!((preset - mean).abs() < 0.05, "{preset} vs {mean:.2}");
}

/// Peak SRAM of the four MLPerf Tiny models with TFLM's planner: the arena holds at least the
/// largest set of tensors alive at one step, and no more than all activations at once; the
/// numbers are tabulated in docs/mcu.md.
#[test]
fn mlperf_tiny_arenas() {
    let spec = board("nucleo-l4r5zi", Library::CmsisNn);
    let mut got = Vec::new();
    for m in MODELS {
        let r = run(m, &spec);
        let mcu = r.mcu.as_ref().unwrap();
        let live_peak = r.memory[0].peak_bytes;
        let all: u64 = trace(m)
            .tensors
            .iter()
            .filter(|t| {
                !matches!(
                    t.role,
                    vchip_workloads::TensorRole::Weight | vchip_workloads::TensorRole::Constant
                )
            })
            .map(|t| t.bytes())
            .sum();
        assert!(mcu.activation_ram_bytes >= live_peak, "{m}");
        assert!(
            mcu.activation_ram_bytes <= all + 64 * 1024,
            "{m}: {} vs {all}",
            mcu.activation_ram_bytes
        );
        assert!(mcu.fits, "{m} fits the L4R5ZI");
        got.push((
            m,
            mcu.activation_ram_bytes,
            mcu.peak_sram_bytes,
            mcu.flash_bytes,
        ));
    }
    eprintln!("{got:?}");
    // ResNet-8's arena is set by a 32x32x16 int8 block: its input kept for the residual, the
    // branch's two activations (16 KiB each) and the conv's im2col scratch.
    let resnet8 = got[0].1;
    assert!(
        (3 * 16384..=3 * 16384 + 2048).contains(&resnet8),
        "{resnet8}"
    );
}

#[test]
fn tinyengine_in_place_depthwise_never_needs_more_sram() {
    for m in ["mobilenet_v1_025_vww", "ds_cnn_kws"] {
        let tflm = run(m, &board("nucleo-l4r5zi", Library::CmsisNn));
        let mut spec = board("nucleo-l4r5zi", Library::CmsisNn);
        spec.mcu.as_mut().unwrap().planner = Planner::Tinyengine;
        let te = run(m, &spec);
        let (a, b) = (
            tflm.mcu.unwrap().activation_ram_bytes,
            te.mcu.unwrap().activation_ram_bytes,
        );
        eprintln!("{m}: TFLM {a} B, TinyEngine {b} B");
        assert!(b < a, "{m}: in place {b} vs {a}");
    }
}

#[test]
fn the_npu_is_faster_than_the_core_and_bounded_by_its_mac_rate() {
    let spec = load_hardware("corstone-300-u55").unwrap();
    let on = run("mobilenet_v1_025_vww", &spec);
    let mut off_spec = spec.clone();
    off_spec.mcu.as_mut().unwrap().use_npu = false;
    let off = run("mobilenet_v1_025_vww", &off_spec);
    assert_eq!(on.mcu.as_ref().unwrap().npu.as_deref(), Some("ethos-u55"));
    assert!(on.totals.cycles * 3 < off.totals.cycles);
    // Never faster than every MAC at 256 per cycle.
    assert!(on.totals.cycles >= on.totals.macs / 256);
}

#[test]
fn libraries_rank_as_measured_on_every_model() {
    // Reference kernels are the slowest and the vendor runtime the fastest, as in MLPerf Tiny.
    for m in MODELS {
        let t: Vec<f64> = [Library::Tflm, Library::CmsisNn, Library::Vendor]
            .iter()
            .map(|&l| run(m, &board("nucleo-l4r5zi", l)).totals.latency_s)
            .collect();
        assert!(t[0] > t[1] && t[1] > t[2], "{m}: {t:?}");
    }
}

#[test]
fn a_network_that_does_not_fit_says_so() {
    let r = run("resnet50", &board("nucleo-l4r5zi", Library::CmsisNn));
    let m = r.mcu.unwrap();
    assert!(!m.fits && !m.sram_fits && !m.flash_fits);
    assert!(m.flash_bytes > 25 * 1000 * 1000, "{}", m.flash_bytes);
    assert!(!m.live_at_peak.is_empty());
}
