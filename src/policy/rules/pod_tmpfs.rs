//! LTG-W031: a pod of the Longhorn namespace with a host path on `/tmp`,
//! `/system` or `/dev/shm`: tmpfs on Talos, so whatever it keeps there is
//! gone at the next reboot, with no error. Warns by default. (`/run` is
//! tmpfs too but holds sockets and runtime state by design: not flagged.)

use crate::base::Mode;
use crate::config::Config;
use crate::host::Place;
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::writes::{POD_KINDS, Writes};
use crate::policy::{Facts, Operation, Phase, Problem, Request, Violation};

/// The rule.
pub static RULE: Rule = Rule {
    id: "LTG-W031",
    group: "podHostPaths",
    default_mode: Mode::Warn,
    summary: "Longhorn pods keep no host path data on a tmpfs that a reboot empties",
    phase: Phase::Validate,
    kinds: POD_KINDS,
    operations: &[Operation::Create, Operation::Update],
    warn_only: nobody,
    facts: no_facts,
    check,
};

fn check(_: &Request<'_>, _: &Config, _: &Facts, writes: &Writes<'_>) -> Outcome {
    let mut out = Outcome::default();
    let Some(pod) = &writes.pod else {
        return out;
    };
    for v in &pod.volumes {
        if let Some(Place::Tmpfs { mount }) = v.place
            && matches!(mount, "/tmp" | "/system" | "/dev/shm")
        {
            out.violations.push(Violation {
                preexisting: false,
                field: format!("spec.volumes[{}].hostPath.path", v.index),
                value: v.raw.to_string(),
                problem: Problem::PodTmpfs {
                    owner: pod.owner,
                    namespace: pod.namespace.to_string(),
                    pod: pod.name.to_string(),
                    volume: v.volume.name.to_string(),
                    path: v.raw.to_string(),
                    mount,
                },
            });
        }
    }
    out
}
