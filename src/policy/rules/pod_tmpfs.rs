//! LTG-W031: a pod of the Longhorn namespace with a host path on `/tmp`,
//! `/system` or `/dev/shm`: tmpfs on Talos, so whatever it keeps there is
//! gone at the next reboot, with no error. Warns by default. (`/run` is
//! tmpfs too but holds sockets and runtime state by design: not flagged.)

use crate::base::{HostPath, Mode};
use crate::config::Config;
use crate::host::{self, Place};
use crate::policy::disks::containing_mount;
use crate::policy::rule::{Outcome, Rule, no_facts, nobody};
use crate::policy::writes::{POD_KINDS, pod_mounts, pod_under_review};
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

fn check(req: &Request<'_>, cfg: &Config, _: &Facts) -> Outcome {
    let mut out = Outcome::default();
    let Some(pod) = pod_under_review(req, cfg) else {
        return out;
    };
    let mounts = pod_mounts(pod.spec, cfg);
    for (i, volume) in pod.spec.volumes.iter().enumerate() {
        if pod.had(volume) {
            continue;
        }
        let Some(hp) = &volume.host_path else {
            continue;
        };
        let Ok(path) = HostPath::parse(&hp.path) else {
            continue;
        };
        if containing_mount(&path, &mounts).is_some() {
            continue;
        }
        if let Place::Tmpfs { mount } = host::classify(&path, cfg.host.as_ref())
            && matches!(mount, "/tmp" | "/system" | "/dev/shm")
        {
            out.violations.push(Violation {
                preexisting: false,
                field: format!("spec.volumes[{i}].hostPath.path"),
                value: hp.path.to_string(),
                problem: Problem::PodTmpfs {
                    owner: pod.owner,
                    namespace: pod.namespace.to_string(),
                    pod: pod.name.to_string(),
                    volume: volume.name.to_string(),
                    path: hp.path.to_string(),
                    mount,
                },
            });
        }
    }
    out
}
