//! ONNX front-end (in progress).
use crate::error::{Result, WorkloadError};
use crate::ir::Trace;
use crate::zoo::TraceOptions;

pub fn load_onnx(file: &str, _bytes: &[u8], _opts: &TraceOptions) -> Result<Trace> {
    Err(WorkloadError::Option(format!("{file}: ONNX import is not implemented yet")))
}
