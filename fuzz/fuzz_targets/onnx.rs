#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = vchip_workloads::TraceOptions { allow_unknown: true, seq: Some(8), ..Default::default() };
    let _ = vchip_workloads::onnx::load_onnx("fuzz.onnx", data, &opts);
});
