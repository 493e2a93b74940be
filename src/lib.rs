//! longhorn-talos-guard: an admission webhook and offline checks that keep
//! Longhorn's data and privileges right on Talos Linux.

pub mod config;
pub mod policy;
pub mod quantity;
pub mod talos;
