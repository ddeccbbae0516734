//! Quantized graphs in the QDQ format (what ONNX Runtime's `quantize_static`, Olive and Intel
//! Neural Compressor write by default): integer tensors pass through `DequantizeLinear` into float
//! ops and leave through `QuantizeLinear`. An inference engine does not run those pairs: ONNX
//! Runtime's QDQ transformers fuse `DQ → op → Q` into the integer kernel (QLinearConv, an int8
//! MatMul), the weights' DQ is folded at load, and each tensor between ops is stored quantized
//! (onnxruntime/core/optimizer/qdq_transformer/, "QDQ format" in ONNX Runtime's quantization
//! docs). The importer does the same:
//!
//! - a `DequantizeLinear` of an initializer is the initializer itself: the consuming op reads the
//!   narrow weight (its scale and zero point, a few bytes per channel, are not counted);
//! - a `QuantizeLinear` whose value only `DequantizeLinear`s read, of a tensor an op produced and
//!   only `QuantizeLinear`s read, costs nothing: the producer writes the tensor quantized;
//! - a `DequantizeLinear` of a quantized activation costs nothing: its reader takes the integer
//!   tensor;
//! - an op whose activation inputs are all quantized runs at that precision (`Op::dtype`), and
//!   writes float (what the graph says) unless a folded `QuantizeLinear` makes its output integer.
//!
//! Pairs at the graph's edges stay ops: quantizing the network input, dequantizing an output.

use std::collections::{HashMap, HashSet};

use super::proto::{GraphProto, NodeProto};
use super::{Importer, Val};
use crate::error::Result;
use crate::ir::{DType, TensorRole};

/// Who reads each value, which values leave the graph, and which values are folded
/// dequantizations of activations (an op reading only those runs quantized).
pub(super) struct Readers<'g> {
    by_value: HashMap<&'g str, Vec<&'g NodeProto>>,
    outputs: HashSet<&'g str>,
    dequantized: HashSet<&'g str>,
}

impl<'g> Readers<'g> {
    pub(super) fn of(graph: &'g GraphProto) -> Readers<'g> {
        let mut by_value: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for n in &graph.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                by_value.entry(i.as_str()).or_default().push(n);
            }
        }
        Readers {
            by_value,
            outputs: graph.output.iter().map(|o| o.name.as_str()).collect(),
            dequantized: HashSet::new(),
        }
    }

    /// Whether `value` is read, only by `op_type` nodes, and is not a graph output.
    fn only_read_by(&self, value: &str, op_type: &str) -> bool {
        !self.outputs.contains(value)
            && self
                .by_value
                .get(value)
                .is_some_and(|r| !r.is_empty() && r.iter().all(|n| n.op_type == op_type))
    }
}

/// Precisions a quantized activation is stored in.
pub(super) fn is_quantized(d: DType) -> bool {
    matches!(d, DType::Int8 | DType::Int4)
}

impl Importer<'_> {
    /// Absorbs `n` when it is a Q or DQ node an engine folds away (see the module notes): its
    /// output becomes another name for its input. Returns whether it was absorbed.
    pub(super) fn absorb_qdq<'g>(
        &mut self,
        n: &'g NodeProto,
        readers: &mut Readers<'g>,
    ) -> Result<bool> {
        let standard = n.domain.is_empty() || n.domain == "ai.onnx";
        let (Some(input), Some(output)) = (n.input.first(), n.output.first()) else {
            return Ok(false);
        };
        if !standard
            || input.is_empty()
            || output.is_empty()
            || readers.outputs.contains(output.as_str())
        {
            return Ok(false);
        }
        match (n.op_type.as_str(), self.vals.get(input.as_str()).cloned()) {
            ("DequantizeLinear", Some(Val::Param { shape, dtype, id })) => {
                let id = match id {
                    Some(id) => id,
                    None => match self.param_id(input, TensorRole::Weight)? {
                        Some(id) => id,
                        None => return Ok(false),
                    },
                };
                self.vals.insert(
                    output.clone(),
                    Val::Param {
                        shape,
                        dtype,
                        id: Some(id),
                    },
                );
                Ok(true)
            }
            // A small integer initializer (an int32 bias) is kept as a folding constant; read
            // through a DQ it is a parameter.
            ("DequantizeLinear", Some(Val::Const { shape, dtype, .. })) if !shape.is_empty() => {
                let id = self
                    .b
                    .add_tensor(input.clone(), &shape, dtype, TensorRole::Weight)?;
                self.vals.insert(
                    output.clone(),
                    Val::Param {
                        shape,
                        dtype,
                        id: Some(id),
                    },
                );
                Ok(true)
            }
            ("DequantizeLinear", Some(Val::Act(id))) if is_quantized(self.b.tensor(id).dtype) => {
                self.vals.insert(output.clone(), Val::Act(id));
                readers.dequantized.insert(output.as_str());
                Ok(true)
            }
            ("QuantizeLinear", Some(Val::Act(id)))
                if self.b.tensor(id).role == TensorRole::Activation
                    && readers.only_read_by(input, "QuantizeLinear")
                    && readers.only_read_by(output, "DequantizeLinear") =>
            {
                // The zero point's type, else the output_dtype attribute, else uint8 (the spec's
                // default): either way 8 bits unless int4.
                let quantized = match n.input.get(2).and_then(|z| self.vals.get(z.as_str())) {
                    Some(Val::Param { dtype, .. } | Val::Const { dtype, .. })
                        if is_quantized(*dtype) =>
                    {
                        *dtype
                    }
                    _ => match n.attribute.iter().find(|a| a.name == "output_dtype") {
                        Some(a) if matches!(a.i, 21 | 22) => DType::Int4,
                        _ => DType::Int8,
                    },
                };
                self.b.set_dtype(id, quantized);
                self.vals.insert(output.clone(), Val::Act(id));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The precision `n` runs at when every activation it reads is a folded dequantization of a
    /// quantized tensor (a graph that is integer by its own types keeps its ops as they are).
    pub(super) fn quantized_inputs(&self, n: &NodeProto, readers: &Readers) -> Option<DType> {
        let mut acts = n
            .input
            .iter()
            .filter_map(|i| match self.vals.get(i.as_str()) {
                Some(Val::Act(id)) => Some((i, self.b.tensor(*id).dtype)),
                _ => None,
            })
            .peekable();
        acts.peek()?;
        let mut widest = DType::Int4;
        for (name, d) in acts {
            if !is_quantized(d) || !readers.dequantized.contains(name.as_str()) {
                return None;
            }
            if d == DType::Int8 {
                widest = DType::Int8;
            }
        }
        Some(widest)
    }

    /// Marks the ops built for `n` (from op index `first_op` on) as running at `dtype`; their
    /// outputs are float as the graph types them (a folded QuantizeLinear narrows them later).
    pub(super) fn run_quantized(&mut self, n: &NodeProto, first_op: usize, dtype: DType) {
        self.b.set_op_dtypes_since(first_op, dtype);
        // Integer operators (QOperator format) and the Q/DQ ops themselves write what the graph
        // types them as.
        if matches!(
            n.op_type.as_str(),
            "QLinearConv"
                | "QLinearMatMul"
                | "ConvInteger"
                | "MatMulInteger"
                | "QuantizeLinear"
                | "DequantizeLinear"
                | "DynamicQuantizeLinear"
        ) {
            return;
        }
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if let Some(Val::Act(id)) = self.vals.get(o.as_str()) {
                let id = *id;
                if self.b.outputs_since(first_op).any(|t| t == id)
                    && is_quantized(self.b.tensor(id).dtype)
                {
                    self.b.set_dtype(id, DType::F32);
                }
            }
        }
    }
}
