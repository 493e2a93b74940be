//! End to end, self-managed certificates: two guards run out of cluster with
//! a kubeconfig in `--cert-mode self-managed` against the shipped webhook
//! configurations (a `url` in place of the Service, an empty caBundle). They
//! must agree on one Secret, write its CA into the caBundle, serve admission
//! through it, and survive renewals and CA rotations under kubectl traffic.

mod common;

#[allow(dead_code)]
#[path = "e2e/controlplane.rs"]
mod controlplane;
#[allow(dead_code)]
#[path = "e2e/guard.rs"]
mod guard;
#[allow(dead_code)]
#[path = "e2e/kubectl.rs"]
mod kubectl;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Proto;
use controlplane::{ControlPlane, free_port, wait};
use guard::Guard;
use kubectl::Kubectl;

const NS: &str = "longhorn-talos-guard";
const SECRET: &str = "longhorn-talos-guard-tls";

/// A Secret key's value, decoded.
fn secret_key(k: &Kubectl, key: &str) -> Option<String> {
    let escaped = key.replace('.', "\\.");
    let run = k.run(&[
        "get",
        "secret",
        "-n",
        NS,
        SECRET,
        "-o",
        &format!("jsonpath={{.data.{escaped}}}"),
    ]);
    if !run.success || run.stdout.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(run.stdout.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The caBundle of every webhook of both configurations.
fn ca_bundles(k: &Kubectl) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [
        "mutatingwebhookconfiguration",
        "validatingwebhookconfiguration",
    ] {
        let run = k.run(&[
            "get",
            kind,
            "longhorn-talos-guard",
            "-o",
            "jsonpath={.webhooks[*].clientConfig.caBundle}",
        ]);
        for b in run.stdout.split_whitespace() {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            out.push(String::from_utf8(pem).unwrap_or_default());
        }
    }
    out
}

fn guard_args(port: u16) -> Vec<String> {
    [
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--cert-mode",
        "self-managed",
        "--namespace",
        NS,
        "--san",
        "127.0.0.1",
        "--san",
        "localhost",
        "--secret-poll-seconds",
        "1",
        // Short lives, so that renewals and a CA rotation happen within the test.
        "--cert-validity-seconds",
        "24",
        "--cert-renew-before-seconds",
        "16",
        "--ca-validity-seconds",
        "60",
        "--ca-renew-before-seconds",
        "42",
        "--ca-overlap-seconds",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Applies the guard's namespace and least-privilege RBAC, as shipped, and
/// returns a kubeconfig with a token of the shipped ServiceAccount: the
/// guards run with it, so RBAC is tested too.
fn shipped_identity(cp: &ControlPlane) -> std::path::PathBuf {
    let k = cp.kubectl.clone();
    let base = guard::manifests_base();
    for file in ["namespace.yaml", "rbac.yaml"] {
        k.run(&["apply", "-f", &base.join(file).to_string_lossy()])
            .ok();
    }
    let token = k
        .run(&[
            "create",
            "token",
            "longhorn-talos-guard",
            "-n",
            NS,
            "--duration",
            "2h",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let admin = std::fs::read_to_string(&cp.kubeconfig).unwrap();
    let sa_kubeconfig = cp.dir.path().join("guard-sa.kubeconfig");
    let replaced: Vec<String> = admin
        .lines()
        .map(|l| match l.find("token: ") {
            Some(i) => format!("{}token: {token}", &l[..i]),
            None => l.to_string(),
        })
        .collect();
    assert!(
        admin.contains("token: "),
        "the admin kubeconfig authenticates with a token"
    );
    std::fs::write(&sa_kubeconfig, replaced.join("\n")).unwrap();
    let as_guard = |args: &[&str]| {
        let mut full = vec!["--kubeconfig", sa_kubeconfig.to_str().unwrap()];
        full.extend_from_slice(args);
        k.run(&full)
    };
    assert!(
        !as_guard(&["get", "secrets", "-n", "kube-system"]).success,
        "the ServiceAccount cannot list Secrets"
    );
    sa_kubeconfig
}

#[test]
fn self_managed_certificates_against_kube_apiserver() {
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    let sa_kubeconfig = shipped_identity(&cp);

    // The shipped webhooks, pointed at the first guard's port, with no caBundle.
    let (p1, p2) = (free_port(), free_port());
    let list = guard::webhook_list(&k, &format!("127.0.0.1:{p1}"), b"");
    k.with_manifest(&["apply"], &list.to_string()).ok();
    assert!(
        ca_bundles(&k).iter().all(String::is_empty),
        "starts without a caBundle"
    );

    // Two guards at once: the API server settles who creates the Secret.
    let logs = cp.log_dir();
    let (a1, a2) = (guard_args(p1), guard_args(p2));
    let (kc1, kc2, l1, l2) = (
        sa_kubeconfig.clone(),
        sa_kubeconfig.clone(),
        logs.clone(),
        logs.clone(),
    );
    let g1 = std::thread::spawn(move || {
        let args: Vec<&str> = a1.iter().map(String::as_str).collect();
        Guard::start_with("guard-1", &args, &kc1, &l1)
    });
    let g2 = std::thread::spawn(move || {
        let args: Vec<&str> = a2.iter().map(String::as_str).collect();
        Guard::start_with("guard-2", &args, &kc2, &l2)
    });
    let (g1, g2) = (g1.join().unwrap(), g2.join().unwrap());

    // One CA, written into every webhook's caBundle.
    wait(
        "the caBundle to be written",
        Duration::from_secs(20),
        || {
            let bundle = secret_key(&k, "ca.crt");
            let written = ca_bundles(&k);
            // One mutating and seven validating webhooks, each with the Secret's bundle.
            bundle.is_some()
                && written.len() == 8
                && written.iter().all(|b| Some(b) == bundle.as_ref())
        },
    );
    let bundle = secret_key(&k, "ca.crt").unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1, "one CA");

    // Both guards serve a certificate that chains to it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    for g in [&g1, &g2] {
        let answer = rt
            .block_on(common::https(
                g.addr,
                bundle.as_bytes(),
                Proto::Http1,
                "GET",
                "/readyz",
                vec![],
            ))
            .unwrap_or_else(|e| {
                panic!("guard at {} does not chain to the Secret's CA: {e}", g.addr)
            });
        assert_eq!(answer.status, 200);
    }

    // Admission works through the caBundle the guard wrote.
    wait("the webhooks to answer", Duration::from_secs(20), || {
        let r = k.run(&["create", "namespace", "longhorn-system"]);
        r.success
    });
    let labels = k
        .run(&[
            "get",
            "namespace",
            "longhorn-system",
            "-o",
            "jsonpath={.metadata.labels}",
        ])
        .ok();
    assert!(
        labels
            .stdout
            .contains("\"pod-security.kubernetes.io/enforce\":\"privileged\""),
        "{}",
        labels.stdout
    );

    // Traffic while certificates renew (every ~8 s) and the CA rotates (every ~18 s).
    let baseline = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: longhorn-system\n  labels:\n    pod-security.kubernetes.io/enforce: baseline\n";
    let denied = "admission webhook \"namespaces.longhorn-talos-guard.io\" denied the request";
    let (mut calls, mut failures) = (0, Vec::new());
    let (mut certs_seen, mut cas_seen) = (BTreeSet::new(), BTreeSet::new());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        let r = k.with_manifest(&["apply", "--dry-run=server"], baseline);
        calls += 1;
        if r.success || !r.stderr.contains(denied) {
            failures.push(r.to_string());
        }
        let r = k.run(&[
            "label",
            "--overwrite",
            "namespace",
            "longhorn-system",
            &format!("e2e/call={calls}"),
        ]);
        calls += 1;
        if !r.success {
            failures.push(r.to_string());
        }
        certs_seen.extend(secret_key(&k, "tls.crt"));
        cas_seen.extend(secret_key(&k, "ca-signing.crt"));
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls failed; first: {}\n{}",
        failures.len(),
        failures[0],
        g1.proc.log_tail(30)
    );
    assert!(
        certs_seen.len() >= 3,
        "{} serving certificates seen",
        certs_seen.len()
    );
    assert!(
        cas_seen.len() >= 2,
        "{} CAs seen: no rotation happened",
        cas_seen.len()
    );

    // After it all, both guards still serve certificates the current caBundle trusts.
    let bundle = secret_key(&k, "ca.crt").unwrap();
    for g in [&g1, &g2] {
        wait(
            "each guard to serve a trusted certificate",
            Duration::from_secs(10),
            || {
                rt.block_on(common::https(
                    g.addr,
                    bundle.as_bytes(),
                    Proto::Http1,
                    "GET",
                    "/readyz",
                    vec![],
                ))
                .is_ok()
            },
        );
    }
    let log = g1.proc.log() + &g2.proc.log();
    assert!(
        log.contains("rotated the CA"),
        "a guard logged the CA rotation"
    );
    assert!(
        log.contains("renewed the serving certificate")
            || log.contains("moved the serving certificate")
    );
}

#[test]
fn break_glass_reapplied_configurations_get_the_ca_bundle_at_once() {
    // One guard whose Secret poll (60 s) is far longer than the test allows
    // for the caBundle to come back: only the watch on the configurations
    // can write it in time.
    let assets = controlplane::assets();
    let cp = ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    let sa_kubeconfig = shipped_identity(&cp);
    let port = free_port();
    let list = guard::webhook_list(&k, &format!("127.0.0.1:{port}"), b"").to_string();
    k.with_manifest(&["apply"], &list).ok();
    let mut args = guard_args(port);
    let poll = args
        .iter()
        .position(|a| a == "--secret-poll-seconds")
        .expect("guard_args sets the poll");
    args[poll + 1] = "60".into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let g = Guard::start_with("guard-break-glass", &args, &sa_kubeconfig, &cp.log_dir());
    let written = |k: &Kubectl| {
        let bundle = secret_key(k, "ca.crt");
        let written = ca_bundles(k);
        bundle.is_some() && written.len() == 8 && written.iter().all(|b| Some(b) == bundle.as_ref())
    };
    wait("the first caBundle", Duration::from_secs(20), || {
        written(&k)
    });

    // Break-glass: both configurations deleted, then applied again as shipped
    // (no caBundle), all within one Secret poll.
    for kind in [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ] {
        k.run(&["delete", kind, "longhorn-talos-guard"]).ok();
    }
    let applied = Instant::now();
    k.with_manifest(&["apply"], &list).ok();
    let start = Instant::now();
    while !written(&k) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the re-applied configurations still lack the caBundle after 5 s (bundles: {:?})\n{}",
            ca_bundles(&k).iter().map(String::len).collect::<Vec<_>>(),
            g.proc.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = applied.elapsed();
    eprintln!(
        "e2e: caBundle back {:.1} s after the re-apply",
        took.as_secs_f64()
    );

    // The fail-closed namespace webhooks answer through it at once.
    let created = k.run(&["create", "namespace", "longhorn-system"]);
    assert!(created.success, "{created}\n{}", g.proc.log_tail(30));
    let labels = k
        .run(&[
            "get",
            "namespace",
            "longhorn-system",
            "-o",
            "jsonpath={.metadata.labels}",
        ])
        .ok();
    assert!(
        labels
            .stdout
            .contains("\"pod-security.kubernetes.io/enforce\":\"privileged\""),
        "{}",
        labels.stdout
    );
}
