//! SCALE-Sim topology CSVs, conv form (`name, H, W, R, S, C, N, stride,`) and GEMM form
//! (`name, M, N, K,`), accepted the way SCALE-Sim v3 reads them: the first row is a header, a
//! trailing comma is allowed, the IFMAP size already includes padding, layers whose name contains
//! `DP` are depthwise. Words are one byte in SCALE-Sim, so tensors are `int8`.

use crate::builder::{ConvSpec, TraceBuilder};
use crate::error::{Result, WorkloadError};
use crate::ir::*;

pub fn parse_topology(file: &str, text: &str, batch: u64) -> Result<Trace> {
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("topology");
    let mut b = TraceBuilder::new(stem);
    b.act_dtype = DType::Int8;
    b.weight_dtype = DType::Int8;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(perr(
            file,
            1,
            1,
            "the file is empty".into(),
            "a header row and one row per layer are needed",
        ));
    };
    let head: Vec<String> = fields(header).map(|f| f.to_ascii_uppercase()).collect();
    let gemm = head.len() >= 4 && head[1] == "M" && head[2] == "N" && head[3] == "K";
    let mut n_layers = 0;
    // Layer rows: the non-blank lines after the header.
    if text.lines().filter(|l| !l.trim().is_empty()).count() > MAX_OPS + 1 {
        return Err(perr(
            file,
            MAX_OPS + 1,
            1,
            format!("more than {MAX_OPS} layer rows, beyond any real network"),
            "the file is corrupt or not a topology",
        ));
    }
    for (idx, line) in lines {
        let lineno = idx + 1;
        let cols: Vec<&str> = fields(line).collect();
        let need = if gemm { 4 } else { 8 };
        if cols.len() < need {
            let form = if gemm {
                "name, M, N, K,"
            } else {
                "name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,"
            };
            return Err(perr(
                file,
                lineno,
                line.len() + 1,
                format!(
                    "row has {} column(s), a {} row needs {need}",
                    cols.len(),
                    if gemm { "GEMM" } else { "conv" }
                ),
                &format!("write the row as `{form}`"),
            ));
        }
        let name = cols[0].to_string();
        let mut vals = Vec::new();
        for (c, text) in cols.iter().enumerate().take(need).skip(1) {
            let v = text.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                let col = col_of(line, c);
                perr(
                    file,
                    lineno,
                    col,
                    format!(
                        "column {} (`{}`) must be a positive integer, got `{text}`",
                        c + 1,
                        head.get(c).map_or("?", |s| s.as_str())
                    ),
                    "use sizes of at least 1",
                )
            })?;
            vals.push(v);
        }
        let at = |e: WorkloadError| {
            perr(
                file,
                lineno,
                1,
                e.to_string(),
                "check the layer's dimensions",
            )
        };
        if gemm {
            let (m, n, k) = (vals[0], vals[1], vals[2]);
            let x = b
                .input(&format!("{name}.a"), vec![m, k], DType::Int8)
                .map_err(at)?;
            b.linear(&name, x, n, false).map_err(at)?;
        } else {
            let (h, w, r, s, c, n, stride) = (
                vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6],
            );
            let x = b
                .input(&format!("{name}.ifmap"), vec![batch, c, h, w], DType::Int8)
                .map_err(at)?;
            let depthwise = name.contains("DP");
            let spec = ConvSpec {
                c_out: if depthwise {
                    c.checked_mul(n).ok_or_else(|| {
                        at(WorkloadError::Overflow {
                            what: "channels".into(),
                        })
                    })?
                } else {
                    n
                },
                kh: r,
                kw: s,
                stride: (stride, stride),
                pad: (0, 0),
                dilation: (1, 1),
                groups: if depthwise { c } else { 1 },
                bias: false,
            };
            b.conv2d(&name, x, spec).map_err(at)?;
        }
        n_layers += 1;
    }
    if n_layers == 0 {
        return Err(perr(
            file,
            2,
            1,
            "no layer rows after the header".into(),
            "add one row per layer",
        ));
    }
    Ok(b.finish())
}

/// Comma-separated fields, trimmed, with SCALE-Sim's trailing comma (and an empty last field) dropped.
fn fields(line: &str) -> impl Iterator<Item = &str> {
    let line = line.trim().trim_end_matches(',');
    line.split(',').map(str::trim)
}

fn col_of(line: &str, field: usize) -> usize {
    line.split(',')
        .take(field)
        .map(|f| f.len() + 1)
        .sum::<usize>()
        + 1
}

fn perr(file: &str, line: usize, col: usize, msg: String, hint: &str) -> WorkloadError {
    WorkloadError::Parse {
        file: file.to_string(),
        line,
        col,
        msg,
        hint: hint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A topology longer than any real network is refused before a single layer is built (it had
    /// no cap: a few megabytes of rows made millions of ops).
    #[test]
    fn a_topology_beyond_the_op_cap_is_refused_before_it_is_built() {
        let mut text = String::from("Layer, M, N, K,\n");
        text.push_str(&"l,1,1,1,\n".repeat(MAX_OPS + 1));
        let e = parse_topology("huge.csv", &text, 1)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("huge.csv") && e.contains("more than 1000000 layer rows"),
            "{e}"
        );
        assert!(parse_topology("ok.csv", "Layer, M, N, K,\nl,1,1,1,\n", 1).is_ok());
    }
}
