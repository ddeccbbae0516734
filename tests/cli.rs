//! End-to-end tests of the `vchip` command line: real runs, real files, exit codes and messages.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::*;

/// Runs vchip on a file with the given contents and asserts a clean failure: exit code 1, an
/// `error:` line naming the file and containing every `expect` fragment, and no panic.
fn fails_cleanly(test: &str, file: &str, contents: &[u8], args: &[&str], expect: &[&str]) {
    let dir = scratch(test);
    let path = dir.join(file);
    std::fs::write(&path, contents).unwrap();
    let p = path.to_string_lossy().into_owned();
    let full: Vec<&str> = args
        .iter()
        .map(|a| if *a == "FILE" { p.as_str() } else { a })
        .collect();
    let o = vchip(&full);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{test}: expected exit 1, stderr: {err}"
    );
    assert!(!err.contains("panicked"), "{test}: panic: {err}");
    assert!(
        err.starts_with("error:") && err.contains(file),
        "{test}: message must name the file: {err}"
    );
    for e in expect {
        assert!(err.contains(e), "{test}: expected `{e}` in: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn trace_resnet50_prints_table_with_totals() {
    let o = vchip(&["trace", "resnet50"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("layer4.2.conv3"));
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("4.09G MACs") && last.contains("25.56M parameters"),
        "{last}"
    );
}

#[test]
fn trace_json_has_edges_and_exact_totals() {
    let o = vchip(&["trace", "mobilenet_v2", "--format", "json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["totals"]["params"], 3_504_872);
    assert!(v["edges"].as_array().unwrap().len() >= v["ops"].as_array().unwrap().len() - 1);
}

#[test]
fn trace_precision_policy_changes_bytes() {
    let f32 = vchip(&["trace", "resnet18", "--format", "json"]);
    let w4 = vchip(&[
        "trace",
        "resnet18",
        "--format",
        "json",
        "--precision",
        "w4a8",
    ]);
    let get = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["totals"]["weight_bytes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(get(&f32), get(&w4) * 8, "4-bit weights are 1/8 of f32");
}

#[test]
fn zoo_lists_all_models() {
    let out = stdout(&vchip(&["zoo"]));
    for m in [
        "resnet18",
        "resnet50",
        "mobilenet_v2",
        "mobilenet_v3_large",
        "efficientnet_b0",
        "vit_b_16",
        "bert-base",
        "llama-2-7b",
        "llama-2-70b",
        "mixtral-8x7b",
        "resnet8",
        "mobilenet_v1_025_vww",
        "ds_cnn_kws",
        "fc_autoencoder",
    ] {
        assert!(out.contains(m), "{m} missing from `vchip zoo`");
    }
    for line in out.lines() {
        let name = line.split_whitespace().next().unwrap();
        let o = vchip(&["trace", name, "--format", "csv"]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
}

#[test]
fn simulate_readme_command_works_and_output_file_is_written() {
    let dir = scratch("simulate");
    let out = dir.join("r.json");
    let o = vchip(&[
        "simulate",
        "resnet50",
        "--hw",
        "tpu-v1",
        "--format",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["hardware"], "tpu-v1");
    assert!(v["totals"]["latency_s"].as_f64().unwrap() > 0.0);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary files left behind: {names:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The whole-graph engine's output: steps with their ops, bound and cost; memory peaks with the
/// tensors live at the peak; a table that groups fused ops; `--fusion off` one op per step; a
/// roofline plot.
#[test]
fn simulate_reports_steps_memory_and_the_roofline() {
    let dir = scratch("steps");
    let svg = dir.join("roofline.svg");
    let o = vchip(&[
        "simulate",
        "resnet50",
        "--hw",
        "tpu-v1",
        "--batch",
        "8",
        "--format",
        "json",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps[0]["ops"], serde_json::json!(["conv1", "relu"]));
    assert_eq!(steps[0]["kind"], "fused");
    for s in steps {
        assert!(
            !s["bound"].is_null() && s["cycles"].is_u64() && s["roofline"]["bound"].is_string()
        );
    }
    let memory = v["memory"].as_array().unwrap();
    let sram = memory.iter().find(|m| m["level"] == "sram").unwrap();
    assert!(sram["peak_bytes"].as_u64().unwrap() > 6_000_000, "{sram}");
    assert!(!sram["live_at_peak"].as_array().unwrap().is_empty());
    assert_eq!(v["passes"][0]["pass"], "fold-batchnorm");
    assert_eq!(v["fusion"], "on");
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("operational intensity"));

    let table = stdout(&vchip(&["simulate", "resnet50", "--hw", "tpu-v1"]));
    assert!(table.contains("fused") && table.contains("relu"), "{table}");
    assert!(
        table.contains("memory:  sram peak") && table.contains("bound:"),
        "{table}"
    );

    let off = vchip(&[
        "simulate", "resnet50", "--hw", "tpu-v1", "--fusion", "off", "--format", "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&off.stdout).unwrap();
    assert!(v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["ops"].as_array().unwrap().len() == 1));
    assert!(v["passes"].as_array().unwrap().is_empty());
}

/// `-o` behaves like a careful Unix tool: `-` is standard output, devices are written through (not
/// replaced by a regular file), a symlink's target is replaced and the link kept, a directory is
/// refused; a reader that stops early is not an error.
#[test]
fn output_paths_are_written_the_way_unix_tools_write_them() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("outputs");
    let dash = vchip(&["trace", "resnet18", "--format", "json", "-o", "-"]);
    assert!(dash.status.success());
    assert!(stdout(&dash).contains("\"ops\""));
    assert!(!Path::new("-").exists());

    let null = vchip(&["trace", "resnet18", "-o", "/dev/null"]);
    assert!(null.status.success(), "{}", stderr(&null));
    assert!(std::fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());

    let target = dir.join("target.json");
    std::fs::write(&target, "old").unwrap();
    let link = dir.join("link.json");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = vchip(&[
        "trace",
        "resnet18",
        "--format",
        "json",
        "-o",
        link.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .contains("\"ops\""));

    let d = vchip(&["trace", "resnet18", "-o", dir.to_str().unwrap()]);
    assert!(!d.status.success());
    assert!(stderr(&d).contains("is a directory"), "{}", stderr(&d));

    // A closed pipe: the reader took what it wanted.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args(["trace", "llama-2-70b"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn hw_show_round_trips_through_a_file() {
    let yaml = stdout(&vchip(&["hw", "show", "tpu-v1"]));
    let dir = scratch("hwshow");
    let f = dir.join("mine.yaml");
    std::fs::write(&f, yaml).unwrap();
    let a = vchip(&["simulate", "resnet18", "--hw", "tpu-v1", "--format", "csv"]);
    let b = vchip(&[
        "simulate",
        "resnet18",
        "--hw",
        f.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(b.status.success(), "{}", stderr(&b));
    assert_eq!(stdout(&a), stdout(&b));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scalesim_cfg_and_topology_are_accepted_unchanged() {
    let o = vchip(&[
        "simulate",
        &repo("tests/fixtures/scalesim/inputs/topologies/conv_test_inc5b.csv"),
        "--hw",
        &repo("tests/fixtures/scalesim/inputs/configs/sa32_os.cfg"),
        "--compat",
        "scalesim",
        "--format",
        "csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // SCALE-Sim's COMPUTE_REPORT for this run: 21,479 total cycles.
    assert!(
        stdout(&o).lines().nth(1).unwrap().contains(",21479,"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn llm_prefill_and_decode_phases() {
    let o = vchip(&[
        "simulate",
        "llama-2-7b",
        "--hw",
        "systolic",
        "--seq",
        "128",
        "--context",
        "1024",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("phases:  prefill"));
}

#[test]
fn malformed_inputs_fail_cleanly() {
    let onnx = std::fs::read(repo("tests/fixtures/onnx/resnet18.torchscript.onnx")).unwrap();
    fails_cleanly(
        "onnx",
        "cut.onnx",
        &onnx[..onnx.len() / 3],
        &["trace", "FILE"],
        &["not a valid ONNX model"],
    );
    fails_cleanly(
        "dsl",
        "net.vnet",
        b"input [3, 32, 32]\nconv 16 k=3 s=\n",
        &["trace", "FILE"],
        &["net.vnet:2:", "syntax error"],
    );
    fails_cleanly(
        "dslop",
        "op.vnet",
        b"input [3, 32, 32]\nconvv 16\n",
        &["trace", "FILE"],
        &["op.vnet:2:1", "unknown operation `convv`"],
    );
    fails_cleanly(
        "dslshape",
        "shape.vnet",
        b"input [3, 4, 4]\nconv 8 k=7 p=0\n",
        &["trace", "FILE"],
        &["shape.vnet:2:1", "does not fit"],
    );
    fails_cleanly(
        "dslneg",
        "neg.vnet",
        b"input [3, -4, 4]\n",
        &["trace", "FILE"],
        &["neg.vnet:1:1", "must be positive"],
    );
    fails_cleanly(
        "dslzero",
        "zero.vnet",
        b"input [3, 0, 4]\nrelu\n",
        &["trace", "FILE"],
        &["zero.vnet:1:1", "must be positive"],
    );
    fails_cleanly(
        "dslrec",
        "rec.vnet",
        b"input [3, 8, 8]\nblock a() { a() }\na()\n",
        &["trace", "FILE"],
        &["nested deeper"],
    );
    fails_cleanly("csv", "topo.csv", b"Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nConv1,224,224,7,7,3,\n", &["trace", "FILE"], &["topo.csv:2:", "needs 8"]);
    fails_cleanly(
        "csvzero",
        "z.csv",
        b"Layer name, M, N, K,\nfc, 0, 10, 10,\n",
        &["trace", "FILE"],
        &["z.csv:2:", "positive integer"],
    );
    fails_cleanly("hf", "config.json", br#"{"model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 100}"#, &["trace", "FILE"], &["`hidden_size`", "missing"]);
    fails_cleanly("hfneg", "neg.json", br#"{"model_type": "llama", "hidden_size": -8, "num_attention_heads": 2, "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 100}"#, &["trace", "FILE"], &["`hidden_size`", "positive integer"]);
}

#[test]
fn malformed_hardware_yaml_fails_cleanly() {
    let base = stdout(&vchip(&["hw", "show", "scalesim-32x32"]));
    let cases: [(&str, String, &[&str]); 6] = [
        (
            "hugeclock",
            base.replace("clock_mhz: 1000 ", "clock_mhz: 1e308 "),
            &["clock_mhz", "out of range"],
        ),
        (
            "hugebw",
            base.replace("bandwidth_gb_s: 10", "bandwidth_gb_s: 1e30"),
            &["dram.bandwidth_gb_s", "out of range"],
        ),
        (
            "typo",
            base.replace("clock_mhz:", "clock_mhzz:"),
            &["clock_mhzz", "line 6 "],
        ),
        (
            "negative",
            base.replace(
                "capacity_kib: 64 }    # scale.cfg IfmapSramSzkB",
                "capacity_kib: -64 }",
            ),
            &["positive", "line 14 "],
        ),
        (
            "zerobw",
            base.replace("bandwidth_gb_s: 10", "bandwidth_gb_s: 0"),
            &["positive", "line 21 "],
        ),
        (
            "dataflow",
            base.replace("dataflow: os", "dataflow: xs"),
            &["xs", "line 12 "],
        ),
    ];
    for (name, yaml, expect) in cases {
        assert_ne!(yaml, base, "{name}: replacement did not apply");
        fails_cleanly(
            name,
            "hw.yaml",
            yaml.as_bytes(),
            &["simulate", "resnet18", "--hw", "FILE"],
            expect,
        );
    }
}

#[test]
fn unknown_model_and_hardware_names() {
    let o = vchip(&["trace", "resnet51"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown model `resnet51`"));
    let o = vchip(&["simulate", "resnet18", "--hw", "tpu-v9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown hardware `tpu-v9`"));
}

const SWEEP: &[&str] = &[
    "sweep",
    "mobilenet_v1_025_vww",
    "--hw",
    "scalesim-32x32",
    "--set",
    "systolic.rows=1..300",
    "--set",
    "systolic.cols=1..200",
];

/// A sweep is identified by everything that decides its rows: re-running into the same output with
/// another option or an edited model file is refused (naming what differs) unless `--force`, and a
/// parts directory in use by another run is refused.
#[test]
fn a_sweep_never_reuses_the_parts_of_a_different_one() {
    let dir = scratch("sweep-key");
    let model = dir.join("m.vnet");
    std::fs::write(&model, "input [3, 32, 32]\nconv 16 k=3\nrelu\n").unwrap();
    let out = dir.join("s.parquet").to_string_lossy().into_owned();
    let m = model.to_string_lossy().into_owned();
    let sweep = |extra: &[&str]| {
        let mut a = vec![
            "sweep",
            &m,
            "--hw",
            "scalesim-32x32",
            "--set",
            "systolic.rows=8,16",
            "-o",
            &out,
        ];
        a.extend_from_slice(extra);
        vchip(&a)
    };
    let first = sweep(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = sweep(&[]);
    assert!(
        again.status.success(),
        "same sweep resumes: {}",
        stderr(&again)
    );

    let batch = sweep(&["--batch", "8"]);
    assert!(!batch.status.success());
    let e = stderr(&batch);
    assert!(e.contains("--batch") && e.contains("--force"), "{e}");

    std::fs::write(&model, "input [3, 32, 32]\nconv 32 k=3\nrelu\n").unwrap();
    let edited = sweep(&[]);
    assert!(!edited.status.success());
    assert!(stderr(&edited).contains("contents"), "{}", stderr(&edited));
    let forced = sweep(&["--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));

    let fusion = sweep(&["--fusion", "off"]);
    assert!(stderr(&fusion).contains("engine"), "{}", stderr(&fusion));

    // Another run holding the (only) shard of the directory.
    let parts = dir.join("s.parts");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parts.join(".lock-shard-0-of-1"))
        .unwrap();
    held.lock().unwrap();
    let busy = sweep(&[]);
    assert!(!busy.status.success());
    assert!(stderr(&busy).contains("in use"), "{}", stderr(&busy));
    drop(held);
    let free = sweep(&[]);
    assert!(free.status.success(), "{}", stderr(&free));
}

/// `merge` joins only a whole, verified sweep: a missing shard, a corrupt or empty part and a
/// duplicated part are errors naming the file (`--allow-partial` writes what is there, marked);
/// a resumed sweep evaluates a corrupt part again instead of failing.
#[test]
fn merge_verifies_the_parts_it_joins() {
    let dir = scratch("merge-verify");
    let model = dir.join("m.vnet");
    std::fs::write(&model, "input [3, 16, 16]\nconv 8 k=3\n").unwrap();
    let m = model.to_string_lossy().into_owned();
    let parts = dir.join("p");
    let p = parts.to_string_lossy().into_owned();
    let out = dir.join("t.parquet").to_string_lossy().into_owned();
    let shard = |s: &str| {
        let o = vchip(&[
            "sweep",
            &m,
            "--hw",
            "scalesim-32x32",
            "--set",
            "systolic.rows=1..2500",
            "--shard",
            s,
            "--parts",
            &p,
            "-o",
            &out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    };
    shard("0/2");
    let merged = vchip(&["merge", &p, "-o", &out]);
    assert!(!merged.status.success());
    let e = stderr(&merged);
    assert!(
        // 2,500 points in 63 chunks of 40 (a small sweep is cut finely enough to shard).
        e.contains("31 of 63 part files are missing") && e.contains("part-00000001.parquet"),
        "{e}"
    );
    let partial = vchip(&["merge", &p, "-o", &out, "--allow-partial"]);
    assert!(partial.status.success(), "{}", stderr(&partial));
    assert!(stderr(&partial).contains("PARTIAL"));

    shard("1/2");
    let part0 = parts.join("part-00000000.parquet");
    let good = std::fs::read(&part0).unwrap();
    std::fs::write(&part0, b"").unwrap();
    let corrupt = vchip(&["merge", &p, "-o", &out]);
    assert!(!corrupt.status.success());
    assert!(
        stderr(&corrupt).contains("part-00000000.parquet") && stderr(&corrupt).contains("checksum")
    );
    // Resuming evaluates the damaged chunk again.
    shard("0/2");
    assert_eq!(std::fs::read(&part0).unwrap(), good);
    let whole = vchip(&["merge", &p, "-o", &out]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    assert!(stderr(&whole).contains("wrote 2500 rows"));

    // A part copied over another chunk's name duplicates its points.
    std::fs::copy(&part0, parts.join("part-00000002.parquet")).unwrap();
    std::fs::copy(
        parts.join("part-00000000.parquet.sum"),
        parts.join("part-00000002.parquet.sum"),
    )
    .unwrap();
    let dup = vchip(&["merge", &p, "-o", &out]);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("appears twice"), "{}", stderr(&dup));
}

/// The host-CPU kind models no energy or area: a front over them is refused, not won by zeros.
#[test]
fn pareto_objectives_a_kind_does_not_model_are_refused() {
    let host = repo("hwmodels/tests/fixtures/round-host.yaml");
    let dir = scratch("pareto-kind");
    let out = dir.join("s.parquet").to_string_lossy().into_owned();
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        &host,
        "--set",
        "cpu.threads=1,2",
        "--pareto",
        "latency,energy",
        "-o",
        &out,
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("does not model energy") && e.contains("kind `cpu`"),
        "{e}"
    );
    let ok = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        &host,
        "--set",
        "cpu.threads=1,2",
        "--pareto",
        "latency",
        "-o",
        &out,
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn killed_sweep_resumes_to_the_same_table() {
    let dir = scratch("resume");
    let out = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let args = |o: &str| {
        SWEEP
            .iter()
            .map(|s| s.to_string())
            .chain(["-o".into(), o.to_string()])
            .collect::<Vec<_>>()
    };
    let whole = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args(args(&out("a.parquet")))
        .output()
        .unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));

    let mut child = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args(args(&out("b.parquet")))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let parts = dir.join("b.parts");
    let count = || {
        std::fs::read_dir(&parts).map_or(0, |d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
                .count()
        })
    };
    let t0 = std::time::Instant::now();
    while count() < 3 && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let finished_parts = count();
    assert!(
        (3..60).contains(&finished_parts),
        "the kill must land mid-sweep ({finished_parts} of 60 parts)"
    );
    assert!(
        !dir.join("b.parquet").exists(),
        "no output file from a killed run"
    );

    let resumed = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args(args(&out("b.parquet")))
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(
        std::fs::read(out("a.parquet")).unwrap(),
        std::fs::read(out("b.parquet")).unwrap(),
        "resumed table differs"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&parts)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sharded_sweep_merges_to_the_same_table() {
    let dir = scratch("shards");
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let base = [
        "sweep",
        "resnet8",
        "--hw",
        "edge-tpu-like",
        "--set",
        "systolic.rows=8..64:8",
        "--set",
        "dram.bandwidth_gb_s=1..300",
        "--pareto",
        "latency,energy,area",
    ];
    let whole = vchip(&[&base[..], &["-o", &p("whole.csv")]].concat());
    assert!(whole.status.success(), "{}", stderr(&whole));
    for i in 0..3 {
        let s = format!("{i}/3");
        let o = vchip(
            &[
                &base[..],
                &[
                    "--shard",
                    &s,
                    "--parts",
                    &p("parts"),
                    "-o",
                    &p("unused.csv"),
                ],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let merged = vchip(&[
        "merge",
        &p("parts"),
        "--pareto",
        "latency,energy,area",
        "-o",
        &p("merged.csv"),
        "--plot",
        &p("front.svg"),
    ]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    let (a, b) = (
        std::fs::read_to_string(p("whole.csv")).unwrap(),
        std::fs::read_to_string(p("merged.csv")).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 1 + 8 * 300);
    assert!(
        a.lines().skip(1).any(|l| l.ends_with(",true"))
            && a.lines().skip(1).any(|l| l.ends_with(",false"))
    );
    assert!(std::fs::read_to_string(p("front.svg"))
        .unwrap()
        .contains("<svg"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_sweeps_fail_before_any_work() {
    let dir = scratch("badsweep");
    let o = dir.join("r.parquet").to_string_lossy().into_owned();
    for (args, expect) in [
        (
            vec!["--set", "systolic.rowz=1,2"],
            "no such key in hardware `scalesim-32x32`. Did you mean `systolic.rows`?",
        ),
        (vec!["--set", "systolic.rows=8..4"], "empty"),
        (
            vec!["--set", "systolic.rows=1,2", "--shard", "3/2"],
            "--shard `3/2`",
        ),
        (vec!["--set", "systolic.dataflow=1,2"], "holds text"),
        (
            vec!["--set", "systolic.rows=32,6x4"],
            "`6x4` is not a number",
        ),
        (
            vec!["--set", "systolic.dataflow=os,xs"],
            "unknown variant `xs`",
        ),
        (vec!["--set", "name=a,b"], "identifies the description"),
        (vec!["--set", "systolic=a,b"], "section"),
        (vec!["--set", "systolic.dataflow=os,os"], "given twice"),
        (vec!["--set", "clock_mhz=500,500"], "`500` is given twice"),
        (
            vec!["--set", "clock_mhz=500", "--pareto", "latency,latency"],
            "given twice",
        ),
        (
            vec!["--set", "buffers.double_buffered=yes,no"],
            "true,false",
        ),
        (
            vec!["--set", "dram.technology=ddr4,optane"],
            "`optane` is not a memory technology",
        ),
        (
            vec!["--set", "precision=int8,bf17"],
            "--set precision: `bf17`",
        ),
        (
            vec!["--set", "precision=int8", "--precision", "bf16"],
            "keep one",
        ),
        (
            vec![
                "--set",
                "systolic.rows=8",
                "--pareto",
                "latency,energy",
                "--plot",
                "x.pdf",
            ],
            ".svg or .png",
        ),
        (vec!["--set", "systolic.rows=0,2"], "positive"),
    ] {
        let full: Vec<&str> = ["sweep", "resnet18", "--hw", "scalesim-32x32", "-o", &o]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let r = vchip(&full);
        assert_eq!(r.status.code(), Some(1), "{args:?}");
        assert!(stderr(&r).contains(expect), "{args:?}: {}", stderr(&r));
    }
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing may be written"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn nas_tables_are_written() {
    let dir = scratch("tables");
    let out = dir.join("t");
    let o = vchip(&[
        "table",
        "ofa-mbv3",
        "--hw",
        "edge-tpu-like",
        "--resolutions",
        "160,224",
        "--subnets",
        "3",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "160_lookup_table.yaml",
        "224_lookup_table.yaml",
        "hwnasbench.json",
        "ofa-mbv3.parquet",
        "dynast.csv",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let yaml = std::fs::read_to_string(out.join("224_lookup_table.yaml")).unwrap();
    // 96 distinct ops per resolution, each with count/mean/var.
    assert_eq!(yaml.matches("\n  mean: ").count(), 96);
    assert!(yaml.contains("expanded_conv-input:56x56x24-output:28x28x40-expand:144-kernel:5-stride:2-idskip:0-se:1-hs:0:"));
    assert_eq!(
        std::fs::read_to_string(out.join("dynast.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
    let o = vchip(&[
        "table",
        "models",
        "--models",
        "resnet18,resnet50",
        "--hw",
        "tpu-v1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("models.parquet").exists());
    let o = vchip(&[
        "table",
        "fbnet",
        "--hw",
        "tpu-v1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fbnet_hwnasbench.json")).unwrap())
            .unwrap();
    assert!(
        j["tpu-v1_latency"]["ConvBlock_H56_W56_Cin24_Cout32_exp6_kernel5_stride2_group1"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(j["tpu-v1_energy"]["FC_Cin1504_Cout1000"].as_f64().unwrap() > 0.0);
    let o = vchip(&[
        "table",
        "ofa-resnet50",
        "--hw",
        "tpu-v1",
        "--resolutions",
        "224",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("ofa-resnet50.parquet").exists());
    let o = vchip(&["table", "fbnet-x", "--hw", "tpu-v1"]);
    assert!(stderr(&o).contains("unknown search space"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_rejects_unknown_devices() {
    let o = vchip(&["validate", "--device", "tpu"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("use cpu or gpu"));
}

/// An output directory that cannot be written fails at once, before any kernel is timed (it used
/// to time everything and then fail, losing the measurements).
#[test]
fn validate_checks_its_output_directory_before_timing() {
    let dir = scratch("validate-out");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = vchip(&[
        "validate",
        "--device",
        "cpu",
        "--quick",
        "-o",
        file.join("report").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("cannot create the report directory"), "{e}");
    // Nothing but the error: no timing progress was printed before it.
    assert_eq!(e.lines().filter(|l| !l.trim().is_empty()).count(), 1, "{e}");
}

#[test]
fn gpu_validation_checks_kernels_or_says_why_not() {
    let dir = scratch("gpu");
    let args = [
        "validate",
        "--device",
        "gpu",
        "--quick",
        "-o",
        dir.to_str().unwrap(),
    ];
    let o = vchip(&args);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(!err.contains("panicked"), "{err}");
    if o.status.success() {
        // A Vulkan adapter (Mesa's software one in CI): every kernel checked against the CPU.
        let md = std::fs::read_to_string(dir.join("gpu-report.md")).unwrap();
        assert!(out.contains("fidelity") && !md.contains("| NO |"), "{md}");
    } else {
        assert!(err.contains("no GPU adapter found"), "{err}");
    }
    // No adapter at all (a backend this build does not include): a clear error, exit 1.
    let o = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .env("WGPU_BACKEND", "gl")
        .args(args)
        .output()
        .expect("run vchip");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no GPU adapter found") && stderr(&o).contains("mesa-vulkan-drivers"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_recalibrates_from_recorded_measurements() {
    let fixture = repo("validate/tests/fixtures/xeon-2vcpu-full.json");
    let dir = scratch("refit");
    let out = dir.to_string_lossy().into_owned();
    let o = vchip(&[
        "validate", "--device", "cpu", "--from", &fixture, "-o", &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("test (never seen by calibration)"));
    for f in [
        "report.md",
        "report.json",
        "host-cpu.yaml",
        "measurements.json",
        "scatter.svg",
        "scatter.png",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // Every kernel has its tooltip in the SVG.
    let svg = std::fs::read_to_string(dir.join("scatter.svg")).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        svg.matches("<title>").count(),
        report["kernels"].as_array().unwrap().len()
    );
    // The calibrated host is a hardware description the simulator takes.
    let hw = dir.join("host-cpu.yaml").to_string_lossy().into_owned();
    let o = vchip(&["simulate", "mobilenet_v2", "--hw", &hw]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A full run's recording with --quick: a clear error, not a silent mix.
    let o = vchip(&["validate", "--device", "cpu", "--quick", "--from", &fixture]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("drop --quick"), "{}", stderr(&o));
    let o = vchip(&["validate", "--device", "gpu", "--from", &fixture]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not the gpu-report.json"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gpu_validation_predicts_a_recorded_run() {
    let fixture = repo("validate/tests/fixtures/h200-wgpu-gpu-report.json");
    let dir = scratch("gpu-refit");
    let out = dir.to_string_lossy().into_owned();
    let o = vchip(&[
        "validate", "--device", "gpu", "--from", &fixture, "-o", &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("test part: 9 kernels"),
        "{}",
        stdout(&o)
    );
    for f in [
        "gpu-report.md",
        "gpu-report.json",
        "gpu-scatter.svg",
        "gpu-scatter.png",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let md = std::fs::read_to_string(dir.join("gpu-report.md")).unwrap();
    assert!(md.contains("| gemm 256^3 | test |"), "{md}");
    // The written report loads again as a recording.
    let again = dir.join("gpu-report.json").to_string_lossy().into_owned();
    let o = vchip(&["validate", "--device", "gpu", "--from", &again, "-o", &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A description that is not a GPU, or --hw for the CPU side: clear errors.
    let o = vchip(&[
        "validate", "--device", "gpu", "--from", &fixture, "--hw", "tpu-v1", "-o", &out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a GPU description"),
        "{}",
        stderr(&o)
    );
    let o = vchip(&[
        "validate", "--device", "gpu", "--quick", "--from", &fixture, "-o", &out,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("drop --quick"), "{}", stderr(&o));
    let o = vchip(&["validate", "--device", "cpu", "--hw", "h200", "-o", &out]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--device gpu"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_from_a_file_that_is_not_measurements_fails_cleanly() {
    fails_cleanly(
        "refit-bad",
        "measurements.json",
        br#"{"items": 3}"#,
        &["validate", "--device", "cpu", "--from", "FILE"],
        &["not the measurements.json"],
    );
}

#[test]
fn simulate_on_an_mcu_reports_latency_energy_sram_flash_and_fit() {
    let o = vchip(&[
        "simulate",
        "resnet8",
        "--hw",
        "nucleo-l4r5zi",
        "--lib",
        "cmsis-nn",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = &v["mcu"];
    for key in ["latency_s", "energy_uj", "peak_sram_bytes", "flash_bytes"] {
        assert!(m[key].as_f64().unwrap() > 0.0, "{key}: {m}");
    }
    assert_eq!(m["fits"], true);
    assert_eq!(m["library"], "cmsis-nn");
    // The same run in the ST model-zoo layout.
    let o = vchip(&[
        "simulate",
        "resnet8",
        "--hw",
        "nucleo-l4r5zi",
        "--lib",
        "cmsis-nn",
        "--format",
        "csv",
    ]);
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "model,board,library,clock_mhz,activation_ram_kib,runtime_ram_kib,weights_flash_kib,code_flash_kib,total_ram_kib,total_flash_kib,inference_time_ms,energy_uj,fits,tool_version"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let ms: f64 = row[10].parse().unwrap();
    assert!((ms - m["latency_s"].as_f64().unwrap() * 1e3).abs() < 1e-3);
    // The text report names the library and the memories.
    let o = vchip(&[
        "simulate",
        "ds_cnn_kws",
        "--hw",
        "nucleo-l4r5zi",
        "--lib",
        "tflm",
    ]);
    let text = stdout(&o);
    assert!(text.contains("library tflm") && text.contains("sram:") && text.contains("flash:"));
}

#[test]
fn mcu_errors_are_clear() {
    // A network that does not fit: by how much, and what is live at the peak.
    let o = vchip(&["simulate", "resnet50", "--hw", "nucleo-l4r5zi"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("does not fit `nucleo-l4r5zi`")
            && e.contains("more than the largest")
            && e.contains("live at the arena's peak"),
        "{e}"
    );
    assert!(stdout(&o).is_empty());
    // Reported instead when asked.
    let o = vchip(&[
        "simulate",
        "resnet50",
        "--hw",
        "nucleo-l4r5zi",
        "--allow-no-fit",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["mcu"]["fits"], false);
    // An NPU the board does not have, an unknown library, MCU options on other hardware.
    for (args, expect) in [
        (
            vec![
                "simulate",
                "resnet8",
                "--hw",
                "nucleo-l4r5zi",
                "--npu",
                "on",
            ],
            "has no NPU",
        ),
        (
            vec![
                "simulate",
                "resnet8",
                "--hw",
                "nucleo-l4r5zi",
                "--lib",
                "tvm",
            ],
            "unknown kernel library",
        ),
        (
            vec!["simulate", "resnet8", "--hw", "tpu-v1", "--lib", "tflm"],
            "apply to microcontroller hardware",
        ),
        (
            vec![
                "simulate",
                "resnet8",
                "--hw",
                "nucleo-l4r5zi",
                "--precision",
                "f32",
            ],
            "MCU kernel libraries run int8 networks",
        ),
        (
            vec![
                "simulate",
                "resnet8",
                "--hw",
                "nucleo-l4r5zi",
                "--compat",
                "scalesim",
            ],
            "does not apply to microcontrollers",
        ),
    ] {
        let o = vchip(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn an_mcu_nas_table_has_sram_and_flash_per_candidate() {
    let dir = scratch("mcu-table");
    let out = dir.to_string_lossy().into_owned();
    let o = vchip(&[
        "table",
        "ofa-mbv3",
        "--hw",
        "nucleo-h7a3zi-q",
        "--resolutions",
        "160",
        "--subnets",
        "3",
        "-o",
        &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(dir.join("dynast.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with("Top-1 Acc (%),Peak SRAM (B),Flash (B)"));
    for l in lines {
        let f: Vec<&str> = l.rsplitn(3, ',').collect();
        let sram: u64 = f[1].parse().unwrap();
        let flash: u64 = f[0].parse().unwrap();
        assert!(sram > 10_000 && flash > 100_000, "{l}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mcu_descriptions_are_checked() {
    let board = std::fs::read_to_string(repo("hwmodels/presets/nucleo-l4r5zi.yaml")).unwrap();
    let cases: [(&str, String, &[&str]); 5] = [
        (
            "mcu-stray-section",
            format!("{board}systolic: {{ rows: 8, cols: 8, dataflow: os }}\n"),
            &["key `systolic`", "remove the section"],
        ),
        (
            "mcu-precision",
            board.replace("precision: int8", "precision: f32"),
            &["key `precision`", "int8"],
        ),
        (
            "mcu-empty-sram",
            board
                .replace("    - { name: sram1-3, size_kib: 640 }\n", "    []\n")
                .replace("  sram:\n    []", "  sram: []"),
            &["mcu.sram", "at least one SRAM region"],
        ),
        (
            "mcu-clock",
            board.replace("clock_mhz: 120 ", "clock_mhz: 5000 "),
            &["key `clock_mhz`", "not a microcontroller clock"],
        ),
        (
            "mcu-energy",
            format!("{board}energy: {{ static_power_w: 1 }}\n"),
            &["key `energy`", "power_mw_per_mhz"],
        ),
    ];
    for (test, yaml, expect) in cases {
        fails_cleanly(
            test,
            "board.yaml",
            yaml.as_bytes(),
            &["simulate", "resnet8", "--hw", "FILE"],
            expect,
        );
    }
}

#[test]
fn gpu_serving_reports_and_fails_clearly() {
    let o = vchip(&[
        "simulate",
        "llama-2-7b",
        "--hw",
        "a100-sxm-80gb",
        "--prompt",
        "128",
        "--gen",
        "16",
        "--phase",
        "prefill",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &v["serving"];
    for key in [
        "ttft_s",
        "tpot_s",
        "decode_tokens_per_s_per_user",
        "tokens_per_s",
        "e2e_s",
        "kv_cache_bytes",
        "weight_bytes_per_gpu",
    ] {
        assert!(s[key].as_f64().unwrap() > 0.0, "{key}: {s}");
    }
    assert_eq!(s["fits"], true);
    for (args, expect) in [
        (
            vec![
                "simulate",
                "llama-2-70b",
                "--hw",
                "a100-sxm-80gb",
                "--prompt",
                "2048",
                "--gen",
                "128",
            ],
            "does not fit `a100-sxm-80gb`",
        ),
        (
            vec![
                "simulate",
                "llama-2-70b",
                "--hw",
                "dgx-a100",
                "--tp",
                "3",
                "--gen",
                "4",
            ],
            "64 attention heads do not split over 3 devices",
        ),
        (
            vec![
                "simulate",
                "llama-2-7b",
                "--hw",
                "a100-sxm-80gb",
                "--precision",
                "fp8",
                "--gen",
                "4",
            ],
            "no tensor-core path for fp8",
        ),
        (
            vec![
                "simulate",
                "llama-2-7b",
                "--hw",
                "a100-sxm-80gb",
                "--batch",
                "0",
                "--gen",
                "4",
            ],
            "--batch must be at least 1",
        ),
        (
            vec![
                "simulate",
                "llama-2-7b",
                "--hw",
                "a100-sxm-80gb",
                "--tp",
                "8",
                "--gen",
                "4",
            ],
            "use a node preset",
        ),
        (
            vec![
                "simulate",
                "resnet50",
                "--hw",
                "a100-sxm-80gb",
                "--gen",
                "4",
            ],
            "--gen applies to LLMs",
        ),
        (
            vec!["simulate", "resnet50", "--hw", "a100-sxm-80gb", "--tp", "2"],
            "apply to LLMs",
        ),
        (
            vec!["simulate", "llama-2-7b", "--hw", "tpu-v1", "--tp", "2"],
            "splits an LLM over GPUs or sockets; `tpu-v1` is neither",
        ),
        (
            vec![
                "simulate",
                "llama-2-7b",
                "--hw",
                "a100-sxm-80gb",
                "--expert-load",
                "zipf:1",
            ],
            "no routed experts",
        ),
        (
            vec![
                "simulate",
                "llama-2-7b",
                "--hw",
                "a100-sxm-80gb",
                "--gen",
                "4",
                "--context",
                "9",
            ],
            "--context does not apply with --gen",
        ),
    ] {
        let o = vchip(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn misspellings_get_suggestions_and_lists_have_json() {
    let o = vchip(&["simulate", "resnt50", "--hw", "tpu-v1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Did you mean `resnet50`?"),
        "{}",
        stderr(&o)
    );
    let o = vchip(&["simulate", "resnet50", "--hw", "tpuv1"]);
    assert!(
        stderr(&o).contains("Did you mean `tpu-v1`?"),
        "{}",
        stderr(&o)
    );
    let o = vchip(&["hw", "show", "h10-sxm"]);
    assert!(
        stderr(&o).contains("did you mean `h100-sxm`?"),
        "{}",
        stderr(&o)
    );
    // Nothing close: no guess.
    let o = vchip(&["trace", "xyzzy"]);
    assert!(!stderr(&o).contains("Did you mean"), "{}", stderr(&o));
    for args in [
        vec!["zoo", "--format", "json"],
        vec!["hw", "list", "--format", "json"],
    ] {
        let o = vchip(&args);
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let list = v.as_array().unwrap();
        assert!(
            list.len() > 10 && list.iter().all(|x| x["name"].is_string()),
            "{args:?}"
        );
    }
    // `hw show` reads a file as --hw reads it.
    let cfg = repo("tests/fixtures/scalesim/inputs/configs/sa32_os.cfg");
    let o = vchip(&["hw", "show", &cfg]);
    assert!(
        o.status.success() && stdout(&o).contains("kind: systolic"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn options_a_model_has_no_use_for_are_warned_about() {
    let o = vchip(&["trace", "resnet50", "--seq", "128", "--phase", "decode"]);
    assert!(o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("warning: --seq/--prompt, --phase") && e.contains("`resnet50`"),
        "{e}"
    );
    for args in [
        vec!["trace", "bert-base", "--seq", "128"],
        vec!["trace", "llama-2-7b", "--seq", "16", "--phase", "prefill"],
    ] {
        let o = vchip(&args);
        assert!(
            o.status.success() && stderr(&o).is_empty(),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn csv_columns_are_snake_case_with_an_optional_totals_row() {
    let o = vchip(&[
        "simulate", "resnet18", "--hw", "tpu-v1", "--format", "csv", "--totals",
    ]);
    assert!(o.status.success());
    let text = stdout(&o);
    let header = text.lines().next().unwrap();
    for col in header.split(',') {
        assert!(
            col.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "column `{col}` is not snake_case"
        );
    }
    let cols: Vec<&str> = header.split(',').collect();
    let total: Vec<&str> = text.lines().last().unwrap().split(',').collect();
    assert_eq!(total[0], "total");
    // The totals row's cycles and MACs are the sums of the step rows.
    let sum = |name: &str| -> u64 {
        let i = cols.iter().position(|c| *c == name).unwrap();
        text.lines()
            .skip(1)
            .filter(|l| !l.starts_with("total"))
            .map(|l| l.split(',').nth(i).unwrap().parse::<u64>().unwrap_or(0))
            .sum()
    };
    let at = |name: &str| {
        total[cols.iter().position(|c| *c == name).unwrap()]
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(at("cycles"), sum("cycles"));
    assert_eq!(at("macs"), sum("macs"));
    // Without --totals, no totals row.
    let o = vchip(&["trace", "resnet18", "--format", "csv"]);
    assert!(!stdout(&o).lines().any(|l| l.starts_with("total")));
    assert!(stdout(&o).starts_with("index,name,type,detail,phase,dtype,output_shape,macs,"));
}

#[test]
fn area_overrides_are_honoured_and_unknown_components_refused() {
    let o = vchip(&["simulate", "resnet18", "--hw", "tpu-v1", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // TPU v1's preset keeps the rest of its 331 mm² die beside the estimated components.
    assert!((v["area"]["total_mm2"].as_f64().unwrap() - 331.0).abs() < 0.01);
    assert!(v["area"]["other_mm2"].as_f64().unwrap() > 0.0);
    let tpu = std::fs::read_to_string(repo("hwmodels/presets/tpu-v1.yaml")).unwrap();
    fails_cleanly(
        "area-unknown",
        "chip.yaml",
        tpu.replace("  other: 118.4", "  whatever: 3").as_bytes(),
        &["simulate", "resnet18", "--hw", "FILE"],
        &[
            "area_mm2.whatever",
            "compute, sram, vector, memory_interface, other, chip",
        ],
    );
    fails_cleanly(
        "area-both",
        "both.yaml",
        tpu.replace("  other: 118.4", "  other: 118.4\n  chip: 331")
            .as_bytes(),
        &["simulate", "resnet18", "--hw", "FILE"],
        &["area_mm2", "not both"],
    );
    // The rest of the die stays as a component grows; a pinned die absorbs it instead.
    let dir = scratch("area-grow");
    let pinned = dir.join("pinned.yaml");
    std::fs::write(&pinned, tpu.replace("  other: 118.4", "  chip: 331")).unwrap();
    let total = |hw: &str, bw: &str| -> f64 {
        let f = dir.join(format!("{bw}.yaml"));
        let src = std::fs::read_to_string(hw).unwrap();
        std::fs::write(
            &f,
            src.replace("bandwidth_gb_s: 34 ", &format!("bandwidth_gb_s: {bw} ")),
        )
        .unwrap();
        let o = vchip(&[
            "simulate",
            "resnet18",
            "--hw",
            &f.to_string_lossy(),
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["area"]["total_mm2"].as_f64().unwrap()
    };
    let preset = repo("hwmodels/presets/tpu-v1.yaml");
    // 34 -> 68 GB/s of DDR3: two more 64-bit channels, 128 pins x 0.155 mm².
    let grown = total(&preset, "68") - total(&preset, "34");
    assert!((grown - 2.0 * 0.03 * 331.0).abs() < 1e-6, "{grown}");
    assert_eq!(total(&pinned.to_string_lossy(), "68"), 331.0);
    std::fs::remove_dir_all(&dir).ok();
    let gpu = std::fs::read_to_string(repo("hwmodels/presets/h100-sxm.yaml")).unwrap();
    fails_cleanly(
        "area-gpu",
        "gpu.yaml",
        format!("{gpu}area_mm2: {{ chip: 814 }}\n").as_bytes(),
        &["simulate", "resnet18", "--hw", "FILE"],
        &["area is modelled for `kind: systolic` only"],
    );
}

#[test]
fn every_subcommand_help_has_examples() {
    for sub in [
        "trace", "zoo", "simulate", "sweep", "table", "merge", "validate", "hw",
    ] {
        let o = vchip(&[sub, "--help"]);
        assert!(o.status.success(), "{sub}");
        assert!(
            stdout(&o).contains("Examples:"),
            "{sub} --help has no examples"
        );
    }
}

#[test]
fn kinds_without_energy_or_area_print_null_never_zero() {
    // JSON: null for every energy figure of a GPU (its kind models neither energy nor area).
    let o = vchip(&[
        "simulate", "resnet18", "--hw", "h100-sxm", "--format", "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["energy_pj", "energy_j", "average_power_w", "tops_per_watt"] {
        assert!(r["totals"][key].is_null(), "{key}: {}", r["totals"][key]);
    }
    assert!(r["area"].is_null());
    for part in ["steps", "layers"] {
        for item in r[part].as_array().unwrap() {
            assert!(item["energy"].is_null(), "{part}: {}", item["energy"]);
        }
    }
    assert!(
        stdout(&vchip(&["simulate", "resnet18", "--hw", "h100-sxm"]))
            .contains("energy:  not modelled")
    );
    // A sweep's table leaves the energy, EDP, power and area cells empty (CSV) / null.
    let dir = scratch("null-energy");
    let out = dir.join("t.csv");
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        "h100-sxm",
        "--set",
        "gpu.hbm_efficiency=0.7,0.8",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    for line in rows {
        let cells: Vec<&str> = line.split(',').collect();
        for name in ["energy_j", "edp", "power_w", "tops_per_watt", "area_mm2"] {
            assert_eq!(cells[col(name)], "", "{name} in {line}");
        }
        assert!(cells[col("latency_s")].parse::<f64>().unwrap() > 0.0);
    }
}

#[test]
fn configs_and_graphs_beyond_the_op_cap_are_refused_before_they_are_built() {
    // 10,000 layers and 4,096 experts are each within their own limit; together they would be
    // 328 million ops (this exhausted memory before).
    fails_cleanly(
        "hf-op-cap",
        "config.json",
        br#"{"model_type": "mixtral", "hidden_size": 64, "num_attention_heads": 4,
            "num_hidden_layers": 10000, "vocab_size": 100, "intermediate_size": 128,
            "num_local_experts": 4096, "num_experts_per_tok": 2}"#,
        &["trace", "FILE"],
        &[
            "num_hidden_layers",
            "num_local_experts",
            "more than the 1000000",
        ],
    );
}

#[test]
fn table_writes_a_directory_it_owns_whole() {
    let dir = scratch("table-owned");
    let out = dir.join("t");
    let o = out.to_string_lossy().into_owned();
    let table = || {
        vchip(&[
            "table", "models", "--models", "resnet18", "--hw", "tpu-v1", "-o", &o,
        ])
    };
    // The directory the process runs in cannot be replaced: refused before anything is built.
    let here = Command::new(env!("CARGO_BIN_EXE_vchip"))
        .args([
            "table", "models", "--models", "resnet18", "--hw", "tpu-v1", "-o", ".",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(here.status.code(), Some(1), "{}", stderr(&here));
    assert!(
        stderr(&here).contains("current directory"),
        "{}",
        stderr(&here)
    );
    // A directory holding someone else's files is refused, untouched.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let r = table();
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(stderr(&r).contains("not a vchip table"), "{}", stderr(&r));
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    // An empty one is filled, with a manifest naming the hardware and options.
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    let r = table();
    assert!(r.status.success(), "{}", stderr(&r));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("vchip-table.json")).unwrap())
            .unwrap();
    assert_eq!(m["hardware"], "tpu-v1");
    assert_eq!(m["models"], "resnet18");
    assert!(out.join("models.parquet").is_file());
    // Its own table is replaced whole: a stale file of the earlier run does not survive.
    std::fs::write(out.join("stale.parquet"), "old").unwrap();
    let r = table();
    assert!(r.status.success(), "{}", stderr(&r));
    assert!(!out.join("stale.parquet").exists());
    // Nothing is left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("t")]);
}

#[test]
fn a_killed_write_s_temp_file_is_removed_by_the_next_write() {
    let dir = scratch("stale-temp");
    let out = dir.join("trace.json");
    // A pid no process can have (Linux caps pids at 2^22) and pid 1, which always runs.
    let dead = dir.join(".trace.json.tmp-999999999");
    let alive = dir.join(".trace.json.tmp-1");
    // Fresh: its writer may live in another PID namespace sharing this directory.
    let recent = dir.join(".trace.json.tmp-999999998");
    // Not a name vchip writes (a PID has no leading zero).
    let foreign = dir.join(".trace.json.tmp-0999999997");
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    for (p, old) in [
        (&dead, true),
        (&alive, true),
        (&recent, false),
        (&foreign, true),
    ] {
        std::fs::write(p, "partial").unwrap();
        if old {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
    }
    let o = vchip(&[
        "trace",
        "resnet18",
        "--format",
        "json",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.is_file());
    if cfg!(target_os = "linux") {
        assert!(!dead.exists(), "the dead writer's temp file is gone");
    }
    assert!(alive.exists(), "a live writer's temp file is left alone");
    assert!(
        recent.exists(),
        "a temp file touched within the hour is left alone"
    );
    assert!(
        foreign.exists(),
        "a name vchip does not write is left alone"
    );
}

#[test]
fn a_full_disk_is_a_clean_error() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let o = vchip(&["trace", "resnet18", "-o", "/dev/full"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.starts_with("error:") && e.contains("/dev/full"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}

#[test]
fn two_different_sweeps_started_together_on_one_output_never_mix() {
    let dir = scratch("sweep-race");
    let out = dir.join("t.csv").to_string_lossy().into_owned();
    let start = |rows: &str| {
        Command::new(env!("CARGO_BIN_EXE_vchip"))
            .args([
                "sweep", "resnet18", "--hw", "tpu-v1", "--set", rows, "-o", &out,
            ])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start("systolic.rows=8..400"));
        let b = s.spawn(|| start("systolic.cols=8..400"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let ok = [&a, &b].iter().filter(|o| o.status.success()).count();
    assert!(ok <= 1, "both sweeps claimed the output");
    for o in [&a, &b] {
        if !o.status.success() {
            let e = stderr(o);
            assert!(
                e.contains("different sweep") || e.contains("in use") || e.contains("locked"),
                "{e}"
            );
        }
    }
    if let Ok(csv) = std::fs::read_to_string(&out) {
        let header = csv.lines().next().unwrap_or_default();
        assert!(
            header.contains("systolic.rows") != header.contains("systolic.cols"),
            "{header}"
        );
    }
}

#[test]
fn cfg_errors_point_at_the_cfg_line_not_the_generated_yaml() {
    let base = std::fs::read_to_string(repo(
        "tests/fixtures/scalesim/inputs/configs/sa32_os_userbw10.cfg",
    ))
    .unwrap();
    let line_of = |key: &str| {
        base.lines()
            .position(|l| l.trim_start().starts_with(key))
            .unwrap()
            + 1
    };
    let swap = |key: &str, value: &str| -> String {
        base.lines()
            .map(|l| {
                if l.trim_start().starts_with(key) {
                    format!("{key} : {value}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let height = format!("a.cfg:{}:", line_of("ArrayHeight"));
    fails_cleanly(
        "cfg-fraction",
        "a.cfg",
        swap("ArrayHeight", "1.5").as_bytes(),
        &["hw", "show", "FILE"],
        &[&height, "whole number"],
    );
    let ifmap = format!("a.cfg:{}:", line_of("IfmapSramSzkB"));
    // Any run name loads (a combining accent, a quote, a control character).
    let named = base.replacen(
        "run_name = sa32_os_userbw10",
        "run_name = cafe\u{301} \u{1} it's",
        1,
    );
    let dir = scratch("cfg-name");
    let f = dir.join("n.cfg");
    std::fs::write(&f, named).unwrap();
    let o = vchip(&["hw", "show", &f.to_string_lossy()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("it's"), "{}", stdout(&o));
    fails_cleanly(
        "cfg-range",
        "a.cfg",
        swap("IfmapSramSzkB", "99999999999").as_bytes(),
        &["hw", "show", "FILE"],
        &[&ifmap, "`IfmapSramSzkB`", "out of range"],
    );
}

#[test]
fn hw_show_derived_prints_what_the_model_computes_and_still_loads() {
    let o = vchip(&["hw", "show", "tpu-v1", "--derived"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // TPU v1 (ISCA 2017): 65,536 MACs at 700 MHz = 92 TOPS; 34 GB/s DDR3; ridge at 1,350
    // MACs (2,700 ops) per byte; a die under 331 mm².
    for line in [
        "#   peak_macs_per_cycle: 65536",
        "#   peak_tops: 91.75",
        "#   dram.bandwidth_gb_s: 34",
        "#   ridge_ops_per_dram_byte: 2699",
        "#   area_mm2.total: 331",
        "#   energy_pj.mac_int8:",
        "#   energy_pj.ifmap_read_per_byte:",
        "#   energy_pj.dram_per_byte:",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    let dir = scratch("derived");
    let f = dir.join("tpu.yaml");
    std::fs::write(&f, &text).unwrap();
    let r = vchip(&["simulate", "resnet18", "--hw", &f.to_string_lossy()]);
    assert!(r.status.success(), "{}", stderr(&r));
    // A kind without energy or area prints neither.
    let gpu = stdout(&vchip(&["hw", "show", "h100-sxm", "--derived"]));
    assert!(
        gpu.contains("#   peak_tops: 989.4") && !gpu.contains("energy_pj"),
        "{gpu}"
    );
}

#[test]
fn integer_keys_stay_integers_in_sweep_tables() {
    let dir = scratch("int-axes");
    let out = dir.join("t.csv");
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        "tpu-v1",
        "--set",
        "systolic.rows=64,128",
        "--set",
        "dram.bandwidth_gb_s=17,34",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{csv}");
    // Array rows are a count in the schema, the bandwidth a real number.
    let mut sides: Vec<&str> = rows.iter().map(|r| r[4]).collect();
    sides.dedup();
    assert_eq!(sides, ["64", "128"], "{csv}");
    assert!(
        rows.iter().all(|r| r[5] == "17.0" || r[5] == "34.0"),
        "{csv}"
    );
}

/// Reads a sweep CSV as (header, rows).
fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
}

#[test]
fn memory_bandwidth_costs_area_so_a_front_holds_several_bandwidths() {
    let dir = scratch("bwfront");
    let out = dir.join("s.csv");
    let o = vchip(&[
        "sweep",
        "resnet50",
        "--hw",
        "systolic",
        "--set",
        "dram.bandwidth_gb_s=64,128,256,512,1024",
        "--set",
        "systolic.rows=32,64,128,256",
        "--set",
        "systolic.cols=32,64,128,256",
        "--pareto",
        "latency,area",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (h, rows) = read_csv(&out);
    let (bw, pareto, area) = (
        col(&h, "dram.bandwidth_gb_s"),
        col(&h, "pareto"),
        col(&h, "area_mm2"),
    );
    let mut on_front: Vec<&str> = rows
        .iter()
        .filter(|r| r[pareto] == "true")
        .map(|r| r[bw].as_str())
        .collect();
    on_front.sort();
    on_front.dedup();
    assert!(on_front.len() >= 3, "front bandwidths {on_front:?}");
    // Same array, more bandwidth: more interface area (HBM2: 16.2 mm² per 1,024 pins at 2 Gb/s).
    let area_at = |b: &str| -> f64 {
        rows.iter()
            .find(|r| {
                r[bw] == b
                    && r[col(&h, "systolic.rows")] == "32"
                    && r[col(&h, "systolic.cols")] == "32"
            })
            .unwrap()[area]
            .parse()
            .unwrap()
    };
    let per_gb_s = (area_at("512.0") - area_at("256.0")) / 256.0;
    assert!(
        (per_gb_s - (10.45 + 5.707) / 256.0).abs() < 1e-6,
        "{per_gb_s}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn categorical_precision_and_preset_axes_sweep() {
    let dir = scratch("catsweep");
    let out = dir.join("s.csv");
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        "tpu-v1,scalesim-32x32",
        "--set",
        "systolic.dataflow=os,ws,is",
        "--set",
        "precision=int8,bf16",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (h, rows) = read_csv(&out);
    assert_eq!(rows.len(), 2 * 3 * 2);
    let (hw, df, prec, lat, macs, dram) = (
        col(&h, "hardware"),
        col(&h, "systolic.dataflow"),
        col(&h, "precision"),
        col(&h, "latency_s"),
        col(&h, "macs"),
        col(&h, "dram_bytes"),
    );
    let mut seen: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| (r[hw].clone(), r[df].clone(), r[prec].clone()))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12, "every combination once: {seen:?}");
    // Precision changes the bytes moved, not the MACs; dataflow changes the time.
    let get = |hwv: &str, d: &str, p: &str, c: usize| -> String {
        rows.iter()
            .find(|r| r[hw] == hwv && r[df] == d && r[prec] == p)
            .unwrap()[c]
            .clone()
    };
    assert_eq!(
        get("tpu-v1", "ws", "int8", macs),
        get("tpu-v1", "ws", "bf16", macs)
    );
    let (d8, d16): (u64, u64) = (
        get("scalesim-32x32", "ws", "int8", dram).parse().unwrap(),
        get("scalesim-32x32", "ws", "bf16", dram).parse().unwrap(),
    );
    assert!(d16 > d8, "bf16 moves more bytes: {d16} vs {d8}");
    assert_ne!(
        get("scalesim-32x32", "os", "int8", lat),
        get("scalesim-32x32", "ws", "int8", lat)
    );
    // Keys the description leaves unset but the schema has, and switches.
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        "systolic",
        "--set",
        "buffers.ifmap.bytes_per_cycle=8,64",
        "--set",
        "buffers.double_buffered=true,false",
        "-o",
        &out.to_string_lossy(),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (h, rows) = read_csv(&out);
    let (bpc, lat) = (
        col(&h, "buffers.ifmap.bytes_per_cycle"),
        col(&h, "latency_s"),
    );
    assert_eq!(rows.len(), 4);
    let slow: f64 = rows.iter().find(|r| r[bpc] == "8.0").unwrap()[lat]
        .parse()
        .unwrap();
    let fast: f64 = rows.iter().find(|r| r[bpc] == "64.0").unwrap()[lat]
        .parse()
        .unwrap();
    assert!(
        slow > fast,
        "an 8 B/cycle activation buffer is the wall: {slow} vs {fast}"
    );
    // Presets of different precisions: fronts are per precision, and the user is told.
    let o = vchip(&[
        "sweep",
        "resnet18",
        "--hw",
        "tpu-v1,systolic",
        "--set",
        "clock_mhz=500,1000",
        "--pareto",
        "latency,area",
        "-o",
        &out.to_string_lossy(),
        "--force",
    ]);
    assert!(
        stderr(&o).contains("the presets run at different precisions (tpu-v1 int8, systolic bf16)")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_model_that_does_not_fit_is_refused_or_kept_off_the_front() {
    // 25.6 MB of ResNet-50 weights in a 16 MiB DRAM.
    let o = vchip(&["simulate", "llama-2-7b", "--hw", "scalesim-32x32"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("does not fit `scalesim-32x32`: dram needs 7.02 GB of 4.29 GB")
            && e.contains("dram.capacity_gib"),
        "{e}"
    );
    let o = vchip(&[
        "simulate",
        "llama-2-7b",
        "--hw",
        "scalesim-32x32",
        "--allow-no-fit",
        "--phase",
        "decode",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dir = scratch("fitsweep");
    let out = dir.join("s.csv");
    let o = vchip(&[
        "sweep",
        "resnet50",
        "--hw",
        "tpu-v1",
        "--set",
        "dram.capacity_gib=0.015625,8",
        "--pareto",
        "latency,energy",
        "-o",
        &out.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (h, rows) = read_csv(&out);
    let (fits, pareto, cap) = (
        col(&h, "fits"),
        col(&h, "pareto"),
        col(&h, "dram.capacity_gib"),
    );
    for r in &rows {
        let small = r[cap] == "0.015625";
        assert_eq!(r[fits], if small { "false" } else { "true" }, "{r:?}");
        if small {
            assert_eq!(
                r[pareto], "false",
                "a design the model does not fit is no optimum"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The texts of an SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[test]
fn sweep_plots_draw_one_front_per_model_with_short_ticks_and_tooltips() {
    let dir = scratch("sweepplot");
    let out = dir.join("s.csv");
    let svg = dir.join("front.svg");
    let png = dir.join("front.png");
    let out3 = dir.join("s3.csv");
    for (plot, pareto, out) in [
        (&svg, "latency,area", &out),
        (&png, "latency,energy,area", &out3),
    ] {
        let o = vchip(&[
            "sweep",
            "resnet50",
            "mobilenet_v2",
            "--hw",
            "systolic",
            "--set",
            "dram.bandwidth_gb_s=64,128,256,512",
            "--set",
            "systolic.rows=16..256:x2",
            "--set",
            "buffers.ifmap.capacity_kib=64,1024",
            "--pareto",
            pareto,
            "--plot",
            &plot.to_string_lossy(),
            "-o",
            &out.to_string_lossy(),
            "--force",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    // Tick labels: numbers of at most 8 characters (no 0.009000000000000001).
    let ticks: Vec<String> = svg_texts(&text)
        .into_iter()
        .filter(|t| t.parse::<f64>().is_ok())
        .collect();
    assert!(ticks.len() >= 6, "{ticks:?}");
    assert!(ticks.iter().all(|t| t.chars().count() <= 8), "{ticks:?}");
    assert!(text.contains("latency (ms)") && text.contains("area (mm²)"));
    // One front per model, each with exactly that model's Pareto rows, every row a tooltip.
    let (h, rows) = read_csv(&out);
    let (model, pareto) = (col(&h, "model"), col(&h, "pareto"));
    for m in ["resnet50", "mobilenet_v2"] {
        let tag = format!("<g class=\"vchip-front\" data-model=\"{m}\"");
        assert_eq!(text.matches(&tag).count(), 1, "one front for {m}");
        let g = &text[text.find(&tag).unwrap()..];
        let g = &g[..g.find("</g>").unwrap()];
        let want = rows
            .iter()
            .filter(|r| r[model] == m && r[pareto] == "true")
            .count();
        assert_eq!(g.matches("<title>").count(), want, "{m}");
        assert!(g.contains(&format!("<title>{m}: dram.bandwidth_gb_s=")));
    }
    assert_eq!(text.matches("<title>").count(), rows.len());
    // PNG: a real image of the figure's size.
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 900);
    std::fs::remove_dir_all(&dir).ok();
}

/// A SCALE-Sim report as rows of (column, value), read by header the way users' scripts do.
fn scalesim_rows(path: &std::path::Path) -> Vec<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(|h| h.trim().to_string())
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(|v| v.trim().to_string()))
                .filter(|(h, _)| !h.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn report_dir_writes_scalesim_reports_that_match_scalesim() {
    let dir = scratch("reportdir");
    let fx = repo("tests/fixtures/scalesim");
    let o = vchip(&[
        "simulate",
        &format!("{fx}/inputs/topologies/Resnet18.csv"),
        "--hw",
        &format!("{fx}/inputs/configs/sa32_ws.cfg"),
        "--compat",
        "scalesim",
        "--report-dir",
        &dir.join("r").to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let theirs = std::path::Path::new(&fx).join("results/resnet18/sa32_ws");
    for (file, exact) in [
        (
            "COMPUTE_REPORT.csv",
            &[
                "Total Cycles",
                "Stall Cycles",
                "Overall Util %",
                "Mapping Efficiency %",
                "Compute Util %",
            ][..],
        ),
        (
            "BANDWIDTH_REPORT.csv",
            &[
                "Avg IFMAP SRAM BW",
                "Avg FILTER SRAM BW",
                "Avg OFMAP SRAM BW",
            ][..],
        ),
        (
            "DETAILED_ACCESS_REPORT.csv",
            &["SRAM IFMAP Reads", "SRAM Filter Reads", "SRAM OFMAP Writes"][..],
        ),
    ] {
        let text = std::fs::read_to_string(dir.join("r").join(file)).unwrap();
        let want = std::fs::read_to_string(theirs.join(file)).unwrap();
        assert_eq!(text.lines().next(), want.lines().next(), "{file}: header");
        let (ours, theirs) = (
            scalesim_rows(&dir.join("r").join(file)),
            scalesim_rows(&theirs.join(file)),
        );
        assert_eq!(ours.len(), theirs.len(), "{file}: one row per layer");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.len(), b.len(), "{file}: every column present");
            // Every cell reads as a number, as a script's float() reads it (`nan` where vchip
            // does not compute the column SCALE-Sim's way).
            for (h, v) in a {
                assert!(v.parse::<f64>().is_ok(), "{file} {h}: `{v}`");
            }
            for col in exact {
                let get = |r: &Vec<(String, String)>| -> f64 {
                    r.iter().find(|(h, _)| h == col).unwrap().1.parse().unwrap()
                };
                let (x, y) = (get(a), get(b));
                assert!(
                    (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                    "{file} {col}: {x} vs {y}"
                );
            }
        }
    }
    let layers = std::fs::read_to_string(dir.join("r/LAYERS.csv")).unwrap();
    assert!(
        layers.starts_with("LayerID,step,name,op_type,cycles\n0,"),
        "{layers}"
    );
    // A zoo model: pooling and element-wise steps are off the array, listed without a LayerID.
    let o = vchip(&[
        "simulate",
        "resnet18",
        "--hw",
        "tpu-v1",
        "--report-dir",
        &dir.join("z").to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let layers = std::fs::read_to_string(dir.join("z/LAYERS.csv")).unwrap();
    let compute = std::fs::read_to_string(dir.join("z/COMPUTE_REPORT.csv")).unwrap();
    let on_array = layers
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with(','))
        .count();
    assert_eq!(on_array, compute.lines().count() - 1);
    assert!(
        layers
            .lines()
            .any(|l| l.starts_with(',') && l.contains("maxpool")),
        "{layers}"
    );
    // A file in the way is refused before the simulation runs.
    std::fs::write(dir.join("afile"), "x").unwrap();
    let o = vchip(&[
        "simulate",
        "resnet18",
        "--hw",
        "tpu-v1",
        "--report-dir",
        &dir.join("afile").to_string_lossy(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty() && stderr(&o).contains("a file is in the way"));
    // A kind without an array has no such reports: refused before anything is written.
    let o = vchip(&[
        "simulate",
        "resnet50",
        "--hw",
        "h100-sxm",
        "--report-dir",
        &dir.join("gpu").to_string_lossy(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("kind: systolic"), "{}", stderr(&o));
    assert!(!dir.join("gpu").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dim_binds_onnx_symbolic_dimensions_only() {
    fails_with(
        &["trace", "resnet18", "--dim", "batch=8"],
        "not one (use --batch/--seq)",
    );
    fails_with(
        &["trace", "x.onnx", "--dim", "batch"],
        "--dim `batch`: write NAME=N",
    );
    fails_with(
        &["trace", "x.onnx", "--dim", "batch=3", "--dim", "batch=5"],
        "--dim batch: given twice",
    );
}
