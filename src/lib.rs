//! longhorn-talos-guard: an admission webhook and offline checks that keep
//! Longhorn's data and privileges right on Talos Linux.
//!
//! The policies in [`policy`] are pure; [`admission`] maps them to the
//! AdmissionReview wire format; [`server`] serves them over HTTPS; [`talos`]
//! reads Talos machine configs for the offline checks.

pub mod admission;
pub mod certs;
pub mod check;
pub mod cluster;
pub mod config;
pub mod metrics;
pub mod policy;
pub mod quantity;
pub mod selfmanaged;
pub mod server;
pub mod talos;
pub mod tls;
pub mod watch;
