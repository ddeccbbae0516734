//! Errors of the workload crate. Every variant carries what a user needs to fix the input:
//! the file, the place in it, and what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A syntax or content error at a known place in a text file.
    #[error("{file}:{line}:{col}: {msg}{}", hint_suffix(.hint))]
    Parse {
        file: String,
        line: usize,
        col: usize,
        msg: String,
        hint: String,
    },
    /// A structural problem in a file without line positions (protobuf, JSON field).
    #[error("{file}: {place}: {msg}{}", hint_suffix(.hint))]
    Invalid {
        file: String,
        place: String,
        msg: String,
        hint: String,
    },
    #[error("op `{op}`: {msg}")]
    Shape { op: String, msg: String },
    #[error("{what} overflows 64 bits; the model is too large to cost (check its dimensions)")]
    Overflow { what: String },
    #[error("unknown model `{0}`: not a zoo name (see `vchip zoo`) and not an existing file (.onnx, .vnet/.txt DSL, .csv topology, config.json){1}")]
    UnknownModel(String, String),
    #[error("{file}: cannot cost {} node(s): {list}. Pass --allow-unknown to cost them at zero", .count)]
    UnsupportedOps {
        file: String,
        count: usize,
        list: String,
    },
    #[error("{0}")]
    Option(String),
}

fn hint_suffix(h: &str) -> String {
    if h.is_empty() {
        String::new()
    } else {
        format!(". Fix: {h}")
    }
}

pub type Result<T> = std::result::Result<T, WorkloadError>;
