//! One module per subcommand; `args` holds what several share, with the one loader of hardware and
//! models.

pub mod args;
pub mod hw;
pub mod merge;
pub mod simulate;
pub mod sweep;
pub mod table;
pub mod trace;
pub mod validate;
