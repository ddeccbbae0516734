//! End-to-end tests of the dataflow kind on the command line: `vchip coe`, the SN40L presets in
//! `simulate` and `sweep`, and the errors of malformed descriptions and request lists.

mod common;
use common::*;

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `vchip coe` with 150 Llama-2-7B experts on `hw`.
fn coe_on(hw: &str) -> Vec<&str> {
    vec![
        "coe",
        "--experts",
        "150",
        "--expert-model",
        "llama-2-7b",
        "--hw",
        hw,
    ]
}

#[test]
fn coe_reports_throughput_switching_and_the_baseline_under_coe() {
    let mut args = coe_on("sn40l-8");
    args.extend(["--zipf", "1", "--format", "json"]);
    let v = json(&vchip(&args));
    let c = &v["coe"];
    for key in ["tokens_per_s", "switch_s_total", "switch_share"] {
        assert!(c[key].as_f64().unwrap() > 0.0, "coe.{key}: {c}");
        assert!(
            c["baseline"][key].as_f64().unwrap() > 0.0,
            "coe.baseline.{key}"
        );
    }
    assert_eq!(c["hardware"], "sn40l-8");
    assert_eq!(c["baseline"]["hardware"], "dgx-h100");
    assert_eq!(c["requests"], 1000);
    let speedup = c["speedup"].as_f64().unwrap();
    let ratio = c["baseline"]["total_s"].as_f64().unwrap() / c["total_s"].as_f64().unwrap();
    assert!((speedup - ratio).abs() < 1e-9);
    // The text report says the same.
    let mut args = coe_on("sn40l-8");
    args.extend(["--zipf", "1"]);
    let o = vchip(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{speedup:.2}x overall")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_request_list_is_served_in_order() {
    let dir = scratch("coe-list");
    let f = dir.join("requests.csv");
    // Experts 0 to 49 once each, then 49 again. Equally popular, the lowest ids are pinned: 39 on
    // the SN40L node (40 HBM slots), 49 on the DGX (50); the rest are copied in once each, and the
    // repeat of 49 finds it in the swap slot.
    let mut text = String::from("id,expert\n");
    for (i, e) in (0..50).chain([49]).enumerate() {
        text.push_str(&format!("{i},{e}\n"));
    }
    std::fs::write(&f, text).unwrap();
    let mut args = coe_on("sn40l-8");
    args.extend(["--requests", f.to_str().unwrap(), "--format", "json"]);
    let v = json(&vchip(&args));
    assert_eq!(v["coe"]["requests"], 51);
    assert_eq!(v["coe"]["experts_pinned"], 39);
    assert_eq!(v["coe"]["switches"], 11.0);
    assert_eq!(v["coe"]["baseline"]["experts_pinned"], 49);
    assert_eq!(v["coe"]["baseline"]["switches"], 1.0);
    let one = v["coe"]["switch_s"].as_f64().unwrap();
    assert!((v["coe"]["switch_s_total"].as_f64().unwrap() - 11.0 * one).abs() < 1e-12);
}

#[test]
fn a_spreadsheet_export_reads_and_csv_output_carries_the_ratios() {
    let dir = scratch("coe-bom");
    let f = dir.join("excel.csv");
    std::fs::write(&f, "\u{feff}\"expert\",\"note\"\r\n\"3\",a\r\n4,b\r\n").unwrap();
    let mut args = coe_on("sn40l-8");
    args.extend(["--requests", f.to_str().unwrap(), "--format", "csv"]);
    let o = vchip(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("metric,system,baseline\nhardware,sn40l-8,dgx-h100\n"),
        "{text}"
    );
    assert!(
        text.contains("\nspeedup,") && text.contains("\nswitch_speedup,"),
        "{text}"
    );
    assert!(text.contains("\nexperts_pinned_there,39,49\n"), "{text}");
    args.push("--totals");
    fails_with(&args, "--totals adds a total row");
}

#[test]
fn experts_beyond_ddr_come_from_the_next_tier_at_its_speed() {
    let dir = scratch("coe-ssd");
    let base = stdout(&vchip(&["hw", "show", "sn40l-8"]));
    // DDR for 5 experts of 1.69 GB per socket, then an SSD at 10 GB/s.
    let yaml = base.replace("capacity_gib: 1536", "capacity_gib: 10").replace(
        "  sockets: 8",
        "    - name: ssd\n      capacity_gib: 4096\n      bandwidth_gb_s: 10\n      efficiency: 1\n      energy_pj_per_bit: 100\n  sockets: 8",
    );
    let f = dir.join("ssd.yaml");
    std::fs::write(&f, yaml).unwrap();
    let run = |hw: &str| {
        let mut args = coe_on(hw);
        args.extend(["--zipf", "0", "--format", "json"]);
        json(&vchip(&args))["coe"].clone()
    };
    let (ddr, ssd) = (run("sn40l-8"), run(f.to_str().unwrap()));
    assert_eq!(ssd["slow_tier"], "ddr+ssd");
    // The nearest store's copy is as fast; but 6 experts fit DDR, the other ~105 unpinned ones
    // come from the SSD, 14x slower (10 GB/s against 200 x 0.7).
    assert_eq!(ssd["switch_s"], ddr["switch_s"]);
    assert_eq!(ssd["switches"], ddr["switches"]);
    let ratio = ssd["switch_s_total"].as_f64().unwrap() / ddr["switch_s_total"].as_f64().unwrap();
    assert!(ratio > 12.0 && ratio < 14.0, "{ratio}");
}

#[test]
fn coe_errors_name_the_place_and_the_fix() {
    let dir = scratch("coe-errors");
    let with = |name: &str, text: &str| {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        f.to_string_lossy().into_owned()
    };
    let bad_id = with("bad.csv", "expert\n3\nseven\n");
    let mut args = coe_on("sn40l-8");
    args.extend(["--requests", &bad_id]);
    fails_with(&args, "bad.csv:3: `seven` is not an expert id");
    let no_column = with("nocol.csv", "model,prompt\n1,2\n");
    let mut args = coe_on("sn40l-8");
    args.extend(["--requests", &no_column]);
    fails_with(&args, "no `expert` column (columns: model, prompt)");
    let out_of_range = with("range.csv", "expert\n150\n");
    let mut args = coe_on("sn40l-8");
    args.extend(["--requests", &out_of_range]);
    fails_with(&args, "range.csv:2: expert 150 is beyond the 150 experts");
    // Neither popularity, or both: usage errors.
    let usage = |args: &[&str], expect: &str| {
        let o = vchip(args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{}", stderr(&o));
    };
    usage(&coe_on("sn40l-8"), "--requests <FILE.csv>|--zipf <S>");
    let mut args = coe_on("sn40l-8");
    args.extend(["--zipf", "1", "--requests", &bad_id]);
    usage(&args, "cannot be used with");
    // Kinds without tiers or host memory, a model that is not an LLM, too many experts.
    fails_with(
        &[
            "coe",
            "--experts",
            "4",
            "--expert-model",
            "llama-2-7b",
            "--hw",
            "tpu-v1",
            "--zipf",
            "1",
        ],
        "vchip coe runs on kind: dataflow",
    );
    fails_with(
        &[
            "coe",
            "--experts",
            "4",
            "--expert-model",
            "resnet50",
            "--hw",
            "sn40l-8",
            "--zipf",
            "1",
        ],
        "`resnet50` is not one",
    );
    fails_with(
        &[
            "coe",
            "--experts",
            "600",
            "--expert-model",
            "llama-2-70b",
            "--hw",
            "sn40l-8",
            "--zipf",
            "1",
        ],
        "600 experts of `llama-2-70b` do not fit `sn40l-8`",
    );
    let mut args = coe_on("sn40l-8");
    args.extend(["--zipf", "1", "--router", "resnet50"]);
    fails_with(&args, "--router applies to LLMs");
    let mut args = coe_on("sn40l-8");
    args.extend(["--zipf", "1", "--set", "dataflow.tiers.dd.bandwidth_gb_s=1"]);
    fails_with(&args, "Did you mean `dataflow.tiers.ddr.bandwidth_gb_s`?");
}

#[test]
fn sn40l_simulates_llms_split_over_its_sockets() {
    let v = json(&vchip(&[
        "simulate",
        "llama-2-7b",
        "--hw",
        "sn40l-8",
        "--tp",
        "8",
        "--prompt",
        "512",
        "--gen",
        "16",
        "--format",
        "json",
    ]));
    let s = &v["serving"];
    assert!(s["fits"].as_bool().unwrap());
    assert!(s["tpot_s"].as_f64().unwrap() > 0.0);
    let levels: Vec<&str> = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["sram", "hbm", "ddr", "noc", "link"]);
    // Sockets bound tensor parallelism.
    fails_with(
        &["simulate", "llama-2-7b", "--hw", "sn40l", "--tp", "2"],
        "but `sn40l` has 1 (dataflow.sockets)",
    );
}

#[test]
fn a_sweep_names_a_tier_by_its_name() {
    let dir = scratch("dataflow-sweep");
    let out = dir.join("sweep.csv");
    let o = vchip(&[
        "sweep",
        "llama-2-7b",
        "--hw",
        "sn40l",
        "--seq",
        "64",
        "--set",
        "dataflow.tiers.hbm.bandwidth_gb_s=900,1800",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (bw, lat) = (col("dataflow.tiers.hbm.bandwidth_gb_s"), col("latency_s"));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    let latency = |v: &str| -> f64 {
        let r = rows.iter().find(|r| r[bw].starts_with(v)).unwrap();
        r[lat].parse().unwrap()
    };
    // Half the HBM bandwidth: a weight-streaming prefill of 64 tokens is slower.
    assert!(latency("900") > latency("1800"), "{text}");
}

#[test]
fn malformed_dataflow_descriptions_are_refused_with_the_key() {
    let dir = scratch("dataflow-yaml");
    let base = vchip(&["hw", "show", "sn40l-8"]);
    assert!(base.status.success());
    let yaml = stdout(&base);
    let cases: [(&str, String, &str); 6] = [
        (
            "order.yaml",
            yaml.replacen("bandwidth_gb_s: 1800", "bandwidth_gb_s: 100", 1),
            "tiers go innermost (fastest) first, but `ddr` is faster than `hbm`",
        ),
        (
            "link.yaml",
            yaml.split("  socket_link:").next().unwrap().to_string(),
            "8 sockets need the link between them",
        ),
        (
            "eff.yaml",
            yaml.replacen("efficiency: 0.85", "efficiency: 1.5", 1),
            "dataflow.tiers.hbm.efficiency",
        ),
        (
            "noc.yaml",
            yaml.replacen("name: ddr", "name: noc", 1),
            "`noc` cannot name a tier",
        ),
        (
            "dot.yaml",
            yaml.replacen("name: ddr", "name: dd.r", 1),
            "`dd.r` cannot name a tier",
        ),
        (
            "dram.yaml",
            format!("{yaml}dram:\n  capacity_gib: 1\n  bandwidth_gb_s: 1\n"),
            "lists its memories under `dataflow.tiers`",
        ),
    ];
    for (name, text, expect) in cases {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        fails_with(
            &["simulate", "resnet18", "--hw", f.to_str().unwrap()],
            expect,
        );
    }
}
