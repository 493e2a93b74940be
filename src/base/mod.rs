//! Leaf value types and constants every other layer shares: host paths,
//! policy modes and levels, Kubernetes quantities, and the Longhorn and
//! Talos facts (paths, labels, snippets) that rules and messages cite.
//!
//! Nothing here depends on another module of this crate.

pub mod gojson;
pub mod longhorn;
pub mod modes;
pub mod paths;
pub mod quantity;
pub mod talos;
pub mod upstream;
pub mod yaml;

pub use modes::{AllowedMount, Level, Mode, Propagation};
pub use paths::{HostPath, PathError};
