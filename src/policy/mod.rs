//! Policies.
pub mod paths;
