//! SCALE-Sim `.cfg` files as hardware descriptions, read the way SCALE-Sim v3 reads them
//! (configparser: `key = value` or `key: value`, keys case-insensitive, `[section]` headers).
//! Used keys: ArrayHeight, ArrayWidth, Ifmap/Filter/OfmapSramSzkB, Dataflow, Bandwidth.
//! SCALE-Sim has no clock, energy or DRAM technology: vchip assumes 1 GHz, 1-byte words and the
//! LPDDR4 and Horowitz 45 nm defaults, as the `scalesim-32x32` preset does.

use std::collections::HashMap;

use crate::error::HwError;
use crate::spec::HardwareSpec;

/// A YAML single-quoted scalar holding `s`: quotes doubled, and what YAML cannot hold in a scalar
/// at all (control characters, a byte-order mark) replaced by `?`. Rust's `{:?}` escapes are not
/// YAML's (a combining accent became `\u{301}`, which YAML rejects).
fn yaml_quoted(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{feff}' {
                '?'
            } else {
                c
            }
        })
        .collect();
    format!("'{}'", clean.replace('\'', "''"))
}

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
    // Array sides are counts: a fraction is an error here, at the .cfg line, not in the YAML.
    let whole = |k: &str| -> Result<u64, HwError> {
        let x = num(k)?;
        if x.fract() != 0.0 || x >= (1u64 << 32) as f64 {
            let (v, line) = get(k)?;
            return Err(HwError::Cfg {
                file: file.into(),
                line,
                msg: format!("`{k}` must be a whole number of PEs, got `{v}`"),
                hint: "use an integer such as 32".into(),
            });
        }
        Ok(x as u64)
    };
    let rows = whole("ArrayHeight")?;
    let cols = whole("ArrayWidth")?;
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
    // One .cfg value per generated line, so that an error the schema finds in the YAML is
    // reported at the .cfg line the value came from (YAML line -> .cfg key).
    let lines: [(&str, String); 13] = [
        ("", format!("name: {}", yaml_quoted(&name))),
        ("", "kind: systolic".into()),
        (
            "",
            format!("description: {}", yaml_quoted(&format!("from SCALE-Sim config {file}"))),
        ),
        ("", "clock_mhz: 1000\ntechnology_nm: 45\nprecision: int8\nsystolic:".into()),
        ("ArrayHeight", format!("  rows: {rows}")),
        ("ArrayWidth", format!("  cols: {cols}")),
        ("Dataflow", format!("  dataflow: {df}\nbuffers:")),
        ("IfmapSramSzkB", format!("  ifmap: {{ capacity_kib: {} }}", num("IfmapSramSzkB")?)),
        ("FilterSramSzkB", format!("  filter: {{ capacity_kib: {} }}", num("FilterSramSzkB")?)),
        ("OfmapSramSzkB", format!("  ofmap: {{ capacity_kib: {} }}", num("OfmapSramSzkB")?)),
        ("", "  double_buffered: true".into()),
        (
            "Bandwidth",
            format!("dram: {{ technology: lpddr4, capacity_gib: 4, bandwidth_gb_s: {bandwidth}, energy_pj_per_bit: 8 }}"),
        ),
        ("ArrayWidth", format!("vector: {{ lanes: {cols} }}")),
    ];
    // The YAML line each entry starts on (an entry may hold several lines).
    let mut starts = Vec::with_capacity(lines.len());
    let mut at = 1;
    for (_, text) in &lines {
        starts.push(at);
        at += text.lines().count();
    }
    let yaml: String = lines.iter().map(|(_, t)| format!("{t}\n")).collect();
    let cfg_key_at_yaml_line = |yaml_line: usize| -> &str {
        let i = starts.iter().rposition(|&s| s <= yaml_line).unwrap_or(0);
        lines[i].0
    };
    let key_of_schema = |key: &str| -> &str {
        match key {
            k if k.starts_with("systolic.rows") => "ArrayHeight",
            k if k.starts_with("systolic.cols") || k.starts_with("vector") => "ArrayWidth",
            k if k.starts_with("systolic.dataflow") => "Dataflow",
            k if k.starts_with("buffers.ifmap") => "IfmapSramSzkB",
            k if k.starts_with("buffers.filter") => "FilterSramSzkB",
            k if k.starts_with("buffers.ofmap") => "OfmapSramSzkB",
            k if k.starts_with("dram.bandwidth") => "Bandwidth",
            _ => "",
        }
    };
    let at_cfg = |cfg_key: &str, msg: String| -> HwError {
        let line = keys
            .get(&cfg_key.to_ascii_lowercase())
            .map_or(0, |(_, l)| *l);
        HwError::Cfg {
            file: file.into(),
            line,
            msg: if cfg_key.is_empty() {
                msg
            } else {
                format!("`{cfg_key}`: {msg}")
            },
            hint: "check the value against SCALE-Sim's documentation".into(),
        }
    };
    HardwareSpec::from_yaml(file, &yaml).map_err(|e| match e {
        HwError::Invalid { key, msg, .. } => at_cfg(key_of_schema(&key), msg),
        HwError::Yaml { msg, .. } => {
            // serde_yaml names a position in the generated YAML: say which .cfg value it was.
            let yaml_line = msg
                .split("line ")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok());
            let msg = msg
                .split(": line ")
                .next()
                .map(str::to_string)
                .unwrap_or(msg);
            let bare = msg
                .rsplit_once(" at line ")
                .map_or(msg.clone(), |(m, _)| m.to_string());
            at_cfg(yaml_line.map_or("", cfg_key_at_yaml_line), bare)
        }
        other => other,
    })
}
