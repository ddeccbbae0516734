//! The compact network DSL: `parse` turns text into an AST, `eval` runs it through the trace builder.

mod eval;
pub mod parse;

use std::collections::HashMap;

use crate::error::{Result, WorkloadError};
use crate::ir::Trace;

pub use eval::{MAX_CALL_DEPTH, MAX_OPS};

/// Parses and evaluates DSL source. `vars` pre-binds variables such as `batch` and `seq`
/// (they win over `let` in the source).
pub fn parse_dsl(file: &str, src: &str, vars: HashMap<String, i64>) -> Result<Trace> {
    let stmts = parse::parse_program(src).map_err(|(pos, msg)| {
        let (line, col) = parse::line_col(src, pos);
        WorkloadError::Parse {
            file: file.to_string(),
            line,
            col,
            msg: format!("syntax error: {msg}"),
            hint: "see the DSL grammar in docs/dsl.md".into(),
        }
    })?;
    let stem = std::path::Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("network");
    eval::Evaluator::new(file, src, vars).run(&stmts, stem)
}
