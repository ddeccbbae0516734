//! vchip: a hardware simulator and co-design modeling tool.
//!
//! A thin facade over the workspace crates, in the order data flows:
//! [`workloads`] (networks → operator traces) → [`sim`] (+ [`hwmodels`]) → results → [`validate`].

pub mod batch;
pub mod cmd;
pub mod frames;
pub mod plot;
pub mod report;
pub mod scalesim_report;
pub mod session;
pub mod validation_report;

pub use vchip_explore as explore;
pub use vchip_hwmodels as hwmodels;
pub use vchip_sim as sim;
pub use vchip_validate as validate;
pub use vchip_workloads as workloads;
