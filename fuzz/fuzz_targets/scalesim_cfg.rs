#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        if let Ok(spec) = vchip_hwmodels::scalesim_cfg::parse_cfg("fuzz.cfg", src) {
            let _ = vchip_hwmodels::build_model(spec);
        }
    }
});
