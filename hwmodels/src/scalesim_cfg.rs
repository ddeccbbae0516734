//! SCALE-Sim `.cfg` files as hardware descriptions, read the way SCALE-Sim v3 reads them
//! (configparser: `key = value` or `key: value`, keys case-insensitive, `[section]` headers).
//! Used keys: ArrayHeight, ArrayWidth, Ifmap/Filter/OfmapSramSzkB, Dataflow, Bandwidth.
//! SCALE-Sim has no clock, energy or DRAM technology: vchip assumes 1 GHz, 1-byte words and the
//! LPDDR4 and Horowitz 45 nm defaults, as the `scalesim-32x32` preset does.

use std::collections::HashMap;

use crate::error::HwError;
use crate::spec::HardwareSpec;

pub fn parse_cfg(file: &str, text: &str) -> Result<HardwareSpec, HwError> {
    let mut keys: HashMap<String, (String, usize)> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let Some(idx) = line.find(['=', ':']) else {
            return Err(HwError::Cfg {
                file: file.into(),
                line: i + 1,
                msg: format!("cannot read `{line}`"),
                hint: "write `Key = value` or `Key: value`".into(),
            });
        };
        let (k, v) = line.split_at(idx);
        keys.insert(
            k.trim().to_ascii_lowercase(),
            (v[1..].trim().to_string(), i + 1),
        );
    }
    let get = |k: &str| -> Result<(String, usize), HwError> {
        keys.get(&k.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| HwError::Cfg {
                file: file.into(),
                line: 0,
                msg: format!("missing key `{k}`"),
                hint: format!("add `{k} : <value>` under [architecture_presets]"),
            })
    };
    let num = |k: &str| -> Result<f64, HwError> {
        let (v, line) = get(k)?;
        let first = v.split(',').next().unwrap_or("").trim().to_string();
        match first.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => Err(HwError::Cfg {
                file: file.into(),
                line,
                msg: format!("`{k}` must be a positive number, got `{v}`"),
                hint: "use a positive value".into(),
            }),
        }
    };
    let rows = num("ArrayHeight")?;
    let cols = num("ArrayWidth")?;
    let (df, df_line) = get("Dataflow")?;
    let df = df.to_ascii_lowercase();
    if !["os", "ws", "is"].contains(&df.as_str()) {
        return Err(HwError::Cfg {
            file: file.into(),
            line: df_line,
            msg: format!("unknown dataflow `{df}`"),
            hint: "use os, ws or is".into(),
        });
    }
    let bandwidth = if keys.contains_key("bandwidth") {
        num("Bandwidth")?
    } else {
        10.0
    };
    let name = keys.get("run_name").map_or_else(
        || {
            std::path::Path::new(file)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("scalesim")
                .to_string()
        },
        |(v, _)| v.clone(),
    );
    let yaml = format!(
        "name: {name:?}\nkind: systolic\ndescription: from SCALE-Sim config {file:?}\nclock_mhz: 1000\ntechnology_nm: 45\nprecision: int8\n\
         systolic: {{ rows: {rows}, cols: {cols}, dataflow: {df} }}\n\
         buffers:\n  ifmap: {{ capacity_kib: {} }}\n  filter: {{ capacity_kib: {} }}\n  ofmap: {{ capacity_kib: {} }}\n  double_buffered: true\n\
         dram: {{ technology: lpddr4, capacity_gib: 4, bandwidth_gb_s: {bandwidth}, energy_pj_per_bit: 8 }}\n\
         vector: {{ lanes: {cols} }}\n",
        num("IfmapSramSzkB")?,
        num("FilterSramSzkB")?,
        num("OfmapSramSzkB")?,
    );
    HardwareSpec::from_yaml(file, &yaml)
}
