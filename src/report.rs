//! Renders traces and simulation results as aligned tables, JSON or CSV, and writes files atomically.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use vchip_hwmodels::mcu::McuReport;
use vchip_sim::SimResult;
use vchip_workloads::{TensorRole, Trace};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Human-readable count with an SI suffix (1.23 G).
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        return format!("{v:.0}");
    };
    format!("{:.2}{s}", v / d)
}

/// Seconds with a readable unit.
pub fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.3} us", s * 1e6)
    }
}

/// Joules with a readable unit.
pub fn joules(j: f64) -> String {
    if j >= 1.0 {
        format!("{j:.3} J")
    } else if j >= 1e-3 {
        format!("{:.3} mJ", j * 1e3)
    } else {
        format!("{:.3} uJ", j * 1e6)
    }
}

/// Left-aligns the first `left` columns, right-aligns the rest.
fn table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<&str>| {
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i] - c.chars().count();
            if i > 0 {
                out.push_str("  ");
            }
            if i < left {
                out.push_str(c);
                if i + 1 < cells.len() {
                    out.push_str(&" ".repeat(pad));
                }
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(c);
            }
        }
        out.push('\n');
    };
    line(&mut out, header.to_vec());
    let total: usize = w.iter().sum::<usize>() + 2 * (w.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        line(&mut out, r.iter().map(String::as_str).collect());
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A table column's name in CSV: one snake_case style, units spelled out.
fn csv_column(h: &str) -> String {
    match h {
        "#" => "index".into(),
        "util %" => "utilization_pct".into(),
        "map eff %" => "mapping_efficiency_pct".into(),
        "ifmap SRAM rd" => "ifmap_sram_reads".into(),
        "filter SRAM rd" => "filter_sram_reads".into(),
        "ofmap SRAM wr" => "ofmap_sram_writes".into(),
        "off-chip rd B" => "offchip_read_bytes".into(),
        "off-chip wr B" => "offchip_write_bytes".into(),
        "read B" => "read_bytes".into(),
        "written B" => "written_bytes".into(),
        "output" => "output_shape".into(),
        "compute" => "compute_cycles".into(),
        "stall" => "stall_cycles".into(),
        other => other.to_ascii_lowercase().replace([' ', '-'], "_"),
    }
}

fn csv(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| csv_column(h)).collect();
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        let line: Vec<String> = r.iter().map(|c| csv_field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn json<T: Serialize>(v: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[derive(Serialize)]
struct TraceJson<'a> {
    name: &'a str,
    totals: vchip_workloads::Totals,
    ops: Vec<OpJson<'a>>,
    edges: Vec<(u32, u32)>,
}

#[derive(Serialize)]
struct OpJson<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    op_type: &'static str,
    kind: &'a vchip_workloads::OpKind,
    phase: vchip_workloads::Phase,
    dtype: vchip_workloads::DType,
    inputs: Vec<TensorJson<'a>>,
    weights: Vec<TensorJson<'a>>,
    outputs: Vec<TensorJson<'a>>,
    macs: u64,
    flops: u64,
    params: u64,
    bytes_read: u64,
    bytes_written: u64,
}

#[derive(Serialize)]
struct TensorJson<'a> {
    name: &'a str,
    shape: &'a [u64],
    dtype: vchip_workloads::DType,
    role: TensorRole,
}

fn shape_str(s: &[u64]) -> String {
    s.iter().map(u64::to_string).collect::<Vec<_>>().join("x")
}

pub fn render_trace(t: &Trace, f: Format) -> String {
    render_trace_with(t, f, false)
}

/// `totals`: a CSV ends with a `total` row (the table always has one).
pub fn render_trace_with(t: &Trace, f: Format, totals_row: bool) -> String {
    let totals = t.totals();
    if f == Format::Json {
        let tj = |ids: &[vchip_workloads::TensorId]| {
            ids.iter()
                .map(|&i| {
                    let x = t.tensor(i);
                    TensorJson {
                        name: &x.name,
                        shape: &x.shape,
                        dtype: x.dtype,
                        role: x.role,
                    }
                })
                .collect()
        };
        let ops = t
            .ops
            .iter()
            .map(|op| OpJson {
                name: &op.name,
                op_type: op.kind.type_name(),
                kind: &op.kind,
                phase: op.phase,
                dtype: op.dtype,
                inputs: tj(&op.inputs),
                weights: tj(&op.weights),
                outputs: tj(&op.outputs),
                macs: op.macs,
                flops: op.flops,
                params: t.op_params(op),
                bytes_read: t.op_bytes_read(op),
                bytes_written: t.op_bytes_written(op),
            })
            .collect();
        let edges = t.edges().into_iter().map(|(a, b, _)| (a.0, b.0)).collect();
        return json(&TraceJson {
            name: &t.name,
            totals,
            ops,
            edges,
        });
    }
    let header = [
        "#",
        "name",
        "type",
        "detail",
        "phase",
        "dtype",
        "output",
        "MACs",
        "params",
        "read B",
        "written B",
    ];
    let raw = f == Format::Csv;
    let num = |v: u64| if raw { v.to_string() } else { si(v as f64) };
    let mut rows: Vec<Vec<String>> = t
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            vec![
                i.to_string(),
                op.name.clone(),
                op.kind.type_name().to_string(),
                op.kind.detail(),
                format!("{:?}", op.phase).to_lowercase(),
                op.dtype.to_string(),
                op.outputs
                    .first()
                    .map_or(String::new(), |&o| shape_str(&t.tensor(o).shape)),
                num(op.macs),
                num(t.op_params(op)),
                num(t.op_bytes_read(op)),
                num(t.op_bytes_written(op)),
            ]
        })
        .collect();
    if raw {
        if totals_row {
            rows.push(vec![
                "total".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                totals.macs.to_string(),
                totals.params.to_string(),
                totals.bytes_read.to_string(),
                totals.bytes_written.to_string(),
            ]);
        }
        return csv(&header, &rows);
    }
    rows.push(vec![
        String::new(),
        "TOTAL".into(),
        format!("{} ops", totals.ops),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        si(totals.macs as f64),
        si(totals.params as f64),
        si(totals.bytes_read as f64),
        si(totals.bytes_written as f64),
    ]);
    let mut out = format!("model: {}\n", t.name);
    out.push_str(&table(&header, &rows, 7));
    let _ = writeln!(
        out,
        "\n{} ops, {} MACs, {} FLOPs, {} parameters ({} active), {} weight bytes",
        totals.ops,
        si(totals.macs as f64),
        si(totals.flops as f64),
        si(totals.params as f64),
        si(totals.active_params as f64),
        si(totals.weight_bytes as f64)
    );
    out
}

/// The ops fused into a step after its anchor, each without the name prefix it shares with the
/// anchor (`layer1.0.conv3` + `layer1.0.add` → `add`).
fn fused_names(ops: &[String]) -> String {
    let Some((anchor, rest)) = ops.split_first() else {
        return String::new();
    };
    rest.iter()
        .map(|n| {
            // The longest prefix ending at a dot that both names share.
            let common = anchor
                .char_indices()
                .zip(n.chars())
                .take_while(|((_, a), b)| a == b)
                .filter(|((_, a), _)| *a == '.')
                .map(|((i, _), _)| i + 1)
                .last()
                .unwrap_or(0);
            &n[common..]
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// Sections a text report lists one per line.
const SECTIONS_LISTED: usize = 24;

/// Columns of the step table that only array chips fill: map eff %, ifmap/filter/ofmap SRAM.
const ARRAY_COLUMNS: [usize; 4] = [10, 12, 13, 14];

fn kib(b: u64) -> String {
    format!("{:.1}", b as f64 / 1024.0)
}

/// One row in the ST model-zoo benchmark layout (KiB, ms), with vchip's additions.
fn mcu_csv(model: &str, m: &McuReport) -> String {
    let header = [
        "model",
        "board",
        "library",
        "clock_mhz",
        "activation_ram_kib",
        "runtime_ram_kib",
        "weights_flash_kib",
        "code_flash_kib",
        "total_ram_kib",
        "total_flash_kib",
        "inference_time_ms",
        "energy_uj",
        "fits",
        "tool_version",
    ];
    let row = vec![
        model.to_string(),
        m.board.clone(),
        m.library.to_string(),
        m.clock_mhz.to_string(),
        kib(m.activation_ram_bytes),
        kib(m.persistent_ram_bytes.saturating_add(m.runtime_ram_bytes)),
        kib(m.weights_flash_bytes),
        kib(m.code_flash_bytes.saturating_add(m.model_flash_bytes)),
        kib(m.peak_sram_bytes),
        kib(m.flash_bytes),
        format!("{:.3}", m.latency_s * 1e3),
        format!("{:.1}", m.energy_uj),
        m.fits.to_string(),
        format!("vchip {}", env!("CARGO_PKG_VERSION")),
    ];
    csv(&header, &[row])
}

fn mcu_block(m: &McuReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "energy:  {:.1} uJ   (board power {:.1} mW x latency)",
        m.energy_uj, m.power_mw
    );
    let _ = writeln!(
        out,
        "mcu:     {} ({}), library {}, planner {}{}",
        m.board,
        m.core,
        m.library,
        m.planner.name(),
        m.npu
            .as_ref()
            .map_or(String::new(), |n| format!(", layers on {n}"))
    );
    let _ = writeln!(
        out,
        "sram:    {} KiB peak = arena {} KiB (scratch {} KiB at the peak) + persistent {} KiB + runtime {} KiB; the board has {} KiB, all of it goes in {} ({} KiB): {}",
        kib(m.peak_sram_bytes),
        kib(m.activation_ram_bytes),
        kib(m.scratch_bytes_at_peak),
        kib(m.persistent_ram_bytes),
        kib(m.runtime_ram_bytes),
        kib(m.sram_bytes),
        m.largest_region,
        kib(m.largest_region_bytes),
        if m.sram_fits { "fits" } else { "DOES NOT FIT" }
    );
    let _ = writeln!(
        out,
        "flash:   {} KiB = weights {} KiB + model {} KiB + code {} KiB ({}) of {} KiB: {}",
        kib(m.flash_bytes),
        kib(m.weights_flash_bytes),
        kib(m.model_flash_bytes),
        kib(m.code_flash_bytes),
        m.kernels.join(", "),
        kib(m.flash_capacity_bytes),
        if m.flash_fits { "fits" } else { "DOES NOT FIT" }
    );
    let _ = writeln!(
        out,
        "arena peak at step {}: {}",
        m.peak_step,
        m.live_at_peak.join(", ")
    );
    out
}

/// The error for a network that does not fit a microcontroller: by how much, and what is live.
pub fn mcu_no_fit(model: &str, m: &McuReport) -> String {
    let mut parts = Vec::new();
    if !m.sram_fits {
        parts.push(format!(
            "SRAM: {} KiB (arena {} KiB + persistent {} KiB + runtime {} KiB) in one region, {} KiB more than the largest ({} {} KiB); live at the arena's peak (step {}): {}",
            kib(m.peak_sram_bytes),
            kib(m.activation_ram_bytes),
            kib(m.persistent_ram_bytes),
            kib(m.runtime_ram_bytes),
            kib(m.peak_sram_bytes.saturating_sub(m.largest_region_bytes)),
            m.largest_region,
            kib(m.largest_region_bytes),
            m.peak_step,
            m.live_at_peak.join(", ")
        ));
    }
    if !m.flash_fits {
        parts.push(format!(
            "flash: {} KiB (weights {} KiB + model {} KiB + code {} KiB), {} KiB more than the {} KiB there is",
            kib(m.flash_bytes),
            kib(m.weights_flash_bytes),
            kib(m.model_flash_bytes),
            kib(m.code_flash_bytes),
            kib(m.flash_bytes.saturating_sub(m.flash_capacity_bytes)),
            kib(m.flash_capacity_bytes)
        ));
    }
    format!(
        "`{model}` does not fit `{}`: {}. Fix: a smaller model or input, a board with more memory, or --allow-no-fit to report it anyway",
        m.board,
        parts.join("; ")
    )
}

pub fn render_sim(r: &SimResult, f: Format) -> String {
    render_sim_with(r, f, false)
}

/// `totals_row`: a CSV ends with a `total` row (the table always has one).
pub fn render_sim_with(r: &SimResult, f: Format, totals_row: bool) -> String {
    if f == Format::Json {
        if r.totals.energy_pj.is_some() {
            return json(r);
        }
        // A kind that does not model energy: every step's and layer's energy is null, as the
        // totals' are, never a breakdown of zeros.
        let Ok(mut v) = serde_json::to_value(r) else {
            return json(r);
        };
        for part in ["steps", "layers"] {
            if let Some(items) = v.get_mut(part).and_then(|x| x.as_array_mut()) {
                for item in items {
                    if let Some(e) = item.get_mut("energy") {
                        *e = serde_json::Value::Null;
                    }
                }
            }
        }
        return json(&v);
    }
    let raw = f == Format::Csv;
    let mut header = vec![
        "step",
        "name",
        "fused",
        "type",
        "detail",
        "phase",
        "cycles",
        "compute",
        "stall",
        "util %",
        "map eff %",
        "MACs",
        "ifmap SRAM rd",
        "filter SRAM rd",
        "ofmap SRAM wr",
        "off-chip rd B",
        "off-chip wr B",
        "energy pJ",
        "bound",
    ];
    let num = |v: u64| if raw { v.to_string() } else { si(v as f64) };
    let mut rows: Vec<Vec<String>> = r
        .steps
        .iter()
        .filter(|s| s.kind != vchip_hwmodels::StepKind::View || raw)
        .map(|s| {
            let (rd, wr) = vchip_sim::offchip_traffic(&s.cost, &r.levels);
            let array = s.cost.array.unwrap_or_default();
            vec![
                s.index.to_string(),
                s.ops[0].clone(),
                if s.kind == vchip_hwmodels::StepKind::Section && s.ops.len() > 1 {
                    // A section runs many ops: its extent, not every name.
                    format!("+{} ops to {}", s.ops.len() - 1, s.ops[s.ops.len() - 1])
                } else {
                    fused_names(&s.ops)
                },
                s.op_type.to_string(),
                s.detail.clone(),
                format!("{:?}", s.phase).to_lowercase(),
                num(s.cost.cycles),
                num(s.cost.compute_cycles),
                num(s.cost.stall_cycles),
                format!("{:.2}", s.cost.utilization * 100.0),
                format!("{:.2}", array.mapping_efficiency * 100.0),
                num(s.macs),
                num(array.sram.ifmap_reads),
                num(array.sram.filter_reads),
                num(array.sram.ofmap_writes),
                num(rd),
                num(wr),
                // Empty, never 0, for a kind that does not model energy.
                if r.totals.energy_pj.is_none() {
                    String::new()
                } else if raw {
                    format!("{:.1}", s.cost.energy.total())
                } else {
                    si(s.cost.energy.total())
                },
                s.cost.bound.label().to_string(),
            ]
        })
        .collect();
    // The array's columns (mapping efficiency, SRAM accesses) only for kinds that have one.
    let drop_array = |header: &mut Vec<&str>, rows: &mut Vec<Vec<String>>| {
        if r.steps.iter().all(|s| s.cost.array.is_none()) {
            for i in ARRAY_COLUMNS.iter().rev() {
                header.remove(*i);
                for row in rows.iter_mut() {
                    row.remove(*i);
                }
            }
        }
    };
    if raw {
        if let Some(m) = &r.mcu {
            return mcu_csv(&r.model, m);
        }
        if totals_row {
            let t = &r.totals;
            let (rd, wr) = (t.dram_read_bytes, t.dram_write_bytes);
            let mut row = vec![String::new(); header.len()];
            row[0] = "total".into();
            row[6] = t.cycles.to_string();
            row[7] = t.compute_cycles.to_string();
            row[8] = t.stall_cycles.to_string();
            row[9] = format!("{:.2}", t.utilization * 100.0);
            row[11] = t.macs.to_string();
            row[15] = rd.to_string();
            row[16] = wr.to_string();
            row[17] = t
                .energy_pj
                .map_or(String::new(), |e| format!("{:.1}", e.total()));
            rows.push(row);
        }
        drop_array(&mut header, &mut rows);
        return csv(&header, &rows);
    }
    let t = &r.totals;
    rows.push(vec![
        String::new(),
        "TOTAL".into(),
        format!("{} ops", t.ops),
        format!("{} steps", t.steps),
        String::new(),
        String::new(),
        si(t.cycles as f64),
        si(t.compute_cycles as f64),
        si(t.stall_cycles as f64),
        format!("{:.2}", t.utilization * 100.0),
        String::new(),
        si(t.macs as f64),
        String::new(),
        String::new(),
        String::new(),
        si(t.dram_read_bytes as f64),
        si(t.dram_write_bytes as f64),
        t.energy_pj.map_or(String::new(), |e| si(e.total())),
        String::new(),
    ]);
    let mut out = format!(
        "model: {}   hardware: {}   clock: {} MHz   conventions: {:?}   fusion: {:?}\n",
        r.model,
        r.hardware,
        r.clock_hz / 1e6,
        r.compat,
        r.fusion
    );
    for p in &r.passes {
        let _ = writeln!(out, "pass {}: {} ({} ops)", p.pass, p.what, p.ops.len());
    }
    drop_array(&mut header, &mut rows);
    out.push_str(&table(&header, &rows, 6));
    let e = t.energy_pj.unwrap_or_default();
    let total = e.total().max(f64::MIN_POSITIVE);
    let share = |v: f64| 100.0 * v / total;
    let _ = writeln!(
        out,
        "\nlatency: {} cycles = {}   (compute {}, stalls {}); {:.1} samples/s at batch {}",
        t.cycles,
        seconds(t.latency_s),
        t.compute_cycles,
        t.stall_cycles,
        t.samples_per_s,
        t.batch
    );
    if t.cycles_prefill > 0 || t.cycles_decode > 0 {
        let _ = writeln!(
            out,
            "phases:  prefill {} = {}, decode step {} = {}",
            t.cycles_prefill,
            seconds(t.cycles_prefill as f64 / r.clock_hz),
            t.cycles_decode,
            seconds(t.cycles_decode as f64 / r.clock_hz)
        );
    }
    if let Some(a) = &r.area {
        let _ = writeln!(
            out,
            "area:    {:.1} mm² (compute {:.1}, SRAM {:.1}, vector {:.1}, memory interface {:.1}, rest of the die {:.1})",
            a.total_mm2, a.compute_mm2, a.sram_mm2, a.vector_mm2, a.memory_interface_mm2, a.other_mm2
        );
    }
    if let Some(sv) = &r.serving {
        let _ = writeln!(
            out,
            "serving: batch {} x ({} prompt + {} generated), tp {}: TTFT {}, TPOT {} ({:.1} tok/s per user, {:.1} decode tok/s in all), end to end {}",
            sv.batch,
            sv.prompt,
            sv.gen,
            sv.tp,
            seconds(sv.ttft_s),
            seconds(sv.tpot_s),
            sv.decode_tokens_per_s_per_user,
            sv.tokens_per_s,
            seconds(sv.e2e_s)
        );
        let _ = writeln!(
            out,
            "         per device: weights {:.2} GB + KV cache {:.2} GB, {:.2} GB needed of {:.2} GB off chip: {}",
            sv.weight_bytes_per_gpu as f64 / 1e9,
            sv.kv_cache_bytes as f64 / 1e9,
            sv.hbm_needed_bytes as f64 / 1e9,
            sv.hbm_capacity_bytes.unwrap_or(0) as f64 / 1e9,
            if sv.fits { "fits" } else { "DOES NOT FIT" }
        );
    }
    if let Some(m) = &r.mcu {
        out.push_str(&mcu_block(m));
    } else if e.total() > 0.0 {
        let _ = writeln!(
            out,
            "energy:  {}   (MAC {:.1}%, vector {:.1}%, SRAM {:.1}%, DRAM {:.1}%, static {:.1}%)",
            joules(t.energy_j.unwrap_or(0.0)),
            share(e.mac_pj),
            share(e.vector_pj),
            share(e.sram_pj),
            share(e.dram_pj),
            share(e.static_pj)
        );
        let _ = writeln!(
            out,
            "power:   {:.3} W average   efficiency: {:.3} TOPS/W   utilization: {:.2}%",
            t.average_power_w.unwrap_or(0.0),
            t.tops_per_watt.unwrap_or(0.0),
            t.utilization * 100.0
        );
    } else {
        let _ = writeln!(
            out,
            "energy:  not modelled for this hardware kind   utilization: {:.2}%",
            t.utilization * 100.0
        );
    }
    for m in &r.memory {
        if m.peak_bytes == 0 {
            continue;
        }
        let cap = m
            .capacity_bytes
            .map_or(String::new(), |c| format!(" of {}B", si(c as f64)));
        let arena = m
            .arena_bytes
            .map_or(String::new(), |a| format!(", arena {}B", si(a as f64)));
        let _ = writeln!(
            out,
            "memory:  {} peak {}B{cap}{arena} at step {} ({} tensors live: {}{}){}",
            m.level,
            si(m.peak_bytes as f64),
            m.at_step,
            m.live_count,
            m.live_at_peak
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if m.live_count > 3 { ", ..." } else { "" },
            if m.fits { "" } else { "   DOES NOT FIT" }
        );
    }
    let sections: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.kind == vchip_hwmodels::StepKind::Section)
        .collect();
    if !sections.is_empty() {
        let _ = writeln!(out, "sections: {}", sections.len());
        for s in sections.iter().take(SECTIONS_LISTED) {
            let _ = writeln!(
                out,
                "  #{:<4} {:>5} ops  {:>10}  bound {}{}  traffic {}",
                s.index,
                s.ops.len(),
                seconds(s.cost.cycles as f64 / r.clock_hz),
                s.cost.bound.label(),
                s.cost
                    .stage
                    .as_ref()
                    .map_or(String::new(), |st| format!(", critical path {st}")),
                s.cost
                    .traffic
                    .iter()
                    .map(|t| format!(
                        "{} {}B/{}B",
                        t.level,
                        si(t.read_bytes as f64),
                        si(t.write_bytes as f64)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if sections.len() > SECTIONS_LISTED {
            let _ = writeln!(
                out,
                "  ... {} more (--format json lists every one)",
                sections.len() - SECTIONS_LISTED
            );
        }
    }
    // The memory wall: which resource bounds how much of the time, and what lifting it would save.
    let mut walls: Vec<(String, u64, u64)> = Vec::new();
    for st in &r.steps {
        let b = st.roofline.bound.clone();
        let saved = st.cost.cycles.saturating_sub(st.roofline.cycles_if_unbound);
        match walls.iter_mut().find(|w| w.0 == b) {
            Some(w) => {
                w.1 = w.1.saturating_add(st.cost.cycles);
                w.2 = w.2.saturating_add(saved);
            }
            None => walls.push((b, st.cost.cycles, saved)),
        }
    }
    walls.retain(|w| w.0 != "-" && w.1 > 0);
    walls.sort_by_key(|w| std::cmp::Reverse(w.1));
    if !walls.is_empty() {
        let _ = writeln!(
            out,
            "bound:   {}",
            walls
                .iter()
                .map(|(b, cycles, saved)| format!(
                    "{b} {:.1}% of the time (lifting it saves {:.1}%)",
                    100.0 * *cycles as f64 / t.cycles.max(1) as f64,
                    100.0 * *saved as f64 / t.cycles.max(1) as f64
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let _ = writeln!(
        out,
        "traffic: {}",
        t.levels
            .iter()
            .map(|l| format!(
                "{} {}B read, {}B written{}",
                l.level,
                si(l.read_bytes as f64),
                si(l.write_bytes as f64),
                if l.on_chip { "" } else { " (off chip)" }
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out
}

/// A ratio with the digits that matter (`3.72x`, `4.10e-3x`).
fn ratio(v: f64) -> String {
    if v >= 0.1 {
        format!("{v:.2}x")
    } else {
        format!("{v:.2e}x")
    }
}

/// A Composition of Experts scenario on a node and its baseline: JSON under `coe`, or a table
/// with one column per system.
pub fn render_coe(c: &vchip_sim::coe::Coe, f: Format) -> String {
    if f == Format::Json {
        return json(&serde_json::json!({ "coe": c }));
    }
    let runs = [&c.run, &c.baseline];
    let row = |what: &str, v: &dyn Fn(&vchip_sim::coe::CoeRun) -> String| {
        std::iter::once(what.to_string())
            .chain(runs.iter().map(|r| v(r)))
            .collect::<Vec<_>>()
    };
    let raw = f == Format::Csv;
    let secs = |s: f64| if raw { format!("{s:.6e}") } else { seconds(s) };
    let gb = |b: u64| format!("{:.2}", b as f64 / 1e9);
    let mut rows = vec![
        row("devices", &|r| r.devices.to_string()),
        row("expert GB (all devices)", &|r| gb(r.expert_bytes)),
        row("fast tier", &|r| r.fast_tier.clone()),
        row("experts pinned there", &|r| r.experts_pinned.to_string()),
        row("others in", &|r| r.slow_tier.clone()),
        row("TTFT", &|r| secs(r.serving.ttft_s)),
        row("TPOT", &|r| secs(r.serving.tpot_s)),
        row("one request", &|r| secs(r.serving.e2e_s + r.router_s)),
        row("one switch", &|r| secs(r.switch_s)),
        row("switches", &|r| format!("{:.1}", r.switches)),
        row("execution total", &|r| secs(r.exec_s_total)),
        row("switching total", &|r| secs(r.switch_s_total)),
        row("switch share %", &|r| {
            format!("{:.1}", 100.0 * r.switch_share)
        }),
        row("tokens/s", &|r| format!("{:.1}", r.tokens_per_s)),
    ];
    if c.router.is_some() {
        let at = rows
            .iter()
            .position(|r| r[0] == "one request")
            .unwrap_or(rows.len());
        rows.insert(at, row("router per request", &|r| secs(r.router_s)));
        rows.insert(at, row("router GB per device", &|r| gb(r.router_bytes)));
    }
    let header = ["", &c.run.hardware, &c.baseline.hardware];
    if raw {
        // The ratios as rows too (the baseline's column is 1 by definition).
        rows.insert(0, row("hardware", &|r| r.hardware.clone()));
        for (what, v) in [("speedup", c.speedup), ("switch speedup", c.switch_speedup)] {
            rows.push(vec![what.to_string(), format!("{v:.6}"), "1".to_string()]);
        }
        for r in &mut rows {
            r[0] = csv_column(&r[0]);
        }
        return csv(&["metric", "system", "baseline"], &rows);
    }
    let mut out = format!(
        "Composition of Experts: {} experts of {}{}, {} requests ({}), prompt {} + {} generated, one request at a time\n",
        c.experts,
        c.expert_model,
        c.router
            .as_ref()
            .map_or(String::new(), |r| format!(" behind a {r} router")),
        c.run.requests,
        c.request_source,
        c.prompt,
        c.gen
    );
    out.push_str(&table(&header, &rows, 1));
    let _ = writeln!(
        out,
        "\n{} over {}: {} overall, switching {} faster",
        c.run.hardware,
        c.baseline.hardware,
        ratio(c.speedup),
        ratio(c.switch_speedup)
    );
    out
}

/// Writes `contents` to `path` atomically (temporary file in the same directory, then a rename), so
/// readers never see a half-written file. One implementation serves every output of vchip.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    vchip_explore::run_sweep::write_atomic(path, contents)
        .map_err(|e| std::io::Error::other(e.to_string()))
}
