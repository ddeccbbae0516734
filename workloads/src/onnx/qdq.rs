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
//! - a `QuantizeLinear` that is the one reader of a tensor an op produced (not an alias such as
//!   an Identity's output), whose value only `DequantizeLinear`s read, costs nothing: the
//!   producer writes the tensor quantized (to int8/uint8/int4/uint4; other targets stay ops);
//! - a `DequantizeLinear` of a quantized activation costs nothing: its reader takes the integer
//!   tensor;
//! - an op whose activation inputs are all folded dequantizations runs at their precision
//!   (`Op::dtype`); every op's outputs keep the types the graph gives them (a folded DQ is float
//!   to its readers), unless a folded `QuantizeLinear` makes them integer.
//!
//! Pairs at the graph's edges stay ops: quantizing the network input, dequantizing an output.

use std::collections::{HashMap, HashSet};

use super::proto::{GraphProto, NodeProto};
use super::{Importer, Val};
use crate::error::Result;
use crate::ir::{DType, TensorRole};

/// Who reads and who writes each value, and which values leave the graph.
pub(super) struct Readers<'g> {
    by_value: HashMap<&'g str, Vec<&'g NodeProto>>,
    producer: HashMap<&'g str, &'g NodeProto>,
    outputs: HashSet<&'g str>,
}

impl<'g> Readers<'g> {
    pub(super) fn of(graph: &'g GraphProto) -> Readers<'g> {
        let mut by_value: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        let mut producer = HashMap::new();
        for n in &graph.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                by_value.entry(i.as_str()).or_default().push(n);
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.as_str(), n);
            }
        }
        Readers {
            by_value,
            producer,
            outputs: graph.output.iter().map(|o| o.name.as_str()).collect(),
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

    /// Whether `value` is read by exactly one node and is not a graph output.
    fn read_once(&self, value: &str) -> bool {
        !self.outputs.contains(value) && self.by_value.get(value).is_some_and(|r| r.len() == 1)
    }

    /// Whether `value` is written by a node that passes another value on under a new name (the
    /// tensor behind it may have other readers).
    fn is_alias(&self, value: &str) -> bool {
        self.producer.get(value).is_some_and(|n| {
            matches!(
                n.op_type.as_str(),
                "Identity" | "Dropout" | "Optional" | "OptionalGetElement"
            )
        })
    }
}

/// Precisions a quantized activation is stored in.
pub(super) fn is_quantized(d: DType) -> bool {
    matches!(d, DType::Int8 | DType::Int4)
}

impl Importer<'_> {
    /// Absorbs `n` when it is a Q or DQ node an engine folds away (see the module notes): its
    /// output becomes another name for its input. Returns whether it was absorbed.
    pub(super) fn absorb_qdq(&mut self, n: &NodeProto, readers: &Readers) -> Result<bool> {
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
        // What the graph types a DequantizeLinear's output as: its scale's type (f32 or f16).
        let float = match n.input.get(1).and_then(|s| self.vals.get(s.as_str())) {
            Some(Val::Param { dtype, .. } | Val::Const { dtype, .. })
                if matches!(dtype, DType::F32 | DType::F16 | DType::Bf16) =>
            {
                *dtype
            }
            _ => DType::F32,
        };
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
                self.dequantized.insert(output.clone(), float);
                Ok(true)
            }
            // A small integer initializer (an int32 bias) is kept as a folding constant; read
            // through a DQ it is a parameter, one tensor however many DQs read it.
            ("DequantizeLinear", Some(Val::Const { shape, dtype, .. })) if !shape.is_empty() => {
                let id = self
                    .b
                    .add_tensor(input.clone(), &shape, dtype, TensorRole::Weight)?;
                let param = Val::Param {
                    shape,
                    dtype,
                    id: Some(id),
                };
                self.vals.insert(input.clone(), param.clone());
                self.vals.insert(output.clone(), param);
                self.dequantized.insert(output.clone(), float);
                Ok(true)
            }
            ("DequantizeLinear", Some(Val::Act(id))) if is_quantized(self.b.tensor(id).dtype) => {
                self.vals.insert(output.clone(), Val::Act(id));
                self.dequantized.insert(output.clone(), float);
                Ok(true)
            }
            ("QuantizeLinear", Some(Val::Act(id)))
                if self.b.tensor(id).role == TensorRole::Activation
                    && readers.read_once(input)
                    && !readers.is_alias(input)
                    && readers.only_read_by(output, "DequantizeLinear") =>
            {
                // Only to types vchip stores: the zero point's (int8/uint8/int4/uint4), else
                // the output_dtype attribute's, else uint8 (the spec's default).
                let zero_point = n.input.get(2).filter(|z| !z.is_empty());
                let quantized = match zero_point.map(|z| self.vals.get(z.as_str())) {
                    Some(Some(Val::Param { dtype, .. } | Val::Const { dtype, .. }))
                        if is_quantized(*dtype) =>
                    {
                        *dtype
                    }
                    Some(_) => return Ok(false),
                    None => match n.attribute.iter().find(|a| a.name == "output_dtype") {
                        None => DType::Int8,
                        Some(a) if a.i == 0 || matches!(a.i, 2 | 3) => DType::Int8,
                        Some(a) if matches!(a.i, 21 | 22) => DType::Int4,
                        Some(_) => return Ok(false),
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
    pub(super) fn quantized_inputs(&self, n: &NodeProto) -> Option<DType> {
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
            if !is_quantized(d) || !self.dequantized.contains_key(name.as_str()) {
                return None;
            }
            if d == DType::Int8 {
                widest = DType::Int8;
            }
        }
        Some(widest)
    }
}
