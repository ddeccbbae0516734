//! ONNX front-end: decodes the protobuf with `prost` and runs vchip's own shape inference, so it
//! needs neither `protoc` nor weights nor the exporter's shape annotations.
//!
//! Both PyTorch exporters load: the TorchScript exporter (weights as initializers, or with
//! `export_params=False` as shaped graph inputs) and the `dynamo=True` exporter (with
//! `export_params=False` it references weights by name only; their shapes are derived from the
//! consuming op and its output's `value_info`). Integer shape arithmetic (Shape → Gather → Concat →
//! Reshape chains) is constant-folded and costs nothing; every other op becomes a trace op.

mod dtypes;
#[cfg(test)]
mod op_tests;
mod ops;
pub mod proto;
mod qdq;

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::builder::TraceBuilder;
use crate::error::{Result, WorkloadError};
use crate::ir::*;
use crate::zoo::TraceOptions;
use proto::*;

/// What a graph value is during import.
#[derive(Clone, Debug)]
pub(crate) enum Val {
    /// A runtime activation in the trace.
    Act(TensorId),
    /// A parameter (initializer or parameter-like graph input); materialised in the trace on first use.
    Param {
        shape: Vec<u64>,
        dtype: DType,
        id: Option<TensorId>,
    },
    /// A compile-time constant; integer values are kept (when small) for shape arithmetic.
    Const {
        shape: Vec<u64>,
        dtype: DType,
        ints: Option<Vec<i64>>,
    },
}

pub(crate) struct Importer<'a> {
    pub file: &'a str,
    pub b: TraceBuilder,
    pub vals: HashMap<String, Val>,
    /// Shapes the exporter declared (value_info, outputs): used to derive undeclared weights.
    pub declared: HashMap<String, Vec<Option<u64>>>,
    pub opts: &'a TraceOptions,
    pub unknown: Vec<String>,
    /// Outputs of folded DequantizeLinear nodes, with the float type the graph gives them (the
    /// value itself is the narrow tensor or weight behind it).
    pub dequantized: HashMap<String, DType>,
}

/// Integer constants up to this many elements are kept for folding.
const MAX_FOLD: u64 = 1 << 16;

/// A shape whose element count (zero allowed, for empty initializers) stays within [`MAX_ELEMENTS`],
/// so later products cannot overflow.
pub(crate) fn sane(shape: &[u64]) -> bool {
    shape.len() <= 64
        && shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .is_some_and(|n| n <= MAX_ELEMENTS)
        && shape.iter().all(|&d| d <= MAX_ELEMENTS)
}

pub fn dtype_of(elem: i32) -> DType {
    match elem {
        1 | 11 => DType::F32,
        10 => DType::F16,
        16 => DType::Bf16,
        17 | 18 => DType::Fp8E4M3,
        19 | 20 => DType::Fp8E5M2,
        2 | 3 => DType::Int8,
        21 | 22 => DType::Int4,
        // int16/32/64, uint*, bool, string: index-like
        _ => DType::Int64,
    }
}

fn is_int(elem: i32) -> bool {
    matches!(elem, 2..=7 | 9 | 12 | 13)
}

/// Integer payload of a tensor proto (raw little-endian or typed fields), if small.
fn tensor_ints(t: &TensorProto) -> Option<Vec<i64>> {
    if !is_int(t.data_type) {
        return None;
    }
    let dims: Vec<u64> = t.dims.iter().map(|&d| d.max(0) as u64).collect();
    if !sane(&dims) {
        return None;
    }
    let n: u64 = dims.iter().product();
    if n > MAX_FOLD {
        return None;
    }
    if !t.int64_data.is_empty() {
        return Some(t.int64_data.clone());
    }
    if !t.int32_data.is_empty() {
        return Some(t.int32_data.iter().map(|&v| v as i64).collect());
    }
    if !t.uint64_data.is_empty() {
        return Some(t.uint64_data.iter().map(|&v| v as i64).collect());
    }
    let width = match t.data_type {
        7 | 13 => 8,
        6 | 12 => 4,
        4 | 5 => 2,
        _ => 1,
    };
    if t.raw_data.len() as u64 != n * width {
        return None;
    }
    Some(
        t.raw_data
            .chunks(width as usize)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                let v = i64::from_le_bytes(b);
                // Sign-extend narrower signed types.
                match (t.data_type, width) {
                    (6, 4) => v as i32 as i64,
                    (5, 2) => v as i16 as i64,
                    (3, 1) => v as i8 as i64,
                    _ => v,
                }
            })
            .collect(),
    )
}

pub fn load_onnx(file: &str, bytes: &[u8], opts: &TraceOptions) -> Result<Trace> {
    let model = ModelProto::decode(bytes).map_err(|e| WorkloadError::Invalid {
        file: file.to_string(),
        place: "protobuf".into(),
        msg: format!("not a valid ONNX model: {e}"),
        hint: "the file is truncated or not ONNX; re-export it with torch.onnx.export".into(),
    })?;
    let graph = model.graph.ok_or_else(|| WorkloadError::Invalid {
        file: file.to_string(),
        place: "ModelProto.graph".into(),
        msg: "the model has no graph".into(),
        hint: "re-export the model".into(),
    })?;
    check_node_count(file, graph.node.len())?;
    if graph.node.is_empty() {
        return Err(WorkloadError::Invalid {
            file: file.to_string(),
            place: "GraphProto.node".into(),
            msg: "the graph has no nodes".into(),
            hint: "re-export the model".into(),
        });
    }
    let name = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("onnx");
    let mut imp = Importer {
        file,
        b: TraceBuilder::new(name),
        vals: HashMap::new(),
        declared: HashMap::new(),
        opts,
        unknown: Vec::new(),
        dequantized: HashMap::new(),
    };
    for vi in graph
        .value_info
        .iter()
        .chain(&graph.output)
        .chain(&graph.input)
    {
        if let Some(s) = declared_shape(vi) {
            imp.declared.insert(vi.name.clone(), s);
        }
    }
    for t in &graph.initializer {
        let shape: Vec<u64> = t.dims.iter().map(|&d| d.max(0) as u64).collect();
        if !sane(&shape) {
            return Err(WorkloadError::Invalid {
                file: file.to_string(),
                place: format!("initializer `{}`", t.name),
                msg: format!(
                    "shape {:?} is empty-dimensioned beyond reason or has more than 2^48 elements",
                    t.dims
                ),
                hint: "the file is corrupt or not a real model".into(),
            });
        }
        let dtype = dtype_of(t.data_type);
        // 8- and 4-bit integer initializers are quantized weights, never shape arithmetic: they
        // stay parameters whatever their size (folding them dropped small ones from the counts).
        let quantized = matches!(t.data_type, 2 | 3 | 21 | 22);
        let val = match tensor_ints(t).filter(|_| !quantized) {
            Some(ints) => Val::Const {
                shape,
                dtype,
                ints: Some(ints),
            },
            None => Val::Param {
                shape,
                dtype,
                id: None,
            },
        };
        imp.vals.insert(t.name.clone(), val);
    }
    // A --dim that names no symbolic dimension is a typo, not a no-op.
    let named: Vec<String> = graph.input.iter().flat_map(dim_params).flatten().collect();
    for (k, _) in &opts.dims {
        if !named.contains(k) {
            let mut known = named.clone();
            known.sort();
            known.dedup();
            return Err(WorkloadError::Invalid {
                file: file.to_string(),
                place: "graph inputs".into(),
                msg: format!("no input has a dimension named `{k}`"),
                hint: if known.is_empty() {
                    "the inputs have no named symbolic dimensions; drop --dim".into()
                } else {
                    format!("its symbolic dimensions are: {}", known.join(", "))
                },
            });
        }
    }
    let param_slots = ops::param_slot_inputs(&graph.node);
    for (i, vi) in graph.input.iter().enumerate() {
        if imp.vals.contains_key(&vi.name) {
            continue;
        }
        let elem = vi
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .map_or(1, |t| t.elem_type);
        let declared = declared_shape(vi);
        let params = dim_params(vi);
        // The first graph input is the model's data; later ones are parameters when they feed a
        // parameter slot or carry a module path (TorchScript's export_params=False layout).
        // A symbolic dimension marks run-time data (a KV cache `past_key_values.0.key`, a state
        // `state.h`): parameters have fixed shapes.
        let symbolic = declared
            .as_ref()
            .is_some_and(|d| d.iter().any(Option::is_none));
        let looks_like_param = i > 0
            && !symbolic
            && (param_slots.contains(vi.name.as_str()) || looks_like_param_name(&vi.name));
        if looks_like_param {
            // A parameter input may omit its shape: the op it feeds sizes it.
            let dims = declared.unwrap_or_default();
            let shape: Vec<u64> = dims.iter().map(|d| d.unwrap_or(1)).collect();
            if !sane(&shape) {
                return Err(WorkloadError::Invalid {
                    file: file.to_string(),
                    place: format!("graph input `{}`", vi.name),
                    msg: "the declared shape has more than 2^48 elements".into(),
                    hint: "the file is corrupt or not a real model".into(),
                });
            }
            imp.vals.insert(
                vi.name.clone(),
                Val::Param {
                    shape,
                    dtype: dtype_of(elem),
                    id: None,
                },
            );
        } else {
            let Some(dims) = declared else {
                let tensor = vi
                    .r#type
                    .as_ref()
                    .and_then(|t| t.tensor_type.as_ref())
                    .is_some();
                return Err(WorkloadError::Invalid {
                    file: file.to_string(),
                    place: format!("graph input `{}`", vi.name),
                    msg: if tensor || vi.r#type.is_none() {
                        "the input declares no shape, so nothing downstream can be sized".into()
                    } else {
                        "the input is not a tensor (a sequence, map or optional); vchip costs tensor graphs".into()
                    },
                    hint: "re-export with input shapes (torch.onnx.export(..., input_names, dynamic_axes)) or run onnx.shape_inference".into(),
                });
            };
            let shape = imp.input_shape(&vi.name, &dims, &params)?;
            if shape.contains(&0) {
                // An empty input (an absent ROI, scales left to sizes) holds no data: a constant
                // with no elements, as an empty initializer would be.
                imp.vals.insert(
                    vi.name.clone(),
                    Val::Const {
                        shape,
                        dtype: dtype_of(elem),
                        ints: Some(Vec::new()),
                    },
                );
                continue;
            }
            let id = imp.b.input(&vi.name, shape, dtype_of(elem))?;
            imp.vals.insert(vi.name.clone(), Val::Act(id));
        }
    }
    let order = node_order(file, &graph)?;
    let readers = qdq::Readers::of(&graph);
    let mut absorbed = vec![false; graph.node.len()];
    let mut guessed: HashSet<&str> = HashSet::new();
    for &i in &order {
        let n = &graph.node[i];
        if imp.absorb_qdq(n, &readers)? {
            absorbed[i] = true;
            continue;
        }
        let quantized = imp.quantized_inputs(n);
        let first_op = imp.b.ops_len();
        let unknown_before = imp.unknown.len();
        // Values downstream of an unsupported op have guessed shapes: an error there names the
        // unsupported op as its cause.
        let guessed_input = n.input.iter().any(|v| guessed.contains(v.as_str()));
        if let Err(e) = imp.node(i, n) {
            if !guessed_input {
                return Err(e);
            }
            if !opts.allow_unknown {
                return Err(imp.unsupported_error(file));
            }
            return Err(match e {
                WorkloadError::Invalid {
                    file,
                    place,
                    msg,
                    hint,
                } => WorkloadError::Invalid {
                    file,
                    place,
                    msg: format!(
                        "{msg} (an input comes from an op vchip does not read, costed at zero with a guessed shape: {})",
                        imp.unknown_kinds()
                    ),
                    hint,
                },
                other => other,
            });
        }
        if guessed_input || imp.unknown.len() > unknown_before {
            guessed.extend(
                n.output
                    .iter()
                    .filter(|o| !o.is_empty())
                    .map(|o| o.as_str()),
            );
        }
        imp.fix_output_dtypes(n, first_op);
        if let Some(dtype) = quantized {
            // Outputs keep the types the graph gives them (float, from the dequantized inputs).
            imp.b.set_op_dtypes_since(first_op, dtype);
        }
    }
    // Tensors carry the file's value names (node outputs in order, then the graph outputs, which
    // win where a no-op node made two names one tensor); a folded Q/DQ names nothing.
    let named = order
        .iter()
        .filter(|&&i| !absorbed[i])
        .flat_map(|&i| graph.node[i].output.iter())
        .chain(graph.output.iter().map(|o| &o.name));
    for value in named {
        if let Some(Val::Act(id)) = imp.vals.get(value.as_str()) {
            let id = *id;
            // A graph input keeps its own name (an Identity may pass it on under another).
            if imp.b.tensor(id).role != TensorRole::Input {
                imp.b.rename_tensor(id, value)?;
            }
        }
    }
    if !imp.unknown.is_empty() {
        if !opts.allow_unknown {
            return Err(imp.unsupported_error(file));
        }
        eprintln!(
            "warning: {file}: costed {} node(s) at zero: {}",
            imp.unknown.len(),
            imp.unknown_kinds()
        );
    }
    if imp.b.ops_len() == 0 {
        return Err(WorkloadError::Invalid {
            file: file.to_string(),
            place: "graph".into(),
            msg: "no costable operation found".into(),
            hint: "check that the graph has compute nodes".into(),
        });
    }
    Ok(imp.b.finish())
}

/// "node `NAME` (OP)" or "node #INDEX (OP)", the name cut to 80 characters.
fn node_place(node: &NodeProto, index: usize) -> String {
    let name = if node.name.is_empty() {
        format!("#{index}")
    } else if node.name.chars().count() > 80 {
        format!("`{}...`", node.name.chars().take(80).collect::<String>())
    } else {
        format!("`{}`", node.name)
    };
    format!("node {name} ({})", node.op_type)
}

/// The op cap, checked on the node count before any node is imported.
fn check_node_count(file: &str, nodes: usize) -> Result<()> {
    if nodes > MAX_OPS {
        return Err(WorkloadError::Invalid {
            file: file.to_string(),
            place: "GraphProto.node".into(),
            msg: format!("the graph has {nodes} nodes, more than the {MAX_OPS} vchip costs"),
            hint: "the file is corrupt or not a real model".into(),
        });
    }
    Ok(())
}

/// The nodes in an order where every node comes after the nodes whose outputs it reads (the file's
/// own order when it already is one, as ONNX requires; a graph out of order is sorted, never
/// silently cut), or a located error for a value two nodes define or a cycle.
fn node_order(file: &str, graph: &GraphProto) -> Result<Vec<usize>> {
    let located = |i: usize, msg: String, hint: &str| WorkloadError::Invalid {
        file: file.to_string(),
        place: node_place(&graph.node[i], i),
        msg,
        hint: hint.into(),
    };
    let given: std::collections::HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(graph.input.iter().map(|v| v.name.as_str()))
        .collect();
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if given.contains(o.as_str()) {
                return Err(located(
                    i,
                    format!("output `{o}` has the name of a graph input or initializer"),
                    "every value must be defined once (re-export the model)",
                ));
            }
            if let Some(first) = producer.insert(o.as_str(), i) {
                return Err(located(
                    i,
                    format!("output `{o}` is already the output of node #{first}"),
                    "every value must be produced once (re-export the model)",
                ));
            }
        }
    }
    // Each node's producers among the nodes; an input nobody defines is an error.
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(graph.node.len());
    for (i, n) in graph.node.iter().enumerate() {
        let mut d = Vec::new();
        for x in n.input.iter().filter(|x| !x.is_empty()) {
            match producer.get(x.as_str()) {
                Some(&p) if p == i => {
                    return Err(located(
                        i,
                        format!("reads its own output `{x}`"),
                        "a graph must be acyclic (re-export the model)",
                    ))
                }
                Some(&p) => d.push(p),
                // A graph input, an initializer, or a value the file does not carry (exported
                // without weights and constants): the node reads it as such, and an input it
                // needs and cannot derive is a located error there.
                None => {}
            }
        }
        deps.push(d);
    }
    // Kahn's algorithm, always taking the lowest-numbered ready node, so a graph already in order
    // keeps it.
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); graph.node.len()];
    for (i, d) in deps.iter().enumerate() {
        for &p in d {
            users[p].push(i);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = waiting
        .iter()
        .enumerate()
        .filter(|(_, w)| **w == 0)
        .map(|(i, _)| std::cmp::Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(graph.node.len());
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            waiting[u] -= 1;
            if waiting[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if order.len() < graph.node.len() {
        // Walk back from a node that never became ready through producers that never did either:
        // the first node met twice lies on a cycle (the one to name, not one downstream of it).
        let mut stuck = (0..graph.node.len())
            .find(|i| waiting[*i] > 0)
            .unwrap_or_default();
        let mut seen = vec![false; graph.node.len()];
        while !seen[stuck] {
            seen[stuck] = true;
            match deps[stuck].iter().find(|&&p| waiting[p] > 0) {
                Some(&p) => stuck = p,
                None => break,
            }
        }
        return Err(located(
            stuck,
            "is part of a cycle: its inputs depend on its own output".into(),
            "a graph must be acyclic (re-export the model)",
        ));
    }
    Ok(order)
}

/// Parameter names as PyTorch writes them: module paths (`layer1.0.conv1.weight`) or
/// token/embedding tables; generated values (`val_12`, `onnx::Add_7`, `x_cast`) are not.
pub(crate) fn looks_like_param_name(name: &str) -> bool {
    let generated = name.starts_with("val_")
        || name.starts_with("onnx::")
        || name.contains("_cast")
        || name.starts_with('/');
    let module_path =
        name.contains('.') && !name.chars().last().is_some_and(|c| c.is_ascii_digit());
    let table = ["token", "embedding", "embeddings", "weight", "bias"]
        .iter()
        .any(|s| name.ends_with(s));
    !generated && (module_path || table)
}

fn declared_shape(vi: &ValueInfoProto) -> Option<Vec<Option<u64>>> {
    let shape = vi.r#type.as_ref()?.tensor_type.as_ref()?.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| d.dim_value.filter(|v| *v >= 0).map(|v| v as u64))
            .collect(),
    )
}

/// The exporter's names of a value's symbolic dimensions (`batch`, `sequence_length`), by axis.
fn dim_params(vi: &ValueInfoProto) -> Vec<Option<String>> {
    vi.r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| d.dim_param.clone().filter(|p| !p.is_empty()))
                .collect()
        })
        .unwrap_or_default()
}

impl Importer<'_> {
    /// The operator types met so far that vchip does not read, sorted, each once.
    fn unknown_kinds(&self) -> String {
        let mut kinds: Vec<&str> = self.unknown.iter().map(String::as_str).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds.join(", ")
    }

    /// The operators met so far that vchip does not read, as one error.
    fn unsupported_error(&self, file: &str) -> WorkloadError {
        WorkloadError::UnsupportedOps {
            file: file.to_string(),
            count: self.unknown.len(),
            list: self.unknown_kinds(),
        }
    }

    pub(crate) fn err(&self, node: &NodeProto, index: usize, msg: String) -> WorkloadError {
        // A value the node needs that the file feeds in as an integer graph input: PyTorch's
        // `export_params=False` turns constants it folded into inputs without values.
        let valueless = node.input.iter().find(|name| {
            matches!(self.vals.get(name.as_str()), Some(Val::Act(id))
                if self.b.tensor(*id).role == TensorRole::Input
                    && self.b.tensor(*id).dtype == DType::Int64)
        });
        let hint = match valueless {
            Some(name) if msg.contains("constant") => format!(
                "input `{name}` is an integer graph input, so its value is not in the file (an export with export_params=False makes folded constants inputs): export with do_constant_folding=False, or with the weights"
            ),
            _ => "check the exported model (onnx.checker) or report the node to vchip".into(),
        };
        WorkloadError::Invalid {
            file: self.file.to_string(),
            place: node_place(node, index),
            msg,
            hint,
        }
    }

    /// The size of a symbolic dimension: `--dim NAME=N` first, then the names LLM exporters
    /// (Hugging Face optimum, onnxruntime-genai) give the KV-cache dimensions, bound from the
    /// LLM options as the zoo's LLMs are: `sequence_length` is the new tokens (1 in a decode
    /// step, `--seq` in prefill), `past_sequence_length` the cached ones (`--context`, else
    /// `--seq`, in decode; none in prefill), `total_sequence_length` their sum; sums of names
    /// and numbers (`past_sequence_length + 1`) add up. A decode step is `--phase decode`, or
    /// `--context` without `--phase prefill`.
    fn named_dim(&self, p: &str) -> Option<u64> {
        if let Some((_, v)) = self.opts.dims.iter().find(|(k, _)| k == p) {
            return Some(*v);
        }
        if p.contains('+') {
            return p.split('+').try_fold(0u64, |acc, term| {
                let term = term.trim();
                let v = term.parse::<u64>().ok().or_else(|| self.named_dim(term))?;
                acc.checked_add(v)
            });
        }
        use crate::hf::LlmPhase;
        let decode = match self.opts.llm_phase {
            LlmPhase::Decode => true,
            LlmPhase::Prefill => false,
            LlmPhase::Both => self.opts.context.is_some(),
        };
        let past = if decode {
            self.opts.context.or(self.opts.seq)
        } else {
            Some(0)
        };
        let new = if decode { Some(1) } else { self.opts.seq };
        match p {
            "past_sequence_length" | "past_seq_len" | "past_sequence_len" | "past_length" => past,
            "sequence_length" | "seq_len" | "sequence_len" => new,
            "total_sequence_length" | "total_seq_len" => past?.checked_add(new?),
            "batch_size" => Some(self.opts.batch),
            _ => None,
        }
    }

    /// A graph input's shape: declared sizes, then a symbolic dimension's size by its name
    /// ([`Self::named_dim`]), then --batch for the first dimension and --seq for the others.
    fn input_shape(
        &self,
        name: &str,
        dims: &[Option<u64>],
        params: &[Option<String>],
    ) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity(dims.len());
        for (i, d) in dims.iter().enumerate() {
            let param = params.get(i).and_then(|p| p.as_deref());
            let bound = param.and_then(|p| self.named_dim(p));
            out.push(match (d, bound) {
                (Some(v), _) => *v,
                (None, Some(v)) => v,
                (None, None) if i == 0 => self.opts.batch,
                (None, None) => self.opts.seq.ok_or_else(|| WorkloadError::Invalid {
                    file: self.file.to_string(),
                    place: format!("graph input `{name}` dimension {i}"),
                    msg: match param {
                        Some(p) => format!("the dimension is symbolic (`{p}`)"),
                        None => "the dimension is symbolic".into(),
                    },
                    hint: match param {
                        Some(p) => format!("pass --dim {p}=N (or --seq N for every symbolic one)"),
                        None => "pass --seq N to fix it".into(),
                    },
                })?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod malformed_tests {
    use super::*;

    pub(super) fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: 1,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                dim_value: Some(d),
                                dim_param: None,
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    pub(super) fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            r#type: 7,
            ..Default::default()
        }
    }

    pub(super) fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            i: v,
            r#type: 2,
            ..Default::default()
        }
    }

    /// One node on inputs of the given shapes; extra initializers for constant operands.
    pub(super) fn model(
        op: &str,
        inputs: &[(&str, &[i64])],
        attrs: Vec<AttributeProto>,
    ) -> Vec<u8> {
        let graph = GraphProto {
            node: vec![NodeProto {
                input: inputs.iter().map(|(n, _)| n.to_string()).collect(),
                output: vec!["y".into()],
                name: format!("{op}_0"),
                op_type: op.into(),
                attribute: attrs,
                domain: String::new(),
            }],
            name: "g".into(),
            input: inputs.iter().map(|(n, d)| value(n, d)).collect(),
            output: vec![ValueInfoProto {
                name: "y".into(),
                r#type: None,
            }],
            ..Default::default()
        };
        encode(graph)
    }

    /// A graph as the bytes of an opset-13 model file.
    pub(super) fn encode(graph: GraphProto) -> Vec<u8> {
        ModelProto {
            ir_version: 8,
            graph: Some(graph),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// Rank-0 tensors where an axis is needed, and a Slice whose lists disagree in length: each
    /// a located error naming the node, never a panic (issue 20; they indexed out of bounds).
    #[test]
    fn rank_0_inputs_and_mismatched_slices_are_located_errors() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "Gather",
                model("Gather", &[("x", &[]), ("i", &[2])], vec![]),
            ),
            (
                "Concat",
                model("Concat", &[("x", &[]), ("z", &[])], vec![int("axis", 0)]),
            ),
            ("Split", model("Split", &[("x", &[])], vec![int("axis", 0)])),
            (
                "Slice",
                model(
                    "Slice",
                    &[("x", &[])],
                    vec![ints("starts", &[0]), ints("ends", &[1])],
                ),
            ),
            (
                "Transpose",
                model("Transpose", &[("x", &[])], vec![ints("perm", &[0])]),
            ),
            (
                "Slice",
                model(
                    "Slice",
                    &[("x", &[4, 4])],
                    vec![
                        ints("starts", &[0, 0]),
                        ints("ends", &[1]),
                        ints("axes", &[0, 1]),
                    ],
                ),
            ),
        ];
        for (op, bytes) in cases {
            let r = std::panic::catch_unwind(|| {
                load_onnx("bad.onnx", &bytes, &TraceOptions::default())
            });
            let r = r.unwrap_or_else(|_| panic!("{op} panicked"));
            let e = r
                .err()
                .unwrap_or_else(|| panic!("{op} was accepted"))
                .to_string();
            assert!(e.contains("bad.onnx") && e.contains(op), "{op}: {e}");
        }
    }

    pub(super) fn node(
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<AttributeProto>,
    ) -> NodeProto {
        NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            name: format!("{op}_{output}"),
            op_type: op.into(),
            attribute: attrs,
            domain: String::new(),
        }
    }

    pub(super) fn graph_model(nodes: Vec<NodeProto>, inputs: &[(&str, &[i64])]) -> Vec<u8> {
        encode(GraphProto {
            node: nodes,
            name: "g".into(),
            input: inputs.iter().map(|(n, d)| value(n, d)).collect(),
            ..Default::default()
        })
    }

    fn error_of(bytes: &[u8]) -> String {
        load_onnx("bad.onnx", bytes, &TraceOptions::default())
            .expect_err("refused")
            .to_string()
    }

    /// A graph out of topological order is sorted (it dropped a node before), and costs the same
    /// as the ordered one.
    #[test]
    fn a_graph_out_of_order_is_sorted_not_cut() {
        let relu = node("Relu", &["x"], "a", vec![]);
        let sig = node("Sigmoid", &["a"], "b", vec![]);
        let add = node("Add", &["a", "b"], "y", vec![]);
        let inputs: &[(&str, &[i64])] = &[("x", &[1, 64])];
        let ordered = graph_model(vec![relu.clone(), sig.clone(), add.clone()], inputs);
        let shuffled = graph_model(vec![add, sig, relu], inputs);
        let opts = TraceOptions::default();
        let a = load_onnx("a.onnx", &ordered, &opts).unwrap();
        let b = load_onnx("b.onnx", &shuffled, &opts).unwrap();
        assert_eq!(a.ops.len(), 3);
        assert_eq!(b.ops.len(), 3);
        let names = |t: &Trace| t.ops.iter().map(|o| o.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
    }

    #[test]
    fn cycles_and_values_defined_twice_are_located_errors() {
        let inputs: &[(&str, &[i64])] = &[("x", &[1, 64])];
        let cycle = graph_model(
            vec![
                node("Add", &["x", "b"], "a", vec![]),
                node("Relu", &["a"], "b", vec![]),
            ],
            inputs,
        );
        let e = error_of(&cycle);
        assert!(e.contains("cycle") && e.contains("node `Add_a`"), "{e}");
        let own = graph_model(vec![node("Add", &["x", "a"], "a", vec![])], inputs);
        assert!(error_of(&own).contains("reads its own output `a`"));
        let twice = graph_model(
            vec![
                node("Relu", &["x"], "a", vec![]),
                node("Sigmoid", &["x"], "a", vec![]),
            ],
            inputs,
        );
        let e = error_of(&twice);
        assert!(e.contains("already the output of node #0"), "{e}");
    }

    #[test]
    fn conv_group_and_weight_channels_must_agree() {
        let inputs: &[(&str, &[i64])] = &[("x", &[1, 8, 16, 16]), ("w", &[4, 8, 3, 3])];
        let conv = |attrs| graph_model(vec![node("Conv", &["x", "w"], "y", attrs)], inputs);
        assert!(load_onnx("ok.onnx", &conv(vec![]), &TraceOptions::default()).is_ok());
        let e = error_of(&conv(vec![int("group", 0)]));
        assert!(e.contains("`group` is 0"), "{e}");
        let e = error_of(&conv(vec![int("group", 2)]));
        assert!(e.contains("takes 8 input channels per group"), "{e}");
        let wrong: &[(&str, &[i64])] = &[("x", &[1, 3, 16, 16]), ("w", &[4, 8, 3, 3])];
        let e = error_of(&graph_model(
            vec![node("Conv", &["x", "w"], "y", vec![])],
            wrong,
        ));
        assert!(e.contains("has 3 channels in 1 group"), "{e}");
    }

    #[test]
    fn a_graph_beyond_the_op_cap_is_refused_before_import() {
        assert!(check_node_count("big.onnx", MAX_OPS).is_ok());
        let e = check_node_count("big.onnx", MAX_OPS + 1)
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("big.onnx") && e.contains("more than the 1000000"),
            "{e}"
        );
    }

    #[test]
    fn tile_repeats_are_checked_not_clamped() {
        let tile = |repeats: &[i64]| {
            let mut bytes_graph = GraphProto {
                node: vec![node("Tile", &["x", "r"], "y", vec![])],
                name: "g".into(),
                input: vec![value("x", &[2, 3])],
                ..Default::default()
            };
            bytes_graph.initializer.push(TensorProto {
                name: "r".into(),
                dims: vec![repeats.len() as i64],
                data_type: 7,
                int64_data: repeats.to_vec(),
                ..Default::default()
            });
            ModelProto {
                ir_version: 8,
                graph: Some(bytes_graph),
                opset_import: vec![OperatorSetIdProto {
                    domain: String::new(),
                    version: 13,
                }],
                ..Default::default()
            }
            .encode_to_vec()
        };
        let t = load_onnx("ok.onnx", &tile(&[2, 5]), &TraceOptions::default()).unwrap();
        let out = t.ops[0].outputs[0];
        assert_eq!(t.tensor(out).shape[..], [4, 15]);
        for bad in [&[0i64, 1][..], &[2][..], &[-3, 1][..]] {
            let e = error_of(&tile(bad));
            assert!(e.contains("one positive count per axis"), "{bad:?}: {e}");
        }
    }
}
