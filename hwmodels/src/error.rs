//! Errors of hardware descriptions and models.

#[derive(Debug, thiserror::Error)]
pub enum HwError {
    #[error("{file}: {msg}")]
    Yaml { file: String, msg: String },
    #[error("{file}: key `{key}`: {msg}")]
    Invalid {
        file: String,
        key: String,
        msg: String,
    },
    #[error("{file}:{line}: {msg}. Fix: {hint}")]
    Cfg {
        file: String,
        line: usize,
        msg: String,
        hint: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown hardware `{0}`: not a preset (see `vchip hw list`) and not an existing .yaml/.cfg file{1}")]
    UnknownHardware(String, String),
    #[error("op `{op}`: {msg}")]
    Op { op: String, msg: String },
}
