//! NAS search spaces as per-op building blocks whose keys match what NAS tools look up:
//! OFA MobileNetV3 (`ofa-mbv3`, OFA's own LUT keys), OFA ResNet-50 (`ofa-resnet50`) and FBNet
//! (`fbnet`, HW-NAS-Bench's keys).

pub mod fbnet;
mod ofa_mbv3;
pub mod ofa_resnet50;

pub use ofa_mbv3::*;
