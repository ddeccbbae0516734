//! vchip-explore: design-space exploration on top of the engine.
//!
//! For: hardware sweeps (grid/random/LHS points, parallel, resumable part files, shards, Pareto
//! fronts) and NAS cost tables (OFA LUTs, HW-NAS-Bench, DyNAS-T, Parquet), written with polars.
//! Not for: costing a network; that is `vchip-sim`'s job, which this crate calls.

pub mod nas_table;
pub mod run_sweep;
pub mod sweep;

pub use run_sweep::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum ExploreError {
    #[error(transparent)]
    Sim(#[from] vchip_sim::SimError),
    #[error(transparent)]
    Hw(#[from] vchip_hwmodels::HwError),
    #[error("{0}")]
    Sweep(String),
    #[error("{0}")]
    Io(String),
}
