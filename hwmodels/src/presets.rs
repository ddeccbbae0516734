//! Embedded hardware presets. Each is a commented YAML file under `hwmodels/presets/`; the comments
//! cite the source of every value, and `vchip hw show NAME` prints them verbatim.

pub struct Preset {
    pub name: &'static str,
    pub yaml: &'static str,
}

macro_rules! preset {
    ($name:literal) => {
        Preset {
            name: $name,
            yaml: include_str!(concat!("../presets/", $name, ".yaml")),
        }
    };
}

pub static PRESETS: &[Preset] = &[
    preset!("scalesim-32x32"),
    preset!("tpu-v1"),
    preset!("edge-tpu-like"),
    preset!("systolic"),
    preset!("nucleo-l4r5zi"),
    preset!("nucleo-h7a3zi-q"),
    preset!("nucleo-u575zi-q"),
    preset!("disco-f746ng"),
    preset!("stm32h743"),
    preset!("nrf5340-dk"),
    preset!("corstone-300-u55"),
    preset!("a100-sxm-80gb"),
    preset!("h100-sxm"),
    preset!("h200"),
    preset!("rtx-4090"),
    preset!("mi300x"),
    preset!("dgx-a100"),
    preset!("dgx-h100"),
    preset!("sn40l"),
    preset!("sn40l-8"),
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}
