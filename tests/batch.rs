//! Batches keep each candidate's identity: a sweep or a `table models` over many model specs
//! gives one row per (spec, point) under the spec as given, in the order given, with that
//! spec's own figures (several OFA subnets trace to one network name; rows must not merge,
//! re-sort or swap them).

use std::path::PathBuf;
use std::process::Command;

fn vchip(args: &[&str]) -> std::process::Output {
    let o = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args(args)
        .output()
        .expect("run vchip");
    assert!(
        o.status.success(),
        "vchip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vchip-batch-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The whole-network cycle count `vchip simulate` gives one spec on a preset (an integer:
/// compared exactly, where parsing JSON floats could differ in the last bit).
fn cycles(spec: &str, hw: &str) -> u64 {
    let o = vchip(&["simulate", spec, "--hw", hw, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["totals"]["cycles"].as_u64().unwrap()
}

/// Distinct subnets (different depths, kernels and resolutions) that all trace to names of the
/// form `ofa-mbv3-r<res>`, given out of any sorted order, one of them twice.
const SPECS: [&str; 5] = [
    "ofa-mbv3:r=224:d=44444:ks=77777777777777777777:e=66666666666666666666",
    "ofa-mbv3:r=160:d=22222:ks=33333333333333333333:e=33333333333333333333",
    "ofa-mbv3:r=224:d=23432:ks=35735735735735735735:e=34634634634634634634",
    "resnet50",
    "ofa-mbv3:r=160:d=22222:ks=33333333333333333333:e=33333333333333333333",
];

#[test]
fn sweep_rows_are_each_specs_own_figures_in_the_order_given() {
    let dir = scratch("sweep");
    let out = dir.join("s.csv");
    let mut args = vec!["sweep"];
    args.extend(SPECS);
    // tpu-v1 runs at 700 MHz: the first point is the preset itself.
    args.extend(["--hw", "tpu-v1", "--set", "clock_mhz=700,1400"]);
    let out_s = out.to_string_lossy().into_owned();
    args.extend(["-o", &out_s]);
    vchip(&args);
    let csv = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2 * SPECS.len(), "{csv}");
    for (i, r) in rows.iter().enumerate() {
        // Point-major, then the models in the order given.
        assert_eq!(r[col("point")], (i / SPECS.len()).to_string(), "{csv}");
        let k = i % SPECS.len();
        assert_eq!(r[col("model_index")], k.to_string(), "{csv}");
        assert_eq!(r[col("model")], SPECS[k], "{csv}");
    }
    for (k, spec) in SPECS.iter().enumerate() {
        let got: u64 = rows[k][col("cycles")].parse().unwrap();
        assert_eq!(got, cycles(spec, "tpu-v1"), "row {k} ({spec})");
    }
    // The duplicate spec has the same figures; distinct specs do not.
    assert_eq!(rows[1][col("latency_s")], rows[4][col("latency_s")]);
    assert_ne!(rows[0][col("latency_s")], rows[2][col("latency_s")]);
}

#[test]
fn table_models_writes_one_row_per_model_as_given() {
    let dir = scratch("table");
    let out = dir.join("t");
    let list = SPECS.join(",");
    let out_s = out.to_string_lossy().into_owned();
    vchip(&[
        "table", "models", "--models", &list, "--hw", "tpu-v1", "-o", &out_s,
    ]);
    let bytes = std::fs::read(out.join("networks.parquet")).unwrap();
    use polars::prelude::*;
    let df = ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .unwrap();
    let models: Vec<&str> = df
        .column("model")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|m| m.unwrap())
        .collect();
    assert_eq!(models, SPECS);
    let counts = |name: &str| -> Vec<u64> {
        let c = df.column(name).unwrap().u64().unwrap();
        c.iter().map(|v| v.unwrap()).collect()
    };
    assert_eq!(counts("index"), [0, 1, 2, 3, 4]);
    let got = counts("cycles");
    for (k, spec) in SPECS.iter().enumerate() {
        assert_eq!(got[k], cycles(spec, "tpu-v1"), "row {k} ({spec})");
    }
}
