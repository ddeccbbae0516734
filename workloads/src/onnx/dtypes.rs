//! Output dtypes as ONNX defines them: the builder gives every op output the activation dtype;
//! after a node is built its outputs get the type the ONNX spec says (the input's for most ops,
//! bool for comparisons, int64 for indices and shapes, `to` for Cast, the zero point's for
//! QuantizeLinear), so a trace of an int8 or fp16 graph carries its real element sizes.

use super::proto::NodeProto;
use super::{dtype_of, Importer, Val};
use crate::ir::DType;

/// ONNX element types (TensorProto.DataType).
const ONNX_FLOAT: i32 = 1;
const ONNX_UINT8: i32 = 2;

impl Importer<'_> {
    /// The dtype an input value carries, if it is defined.
    fn value_dtype(&self, name: &str) -> Option<DType> {
        // A folded dequantization is float to the graph, whatever narrow tensor stands behind it.
        if let Some(d) = self.dequantized.get(name) {
            return Some(*d);
        }
        match self.vals.get(name)? {
            Val::Act(id) => Some(self.b.tensor(*id).dtype),
            Val::Param { dtype, .. } | Val::Const { dtype, .. } => Some(*dtype),
        }
    }

    fn input_dtype(&self, n: &NodeProto, i: usize) -> Option<DType> {
        n.input
            .get(i)
            .filter(|s| !s.is_empty())
            .and_then(|s| self.value_dtype(s))
    }

    /// Sets the dtype of each output of `n` that the ops built for it (those from op index
    /// `first_op` on) produced; a value passed on unchanged (a no-op node) keeps its type.
    pub(super) fn fix_output_dtypes(&mut self, n: &NodeProto, first_op: usize) {
        let int = DType::Int64; // vchip's class for every index-like type, bool included
        let attr = |name: &str| n.attribute.iter().find(|a| a.name == name).map(|a| a.i);
        let first = self.input_dtype(n, 0);
        let out0: Option<DType> = match n.op_type.as_str() {
            "Equal" | "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "And" | "Or"
            | "Xor" | "Not" | "IsNaN" | "IsInf" | "Shape" | "Size" | "ArgMax" | "ArgMin"
            | "NonZero" | "NonMaxSuppression" | "MatMulInteger" | "ConvInteger" => Some(int),
            "Cast" => attr("to").map(|t| dtype_of(t as i32)),
            "CastLike" => self.input_dtype(n, 1),
            "Where" => self.input_dtype(n, 1),
            "OneHot" => self.input_dtype(n, 2),
            "QuantizeLinear" | "DynamicQuantizeLinear" => Some(
                self.input_dtype(n, 2)
                    .filter(|_| n.op_type == "QuantizeLinear")
                    .unwrap_or_else(|| {
                        dtype_of(attr("output_dtype").map_or(ONNX_UINT8, |t| t as i32))
                    }),
            ),
            "QLinearConv" | "QLinearMatMul" => self.input_dtype(n, 7),
            "DequantizeLinear" => self.input_dtype(n, 1).or(Some(DType::F32)),
            "BlackmanWindow" | "HammingWindow" | "HannWindow" => Some(dtype_of(
                attr("output_datatype").map_or(ONNX_FLOAT, |t| t as i32),
            )),
            "ConstantOfShape" | "EyeLike" | "RandomNormal" | "RandomUniform"
            | "RandomNormalLike" | "RandomUniformLike" | "Multinomial" => attr("dtype")
                .map(|t| dtype_of(t as i32))
                .or_else(|| {
                    n.attribute
                        .iter()
                        .find(|a| a.name == "value")
                        .and_then(|a| a.t.as_ref())
                        .map(|t| dtype_of(t.data_type))
                })
                .or(match n.op_type.as_str() {
                    "EyeLike" | "RandomNormalLike" | "RandomUniformLike" => first,
                    _ => Some(dtype_of(ONNX_FLOAT)),
                }),
            _ => first,
        };
        for (k, name) in n.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let dtype = match (n.op_type.as_str(), k) {
                (_, 0) => out0,
                // Indices beside values; masks; DynamicQuantizeLinear's scale and zero point.
                ("TopK" | "MaxPool" | "Unique", _) => Some(int),
                ("Dropout", 1) => Some(int),
                ("DynamicQuantizeLinear", 1) => Some(DType::F32),
                ("DynamicQuantizeLinear", 2) => out0,
                // LayerNormalization's mean and inverse deviation are in its stash type (f32).
                ("LayerNormalization", _) => Some(DType::F32),
                _ => first,
            };
            if let (Some(dtype), Some(Val::Act(id))) = (dtype, self.vals.get(name.as_str())) {
                let id = *id;
                if self.b.outputs_since(first_op).any(|t| t == id) {
                    self.b.set_dtype(id, dtype);
                }
            }
        }
    }
}
