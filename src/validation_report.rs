//! Writes a validation report: Markdown, JSON, the calibrated hardware YAML and a scatter plot.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use plotters::style::{RGBColor, RED};
use vchip_validate::run::CpuMeasurements;
use vchip_validate::stats::Accuracy;
use vchip_validate::CpuReport;

fn acc_line(name: &str, a: &Accuracy) -> String {
    format!(
        "| {name} | {} | {:.1} % | {:.1} % | {:.0} % | {:.0} % | {:.3} [{:.3}, {:.3}] | {:.3} [{:.3}, {:.3}] |",
        a.kernels, a.mape_pct, a.median_ape_pct, a.within_10_pct, a.within_20_pct, a.spearman.value, a.spearman.low, a.spearman.high, a.kendall.value, a.kendall.low, a.kendall.high
    )
}

pub fn summary(r: &CpuReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| part | kernels | MAPE | median APE | within ±10 % | within ±20 % | Spearman [95 % CI] | Kendall [95 % CI] |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        s,
        "{}",
        acc_line("test (never seen by calibration)", &r.test)
    );
    let _ = writeln!(s, "{}", acc_line("calibration", &r.calibration));
    let _ = writeln!(
        s,
        "{}",
        acc_line("synthetic GEMM grid (never seen by calibration)", &r.grid)
    );
    if !r.skipped.is_empty() {
        let _ = writeln!(
            s,
            "\n{} kernels of this vchip's set are not in these measurements (recorded with an older set) and were skipped: {}.",
            r.skipped.len(),
            r.skipped.join(", ")
        );
    }
    s
}

pub fn write(r: &CpuReport, m: &CpuMeasurements, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(r)?;
    crate::report::write_atomic(&dir.join("report.json"), json.as_bytes())?;
    let json = serde_json::to_string(m)?;
    crate::report::write_atomic(&dir.join("measurements.json"), json.as_bytes())?;
    crate::report::write_atomic(&dir.join("host-cpu.yaml"), r.hardware.to_yaml().as_bytes())?;
    let pts: Vec<crate::plot::ValidationPoint> = r
        .kernels
        .iter()
        .map(|k| (k.measured.median_s, k.predicted_s, k.part, k.name.as_str()))
        .collect();
    // Test points last, so they are drawn on top.
    let parts = [
        ("grid", RGBColor(150, 190, 230)),
        ("calibration", RGBColor(150, 150, 150)),
        ("test", RED),
    ];
    // SVG with a tooltip per kernel, PNG for where SVG does not render (issue trackers, slides).
    crate::plot::validation_plot(&dir.join("scatter.svg"), &pts, &parts)?;
    crate::plot::validation_plot(&dir.join("scatter.png"), &pts, &parts)?;

    let mut md = String::new();
    let _ = writeln!(md, "# vchip CPU validation\n");
    let _ = writeln!(
        md,
        "Host: {} ({} logical CPUs at {:.0} MHz, {}-bit SIMD, FMA: {}, caches {:?} KiB, {:.1} GiB of memory). Run took {:.1} s.\n",
        r.host.model,
        r.host.logical_cpus,
        r.host.mhz,
        r.host.simd_bits,
        r.host.fma,
        r.host.caches_kib,
        r.host.memory_gib,
        r.duration_s
    );
    md.push_str(&summary(r));
    let _ = writeln!(md, "\nKernels come from ResNet-50, MobileNetV2, BERT-base and Llama-2-7B layers; every third one calibrates the model, with synthetic GEMMs of sizes the grid lacks (listed as calibration, source synthetic); the others are the test part. The grid part is synthetic GEMM shapes that calibration never sees either. Each kernel is timed in several interleaved passes after warm-up; a time is the median of the quietest pass, with the median's 95 % confidence interval; outliers (beyond 1.5 IQR) are counted, not removed.\n");
    let _ = writeln!(md, "## Calibrated machine parameters\n");
    for (what, v) in &r.microbenchmarks {
        let _ = writeln!(md, "- {what}: {v:.2}");
    }
    if let Some(c) = &r.hardware.cpu {
        let _ = writeln!(
            md,
            "- the model's terms for this machine: GEMM microkernel {:.1} GFLOP/s per core on {}×{} tiles, passes over A/B/C {}/{}/{} (A within L2: {}), GEMV streams at {:.2} of copy bandwidth, im2col {} ns/element + {} ns/row, direct convolution {} ns/MAC, fixed overhead {} us, parallel overhead {} us, threaded-GEMM wake-up {} us, threaded-GEMM C handoff {} ns/element, cross-core reads {} GB/s, parallel efficiency {:.2}",
            c.gemm_gflops.0,
            c.gemm_tile_rows.0,
            c.gemm_tile_cols.0,
            c.gemm_operand_passes[0].0,
            c.gemm_operand_passes[1].0,
            c.gemm_operand_passes[2].0,
            c.gemm_a_passes_in_l2.0,
            c.gemv_stream_fraction.0,
            c.gather_ns.0,
            c.gather_row_ns.0,
            c.stencil_ns.0,
            c.overhead_us.0,
            c.parallel_overhead_us.0,
            c.gemm_thread_wake_us.0,
            c.gemm_c_handoff_ns.0,
            c.cross_core_gb_s.0,
            c.parallel_efficiency.0
        );
    }
    let _ = writeln!(md, "\n## Worst ten test kernels\n\n| kernel | threads | measured | predicted | error | bound |\n|---|---|---|---|---|---|");
    let mut test: Vec<_> = r.kernels.iter().filter(|k| k.part == "test").collect();
    test.sort_by(|a, b| b.ape_pct.total_cmp(&a.ape_pct));
    for k in test.iter().take(10) {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} us | {:.1} us | {:.1} % | {} |",
            k.name,
            k.threads,
            k.measured.median_s * 1e6,
            k.predicted_s * 1e6,
            k.ape_pct,
            k.bound
        );
    }
    let _ = writeln!(md, "\n## All kernels\n\n| kernel | part | threads | measured [95 % CI] | samples (outliers) | predicted | error |\n|---|---|---|---|---|---|---|");
    for k in &r.kernels {
        let m = &k.measured;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} us [{:.1}, {:.1}] | {} ({}) | {:.1} us | {:.1} % |",
            k.name,
            k.part,
            k.threads,
            m.median_s * 1e6,
            m.ci_low_s * 1e6,
            m.ci_high_s * 1e6,
            m.samples,
            m.outliers,
            k.predicted_s * 1e6,
            k.ape_pct
        );
    }
    let _ = writeln!(md, "\n![predicted vs measured](scatter.svg)");
    crate::report::write_atomic(&dir.join("report.md"), md.as_bytes())?;
    Ok(())
}

pub fn write_gpu(r: &vchip_validate::gpu::GpuReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::report::write_atomic(
        &dir.join("gpu-report.json"),
        serde_json::to_string_pretty(r)?.as_bytes(),
    )?;
    let mut md = String::new();
    let _ = writeln!(md, "# vchip GPU validation (wgpu)\n");
    let _ = writeln!(
        md,
        "Adapter: {} — backend {}, device type {}, driver {}; timestamp queries: {}.\n",
        r.adapter, r.backend, r.device_type, r.driver, r.timestamp_queries
    );
    let _ = writeln!(md, "Fidelity: {}.\n", r.fidelity);
    if let Some(f) = &r.fit {
        let pts: Vec<crate::plot::ValidationPoint> = r
            .kernels
            .iter()
            .filter_map(|k| {
                Some((
                    k.measured.median_s,
                    k.predicted_s?,
                    k.part.as_deref()?,
                    k.name.as_str(),
                ))
            })
            .collect();
        let parts = [("calibration", RGBColor(150, 150, 150)), ("test", RED)];
        crate::plot::validation_plot(&dir.join("gpu-scatter.svg"), &pts, &parts)?;
        crate::plot::validation_plot(&dir.join("gpu-scatter.png"), &pts, &parts)?;
        let _ = writeln!(
            md,
            "| part | kernels | MAPE | median APE | within ±10 % | within ±20 % | Spearman [95 % CI] |\n|---|---|---|---|---|---|---|"
        );
        for (part, a) in [
            ("test (never seen by calibration)", &f.test),
            ("calibration", &f.calibration),
        ] {
            let _ =
                writeln!(
                md,
                "| {part} | {} | {:.1} % | {:.1} % | {:.0} % | {:.0} % | {:.3} [{:.3}, {:.3}] |",
                a.kernels, a.mape_pct, a.median_ape_pct, a.within_10_pct, a.within_20_pct,
                a.spearman, a.spearman_low, a.spearman_high
            );
        }
        let c = &f.costs;
        let _ = writeln!(
            md,
            "\nGPU description: `{}`. The shader's calibrated costs: dispatch {:.2} us; tiled-GEMM K step {:.3} us alone on an SM, {:.3} us per workgroup when interleaved; a convolution's step {:.2}x a GEMM's (im2col gather); an element-wise workgroup {:.3} us with its data in L2, {} in HBM. SM count, residency, L2 size and bandwidths are the description's.\n",
            f.hardware, c.dispatch_us, c.gemm_step_latency_us, c.gemm_step_throughput_us,
            c.conv_gather_factor, c.eltwise_latency_l2_us,
            c.eltwise_latency_hbm_us.map_or("not measured (every element-wise kernel fits in L2)".to_string(), |x| format!("{x:.3} us"))
        );
        let _ = writeln!(md, "![predicted vs measured](gpu-scatter.svg)\n");
    }
    let _ = writeln!(md, "| kernel | part | correct | max rel. error | median time [95 % CI] | samples | GFLOP/s | GB/s (compulsory traffic) | predicted | error |\n|---|---|---|---|---|---|---|---|---|---|");
    for k in &r.kernels {
        let m = &k.measured;
        let (pred, err) = match k.predicted_s {
            Some(p) => (
                format!("{:.1} us", p * 1e6),
                format!("{:+.1} %", 100.0 * (p / m.median_s - 1.0)),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2e} | {:.1} us [{:.1}, {:.1}] | {} | {:.2} | {:.1} | {pred} | {err} |",
            k.name,
            k.part.as_deref().unwrap_or("-"),
            if k.correct { "yes" } else { "NO" },
            k.max_rel_error,
            m.median_s * 1e6,
            m.ci_low_s * 1e6,
            m.ci_high_s * 1e6,
            m.samples,
            k.gflops,
            k.gb_s
        );
    }
    crate::report::write_atomic(&dir.join("gpu-report.md"), md.as_bytes())?;
    Ok(())
}
