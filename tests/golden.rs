//! Golden end-to-end tests: `vchip simulate --format json` for a handful of (model, hardware) pairs is
//! compared field by field with checked-in files under `tests/golden/`. After an intentional model
//! change, regenerate them with
//!
//!     UPDATE_GOLDENS=1 cargo test --test golden
//!
//! and review the diff (`git diff tests/golden`) like any other change.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CASES: &[(&str, &[&str])] = &[
    ("resnet18_tpu-v1", &["resnet18", "--hw", "tpu-v1"]),
    (
        "mobilenet_v2_edge-tpu-like",
        &["mobilenet_v2", "--hw", "edge-tpu-like"],
    ),
    ("bert-base_systolic", &["bert-base", "--hw", "systolic"]),
    (
        "llama-2-7b_decode_systolic",
        &[
            "llama-2-7b",
            "--hw",
            "systolic",
            "--phase",
            "decode",
            "--context",
            "2048",
        ],
    ),
    (
        "mixtral_decode_systolic_w4a16",
        &[
            "mixtral-8x7b",
            "--hw",
            "systolic",
            "--phase",
            "decode",
            "--context",
            "1024",
            "--precision",
            "w4a16",
            // 23.5 GB of int4 weights in 16 GiB: the golden is about the cost, not the fit.
            "--allow-no-fit",
        ],
    ),
    (
        "llama-2-7b_decode_sn40l-8",
        &[
            "llama-2-7b",
            "--hw",
            "sn40l-8",
            "--tp",
            "8",
            "--phase",
            "decode",
            "--context",
            "2048",
        ],
    ),
    (
        "inc5b_sa32_os_scalesim",
        &[
            "tests/fixtures/scalesim/inputs/topologies/conv_test_inc5b.csv",
            "--hw",
            "tests/fixtures/scalesim/inputs/configs/sa32_os.cfg",
            "--compat",
            "scalesim",
        ],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Collects every difference between two JSON values as `path: golden -> actual`.
fn diff(path: &str, golden: &Value, actual: &Value, out: &mut Vec<String>) {
    match (golden, actual) {
        (Value::Object(g), Value::Object(a)) => {
            for (k, gv) in g {
                match a.get(k) {
                    Some(av) => diff(&format!("{path}.{k}"), gv, av, out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
            for k in a.keys().filter(|k| !g.contains_key(*k)) {
                out.push(format!("{path}.{k}: new field"));
            }
        }
        (Value::Array(g), Value::Array(a)) => {
            if g.len() != a.len() {
                out.push(format!("{path}: {} items -> {}", g.len(), a.len()));
            }
            for (i, (gv, av)) in g.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), gv, av, out);
            }
        }
        (Value::Number(g), Value::Number(a)) => {
            let (g, a) = (
                g.as_f64().unwrap_or(f64::NAN),
                a.as_f64().unwrap_or(f64::NAN),
            );
            if (g - a).abs() > 1e-12 * g.abs().max(a.abs()) {
                out.push(format!("{path}: {g} -> {a}"));
            }
        }
        (g, a) if g != a => out.push(format!("{path}: {g} -> {a}")),
        _ => {}
    }
}

/// `--fusion off` (and `--compat scalesim`) reproduce the per-layer results vchip gave before the
/// whole-graph engine: every field those files hold (stored under `tests/golden/layer_by_layer/`,
/// written by the layer-by-layer engine and never regenerated) is unchanged; fields added since
/// (steps, memory, levels) are ignored.
#[test]
fn fusion_off_matches_the_layer_by_layer_goldens() {
    let mut failures = Vec::new();
    for (name, args) in CASES {
        // The edge preset has since become a host-link device; its old description is a fixture.
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "edge-tpu-like" {
                    "tests/fixtures/edge-tpu-like-lpddr4.yaml"
                } else {
                    a
                }
            })
            .collect();
        let path = root()
            .join("tests/golden/layer_by_layer")
            .join(format!("{name}.json"));
        if name.contains("sn40l") {
            // Kinds added after the whole-graph engine have no layer-by-layer record.
            continue;
        }
        let actual = simulate_json(name, &args, &["--fusion", "off"]);
        let golden: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut d = Vec::new();
        diff("", &golden, &actual, &mut d);
        d.retain(|m| !m.ends_with(": new field"));
        if !d.is_empty() {
            failures.push(format!(
                "{name}: {}",
                d.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn simulate_json_matches_goldens() {
    let update = std::env::var_os("UPDATE_GOLDENS").is_some();
    let mut failures = Vec::new();
    for (name, args) in CASES {
        let actual = simulate_json(name, args, &[]);
        let path = root().join("tests/golden").join(format!("{name}.json"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
            continue;
        }
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "{} is missing: run UPDATE_GOLDENS=1 cargo test --test golden",
                    rel(&path)
                )
            }))
            .unwrap();
        let mut d = Vec::new();
        diff("", &golden, &actual, &mut d);
        if !d.is_empty() {
            let shown: Vec<_> = d.iter().take(15).cloned().collect();
            failures.push(format!(
                "{name}: {} field(s) differ:\n  {}",
                d.len(),
                shown.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(intentional? UPDATE_GOLDENS=1 cargo test --test golden)",
        failures.join("\n")
    );
}

/// `vchip simulate ARGS EXTRA --format json`, parsed; the run must succeed.
fn simulate_json(name: &str, args: &[&str], extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .current_dir(root())
        .args(["simulate"])
        .args(args)
        .args(extra)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// The same command gives byte-identical JSON, CSV and Parquet with 1 and 2 threads and across runs.
#[test]
fn outputs_are_byte_identical_across_thread_counts_and_runs() {
    let dir = std::env::temp_dir().join(format!("vchip-determinism-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |threads: &str, tag: &str| {
        let mut files = Vec::new();
        for (fmt, args) in [
            (
                "json",
                vec![
                    "simulate",
                    "llama-2-7b",
                    "--hw",
                    "systolic",
                    "--format",
                    "json",
                ],
            ),
            (
                "csv",
                vec![
                    "simulate",
                    "efficientnet_b0",
                    "--hw",
                    "tpu-v1",
                    "--format",
                    "csv",
                ],
            ),
            (
                "trace.json",
                vec!["trace", "mixtral-8x7b", "--format", "json"],
            ),
        ] {
            let f = dir.join(format!("{tag}.{fmt}"));
            let s = f.to_str().unwrap().to_string();
            let o = Command::new(env!("CARGO_BIN_EXE_vchip"))
                .env("RAYON_NUM_THREADS", threads)
                .args(&args)
                .args(["-o", &s])
                .output()
                .unwrap();
            assert!(o.status.success());
            files.push(std::fs::read(&f).unwrap());
        }
        let pq = dir.join(format!("{tag}.parquet"));
        let o = Command::new(env!("CARGO_BIN_EXE_vchip"))
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "sweep",
                "resnet18",
                "mobilenet_v2",
                "--hw",
                "edge-tpu-like",
                "--set",
                "systolic.rows=8..128:8",
                "--set",
                "dram.bandwidth_gb_s=2..64:x2",
                "--pareto",
                "latency,energy",
            ])
            .args([
                "--parts",
                dir.join(format!("{tag}.parts")).to_str().unwrap(),
                "-o",
                pq.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        files.push(std::fs::read(&pq).unwrap());
        files
    };
    let one = run("1", "t1");
    assert_eq!(one, run("2", "t2"), "1 vs 2 threads");
    assert_eq!(one, run("2", "t2b"), "two runs");
    std::fs::remove_dir_all(&dir).ok();
}
