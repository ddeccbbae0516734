//! Planners shared by every hardware kind: epilogue fusion, the live-range arena planner and the
//! placement of tensors in memory levels by capacity.

pub mod arena;
pub mod fuse;
pub mod place;
