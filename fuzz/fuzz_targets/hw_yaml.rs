#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        if let Ok(spec) = vchip_hwmodels::HardwareSpec::from_yaml("fuzz.yaml", src) {
            if let Ok(model) = vchip_hwmodels::build_model(spec) {
                let _ = model.area();
            }
        }
    }
});
