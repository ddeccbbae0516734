#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = vchip_workloads::scalesim_csv::parse_topology("fuzz.csv", src, 1);
    }
});
