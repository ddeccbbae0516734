#![no_main]
use libfuzzer_sys::fuzz_target;
use vchip_workloads::hf::{HfConfig, LlmPhase, LlmShape};

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        if let Ok(cfg) = HfConfig::from_json("config.json", src) {
            let _ = cfg.trace("fuzz", &LlmShape { batch: 1, prompt: 8, context: 8, phase: LlmPhase::Both });
        }
    }
});
