//! longhorn-talos-guard: an admission webhook and offline checks that keep
//! Longhorn's data and privileges right on Talos Linux.
//!
//! Layers, bottom up (each uses only the ones below it):
//! - [`base`]: host paths, modes, quantities, Longhorn and Talos constants;
//! - [`config`]: the configuration file format and the validated [`config::Config`];
//! - [`talos`]: reading and merging Talos machine configs;
//! - [`policy`]: the rules (one file each), their registry, and the renderer of every sentence;
//! - [`admission`]: the AdmissionReview wire format; [`cluster`]: facts from the API server;
//! - [`pipeline`]: decode → facts → rules → verdict → encode;
//! - services: [`tls`] (the certificate store), [`metrics`], [`watch`];
//! - front ends: [`server`], [`check`], [`lint`] (`talos lint`), [`audit`]
//!   (a live cluster, and the background audit), [`source`]
//!   (loading the configuration from files), [`selfmanaged`]; the binary's
//!   `cli` module holds one module per command (and `bench`, a cargo feature).

#![deny(missing_docs)]

pub mod admission;
pub mod audit;
pub mod base;
pub mod catalogue;
pub mod cel;
pub mod cel_sync;
pub mod certs;
pub mod check;
pub mod cluster;
pub mod config;
pub mod host;
pub mod lint;
pub mod metrics;
pub mod pipeline;
pub mod policy;
pub mod preflight;
pub mod selfmanaged;
pub mod server;
pub mod source;
pub mod talos;
pub mod tls;
pub mod watch;
