//! Table tests of the rules through [`crate::policy::evaluate`], as the
//! registry runs them (modes, ratcheting, exemptions, messages).

mod configmap;
mod default_disks;
mod disk;
mod namespace;
mod pod;
