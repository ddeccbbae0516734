//! Replays every input under `tests/fixtures/fuzz/<target>/` (crashes the fuzzers found, now fixed)
//! through the same entry points as the fuzz targets in `fuzz/`: each must return, never panic.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

#[test]
fn onnx_crashes_stay_fixed() {
    let cases = inputs("onnx");
    assert!(!cases.is_empty(), "the onnx regression corpus is missing");
    for data in cases {
        let opts = vchip_workloads::TraceOptions {
            allow_unknown: true,
            seq: Some(8),
            ..Default::default()
        };
        let _ = vchip_workloads::onnx::load_onnx("fuzz.onnx", &data, &opts);
    }
}

#[test]
fn text_parser_crashes_stay_fixed() {
    for data in inputs("dsl") {
        let _ = vchip_workloads::dsl::parse_dsl(
            "fuzz.vnet",
            &String::from_utf8_lossy(&data),
            Default::default(),
        );
    }
    for data in inputs("topology_csv") {
        let _ = vchip_workloads::scalesim_csv::parse_topology(
            "fuzz.csv",
            &String::from_utf8_lossy(&data),
            1,
        );
    }
    for data in inputs("scalesim_cfg") {
        let _ =
            vchip_hwmodels::scalesim_cfg::parse_cfg("fuzz.cfg", &String::from_utf8_lossy(&data));
    }
    for data in inputs("hw_yaml") {
        if let Ok(spec) =
            vchip_hwmodels::HardwareSpec::from_yaml("fuzz.yaml", &String::from_utf8_lossy(&data))
        {
            let _ = vchip_hwmodels::build_model(spec).map(|m| m.area());
        }
    }
    for data in inputs("hf_config") {
        if let Ok(cfg) =
            vchip_workloads::hf::HfConfig::from_json("config.json", &String::from_utf8_lossy(&data))
        {
            let shape = vchip_workloads::hf::LlmShape {
                batch: 1,
                prompt: 8,
                context: 8,
                phase: vchip_workloads::hf::LlmPhase::Both,
            };
            let _ = cfg.trace("fuzz", &shape);
        }
    }
}
