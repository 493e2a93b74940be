//! `talos preflight` against a Talos API test double built from Talos's own
//! code (tests/talos-fake/: the COSI state gRPC server of cosi-project/runtime
//! v1.16.2 over in-memory state holding siderolabs/talos pkg/machinery v1.14.1
//! resource types, certificates from Talos's secrets code). Each scenario seeds
//! the node's resources with the YAML `talosctl get -o yaml` prints, every
//! value with its source next to it, and snapshots the whole report and the
//! exit status.

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
#[path = "talos-fake/harness.rs"]
mod talos_fake;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{Value, json};
use talos_fake::TalosFake;

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

/// Runs `tests/<dir>/build.sh` and returns the binary it prints last; Go is
/// needed to build `what`, and the test fails without it (it never skips).
fn built(dir: &str, what: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests").join(dir).join("build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "tests/{dir}/build.sh failed (Go is needed to build {what}; this test does not skip)"
    );
    PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("build.sh prints the binary's path"),
    )
}

/// A running double (tests/talos-fake/harness.rs); it stops on drop.
struct Fake {
    inner: TalosFake,
}

impl Fake {
    fn start(nodes: Vec<Value>) -> Fake {
        Fake::start_bare(nodes, &[])
    }

    /// As [`Fake::start`], the contexts in `bare` written without nodes.
    fn start_bare(nodes: Vec<Value>, bare: &[&str]) -> Fake {
        let scenario = json!({
            "bare": bare,
            "context": "reader",
            "contexts": {"reader": ["os:reader"], "admin": ["os:admin"], "operator": ["os:operator"], "etcd-backup": ["os:etcd:backup"], "in-cluster": ["os:reader"]},
            "nodes": nodes,
        });
        Fake {
            inner: TalosFake::start(&scenario),
        }
    }

    fn talosconfig(&self) -> PathBuf {
        self.inner.talosconfig()
    }

    /// Runs `talos preflight --talosconfig <its config> ARGS`: (status, stdout, stderr).
    fn preflight(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .args(["talos", "preflight", "--talosconfig"])
            .arg(self.talosconfig())
            .args(args)
            .env_remove("TALOSCONFIG")
            .output()
            .expect("run the binary");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn resource(r#type: &str, id: &str, spec: &str) -> Value {
    json!({"type": r#type, "id": id, "spec": spec})
}

// --- Seeds, each with its source. ---

/// `Versions` spec: the field `version` (pkg/machinery resources/runtime/version.go, v1.14.1).
fn version(tag: &str) -> Value {
    resource(
        "Versions.runtime.talos.dev",
        "version",
        &format!("version: {tag}\n"),
    )
}

/// iscsi-tools' manifest: siderolabs/extensions storage/iscsi-tools/manifest.yaml.tmpl and
/// vars.yaml (VERSION v0.2.0) at v1.14.0-rc.1; the ExtensionStatus spec is the layer
/// (`image`, `metadata`: pkg/machinery extensions/metadata.go, v1.14.1); the image name
/// follows the `000.ghcr.io-...` form of Talos's own example (docs v1.8 system-extensions).
fn iscsi_tools() -> Value {
    resource(
        "ExtensionStatuses.runtime.talos.dev",
        "0",
        "image: 000.ghcr.io-siderolabs-iscsi-tools-v0.2.0.sqsh\nmetadata:\n  name: iscsi-tools\n  version: v0.2.0\n  author: Sidero Labs\n  description: |\n    [core] This system extension provides iscsi-tools.\n  compatibility:\n    talos:\n      version: \">= v1.1.0\"\n",
    )
}

/// util-linux-tools: siderolabs/extensions tools/util-linux/manifest.yaml.tmpl and
/// Pkgfile UTIL_LINUX_VERSION 2.42.2 at v1.14.0-rc.1.
fn util_linux_tools() -> Value {
    resource(
        "ExtensionStatuses.runtime.talos.dev",
        "1",
        "image: 001.ghcr.io-siderolabs-util-linux-tools-2.42.2.sqsh\nmetadata:\n  name: util-linux-tools\n  version: 2.42.2\n  author: Sidero Labs\n  description: |\n    [contrib] This system extension provides util-linux tools.\n  compatibility:\n    talos:\n      version: \">= v1.1.0\"\n",
    )
}

/// A running extension service: `running: true, healthy: false, unknown: true`
/// (extension services have no health check: TALOS-API.md, read in Talos
/// internal/app/machined/pkg/system/services/extension.go).
fn service(id: &str) -> Value {
    resource(
        "Services.v1alpha1.talos.dev",
        id,
        "running: true\nhealthy: false\nunknown: true\n",
    )
}

/// EPHEMERAL on the 10 GB sda of Talos's disk-management docs (talos.dev v1.8
/// talos-guides/configuration/disk-management: `sda 10 GB`, 10485760000 bytes),
/// as the last partition of the default layout; fields of
/// pkg/machinery resources/block/volume_status.go (v1.14.1).
fn ephemeral() -> Value {
    resource(
        "VolumeStatuses.block.talos.dev",
        "EPHEMERAL",
        "phase: ready\ntype: partition\nlocation: /dev/sda6\nparentLocation: /dev/sda\npartitionIndex: 6\nsize: 8589934592\nprettySize: 8.6 GB\nfilesystem: xfs\nmountSpec:\n  targetPath: /var\n",
    )
}

/// A ready user volume `longhorn` and its mount at /var/mnt/longhorn: the mount
/// target is /var/mnt/<name> (Talos internal/app/machined/pkg/controllers/block/
/// internal/volumes/volumeconfig/user_volumes.go, v1.14.0-rc.1, as TALOS-API.md reads it).
fn user_volume_ready(name: &str) -> Vec<Value> {
    vec![
        resource(
            "VolumeStatuses.block.talos.dev",
            &format!("u-{name}"),
            &format!(
                "phase: ready\ntype: partition\nlocation: /dev/sdb1\nparentLocation: /dev/sdb\npartitionIndex: 1\nsize: 10485760000\nprettySize: 10 GB\nfilesystem: xfs\nmountSpec:\n  targetPath: {name}\n  parentId: /var/mnt\n"
            ),
        ),
        resource(
            "MountStatuses.block.talos.dev",
            &format!("u-{name}"),
            &format!(
                "spec:\n  source: /dev/sdb1\n  target: /var/mnt/{name}\n  fileSystem: xfs\nsource: /dev/sdb1\ntarget: /var/mnt/{name}\nfilesystem: xfs\nreadOnly: false\nprojectQuotaSupport: false\ndetached: false\n"
            ),
        ),
    ]
}

/// A 1.14 node as Longhorn's Talos guide wants it.
fn healthy(address: &str) -> Value {
    let mut resources = vec![
        version("v1.14.1"),
        iscsi_tools(),
        util_linux_tools(),
        service("ext-iscsid"),
        ephemeral(),
    ];
    resources.extend(user_volume_ready("longhorn"));
    json!({"address": address, "tag": "v1.14.1", "resources": resources,
           "meminfo": {"hugepagestotal": 0, "hugepagesfree": 0, "hugepagesize": 2048}})
}

fn node_without(node: Value, r#type: &str, id: &str) -> Value {
    let mut node = node;
    let list = node["resources"].as_array_mut().expect("resources");
    list.retain(|r| !(r["type"] == r#type && r["id"] == id));
    node
}

fn with(node: Value, extra: Vec<Value>) -> Value {
    let mut node = node;
    node["resources"]
        .as_array_mut()
        .expect("resources")
        .extend(extra);
    node
}

fn report(out: &(i32, String, String)) -> String {
    format!("exit status {}\n---\n{}{}", out.0, out.1, out.2)
}

const DISK: &str = "--disk-path=/var/mnt/longhorn";

#[test]
fn a_healthy_node_has_no_finding() {
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("healthy", report(&out));
    assert_eq!(out.0, 0);
}

#[test]
fn iscsi_tools_missing() {
    let node = node_without(
        healthy("10.5.0.2"),
        "ExtensionStatuses.runtime.talos.dev",
        "0",
    );
    let node = node_without(node, "Services.v1alpha1.talos.dev", "ext-iscsid");
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("iscsi-tools-missing", report(&out));
    assert_eq!(out.0, 1);
}

#[test]
fn talos_1_13_8_stops_attaching() {
    // siderolabs/extensions v1.13.8 storage/iscsi-tools/vars.yaml: open-iscsi 2.1.12
    // without node-reopen-log-freq-compat.patch (src/base/upstream.rs ISCSI_TOOLS).
    let mut node = node_without(healthy("10.5.0.2"), "Versions.runtime.talos.dev", "version");
    node["tag"] = json!("v1.13.8");
    // 1.13 has LoadedKernelModules, not KernelModuleStatuses (TALOS-API.md).
    let node = with(node, vec![version("v1.13.8")]);
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("talos-1.13.8", report(&out));
    assert_eq!(out.0, 1);
}

/// ext-iscsid crash-looping, as `talosctl services ext-iscsid status` showed it in
/// siderolabs/extensions#282 (state Waiting; events oldest first, as
/// MachineService/ServiceList sends them: talosctl cmd/talosctl/cmd/talos/service.go
/// prints them reversed, v1.14.0-rc.1).
fn crash_looping_iscsid() -> Value {
    json!([{"id": "ext-iscsid", "state": "Waiting", "events": [
        {"state": "Running", "msg": "Started task ext-iscsid (PID 33404) for container ext-iscsid"},
        {"state": "Waiting", "msg": "Error running Containerd(ext-iscsid), going to restart forever: task \"ext-iscsid\" failed: exit code 127"},
    ]}])
}

#[test]
fn ext_iscsid_not_running() {
    // A Service resource exists only while the service runs (TALOS-API.md).
    let mut node = node_without(
        healthy("10.5.0.2"),
        "Services.v1alpha1.talos.dev",
        "ext-iscsid",
    );
    node["services"] = crash_looping_iscsid();
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("iscsid-not-running", report(&out));
    assert_eq!(out.0, 1);
}

/// A module as KernelModuleStatus reports it (pkg/machinery
/// resources/runtime/kernel_module_status.go, v1.14.1: `type`, `state`).
fn module(name: &str, kind: &str, state: &str) -> Value {
    resource(
        "KernelModuleStatuses.runtime.talos.dev",
        name,
        &format!("type: {kind}\nsize: 0\nreferenceCount: 0\nstate: {state}\naddress: \"\"\n"),
    )
}

/// `vm.nr_hugepages` as Talos wrote it: KernelParamStatus id `proc.sys.vm.nr_hugepages`
/// (the `proc.sys.` prefix: Talos internal/app/machined/pkg/controllers/runtime/common_test.go,
/// v1.14.0-rc.1, `proc.sys.vm.max_map_count`).
fn nr_hugepages(value: &str) -> Value {
    resource(
        "KernelParamStatuses.runtime.talos.dev",
        "proc.sys.vm.nr_hugepages",
        &format!("current: \"{value}\"\ndefault: \"0\"\nunsupported: false\n"),
    )
}

#[test]
fn v2_without_vfio_pci_and_with_fewer_hugepages() {
    // Longhorn's Talos guide asks for vm.nr_hugepages 1024 (2 MiB pages) and
    // vfio_pci / uio_pci_generic; nvme_tcp is built in (siderolabs/pkgs
    // kernel/build/config-amd64 @ v1.14.0: CONFIG_NVME_TCP=y).
    let mut node = with(
        healthy("10.5.0.2"),
        vec![
            module("uio_pci_generic", "dynamic", "live"),
            module("nvme_tcp", "built-in", "built-in"),
            nr_hugepages("1024"),
        ],
    );
    node["meminfo"] = json!({"hugepagestotal": 512, "hugepagesfree": 512, "hugepagesize": 2048});
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&["--v2", DISK]);
    insta::assert_snapshot!("v2-hugepages", report(&out));
    assert_eq!(out.0, 1);

    let bare = with(
        healthy("10.5.0.3"),
        vec![
            module("nvme_tcp", "built-in", "built-in"),
            nr_hugepages("1024"),
        ],
    );
    let mut bare = bare;
    bare["meminfo"] = json!({"hugepagestotal": 1024, "hugepagesfree": 1024, "hugepagesize": 2048});
    let fake = Fake::start(vec![bare]);
    let out = fake.preflight(&["--v2", DISK]);
    insta::assert_snapshot!("v2-no-vfio", report(&out));
    assert_eq!(out.0, 1);
}

#[test]
fn a_user_volume_that_failed_to_provision() {
    // The error text Talos sets: siderolabs/talos#11339 (block.VolumeManagerController).
    let node = node_without(
        healthy("10.5.0.2"),
        "VolumeStatuses.block.talos.dev",
        "u-longhorn",
    );
    let node = node_without(node, "MountStatuses.block.talos.dev", "u-longhorn");
    let node = with(
        node,
        vec![resource(
            "VolumeStatuses.block.talos.dev",
            "u-longhorn",
            "phase: failed\ntype: partition\nmountSpec:\n  targetPath: longhorn\n  parentId: /var/mnt\nerrorMessage: \"no disks matched for volume (3 matched selector): 3 have not enough space, 0 have wrong format, 0 have other issues\"\n",
        )],
    );
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("volume-failed", report(&out));
    assert_eq!(out.0, 1);
}

#[test]
fn a_disk_path_with_no_volume_behind_it() {
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    let out = fake.preflight(&["--disk-path=/var/mnt/data", "--disk-path=/var/lib/longhorn"]);
    insta::assert_snapshot!("no-volume", report(&out));
    assert_eq!(out.0, 0, "a warning and a note do not fail by default");
    let out = fake.preflight(&["--disk-path=/var/mnt/data", "--fail-on=warning"]);
    assert_eq!(out.0, 1);
}

#[test]
fn a_reader_asking_read_config_gets_a_note() {
    // The running config is sensitive: only os:admin reads it (Talos
    // internal/app/resources/access.go, v1.14.0-rc.1).
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    let out = fake.preflight(&["--read-config", DISK]);
    insta::assert_snapshot!("reader-read-config", report(&out));
    assert_eq!(out.0, 0);
    let out = fake.preflight(&["--read-config", "--context=operator", DISK]);
    assert!(
        out.1
            .contains("skipped talos lint of the running machine config"),
        "{}",
        out.1
    );
}

#[test]
fn an_admin_reads_the_running_config() {
    // A config in the shape `talosctl gen config` writes for a worker (the
    // project's fixtures follow it); linted by the existing talos lint.
    let config = "version: v1alpha1\nmachine:\n  type: worker\n  install:\n    image: ghcr.io/siderolabs/installer:v1.14.1\n";
    let node = with(
        healthy("10.5.0.2"),
        vec![resource(
            "MachineConfigs.config.talos.dev",
            "v1alpha1",
            config,
        )],
    );
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&["--read-config", "--context=admin", DISK]);
    insta::assert_snapshot!("admin-read-config", report(&out));
}

#[test]
fn an_unreachable_node_is_a_finding_not_an_abort() {
    let mut down = healthy("10.5.0.9");
    down["unreachable"] = json!(true);
    let fake = Fake::start(vec![healthy("10.5.0.2"), down]);
    let out = fake.preflight(&[DISK, "--nodes=10.5.0.2,10.5.0.9,10.5.0.77"]);
    insta::assert_snapshot!("unreachable", report(&out));
    assert_eq!(out.0, 1);
}

#[test]
fn an_unreachable_endpoint_makes_every_node_a_finding() {
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    // A closed port on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let out = fake.preflight(&[
        DISK,
        &format!("--endpoints=127.0.0.1:{port}"),
        "--timeout=3s",
    ]);
    assert_eq!(out.0, 1, "{}", report(&out));
    assert!(
        out.1.starts_with(
            "error[LTG-P000] 10.5.0.2: cannot read the node through the Talos API: unreachable:"
        ),
        "{}",
        out.1
    );
}

#[test]
fn a_node_older_than_kernel_module_status() {
    // Talos 1.12: no KernelModuleStatuses (1.14), LoadedKernelModules from 1.11
    // (TALOS-API.md); the guard falls back on Talos's own refusal
    // `resource type "..." is not supported` (internal/app/resources/access.go).
    let mut node = node_without(healthy("10.5.0.2"), "Versions.runtime.talos.dev", "version");
    node["tag"] = json!("v1.12.4");
    let node = with(
        node,
        vec![
            version("v1.12.4"),
            // /proc/modules' state column: "Live" (LoadedKernelModule spec `state`).
            resource(
                "LoadedKernelModules.runtime.talos.dev",
                "vfio_pci",
                "size: 0\nreferenceCount: 0\nstate: Live\naddress: \"\"\n",
            ),
            nr_hugepages("1024"),
        ],
    );
    let mut node = node;
    node["meminfo"] = json!({"hugepagestotal": 1024, "hugepagesfree": 1024, "hugepagesize": 2048});
    let mut ancient = healthy("10.5.0.3");
    ancient["tag"] = json!("v1.9.5");
    let ancient = node_without(ancient, "Versions.runtime.talos.dev", "version");
    let fake = Fake::start(vec![node, ancient]);
    let out = fake.preflight(&["--v2", DISK]);
    insta::assert_snapshot!("older-talos", report(&out));
}

#[test]
fn a_hundred_nodes_within_ten_seconds() {
    let nodes: Vec<Value> = (0..100)
        .map(|i| healthy(&format!("10.6.{}.{}", i / 200, i % 200 + 1)))
        .collect();
    let fake = Fake::start(nodes);
    let start = Instant::now();
    let out = fake.preflight(&[DISK, "--v2"]);
    let took = start.elapsed();
    eprintln!("100 nodes read in {took:?}");
    assert_eq!(out.1.matches("==> ").count(), 100, "{}", out.1);
    assert!(took.as_secs_f64() < 10.0, "100 nodes took {took:?}");
}

/// The README's example cluster: a healthy node, a node whose ext-iscsid is
/// down and whose user volume failed, and a node apid cannot reach.
fn readme_cluster() -> Vec<Value> {
    let mut broken = node_without(
        healthy("10.5.0.3"),
        "Services.v1alpha1.talos.dev",
        "ext-iscsid",
    );
    broken["services"] = crash_looping_iscsid();
    let broken = node_without(broken, "VolumeStatuses.block.talos.dev", "u-longhorn");
    let broken = node_without(broken, "MountStatuses.block.talos.dev", "u-longhorn");
    let broken = with(
        broken,
        vec![resource(
            "VolumeStatuses.block.talos.dev",
            "u-longhorn",
            // siderolabs/talos#11339: the error VolumeManagerController sets.
            "phase: failed\ntype: partition\nerrorMessage: \"no disks matched for volume (3 matched selector): 3 have not enough space, 0 have wrong format, 0 have other issues\"\n",
        )],
    );
    let mut down = healthy("10.5.0.4");
    down["unreachable"] = json!(true);
    vec![healthy("10.5.0.2"), broken, down]
}

#[test]
fn the_readme_output_is_what_the_command_prints_against_the_double() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let fake = Fake::start(readme_cluster());
    let mut checked = 0;
    let mut rest = readme.as_str();
    let marker = "```console\n$ longhorn-talos-guard talos preflight";
    while let Some(start) = rest.find(marker) {
        let block = &rest[start + "```console\n$ ".len()..];
        let end = block.find("```").expect("a closed block");
        let (command, shown) = block[..end].split_once('\n').expect("a command line");
        let (command, status) = command.split_once("; echo $?").unwrap_or((command, ""));
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        // The talosconfig through $TALOSCONFIG, as a user would set it.
        let out = Command::new(BIN)
            .args(&args)
            .env("TALOSCONFIG", fake.talosconfig())
            .output()
            .expect("run the binary");
        let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
        if !status.is_empty() || shown.ends_with(&format!("{}\n", out.status.code().unwrap_or(-1)))
        {
            printed.push_str(&format!("{}\n", out.status.code().unwrap_or(-1)));
        }
        assert_eq!(
            printed, shown,
            "the README's output of `{command}` is out of date"
        );
        checked += 1;
        rest = &block[end..];
    }
    assert!(checked >= 1, "no talos preflight example in the README");
}

// The README's table of LTG-P codes is checked against the catalogue
// (src/catalogue.rs) by tests/readme.rs, with the other families.

#[test]
fn yaml_is_one_cluster_policy_report() {
    let fake = Fake::start(readme_cluster());
    let (status, out, err) = fake.preflight(&["-o", "yaml", DISK]);
    assert_eq!(status, 1, "{err}");
    // Timestamps are the run's clock: replaced before the snapshot.
    let stable: String = out
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("seconds:") || t.starts_with("nanos:") {
                format!(
                    "{}{}: <now>",
                    &l[..l.len() - t.len()],
                    t.split(':').next().unwrap_or("")
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("policy-report", stable);
    // wgpolicyk8s.io/v1alpha2 ClusterPolicyReport (kubernetes-sigs/wg-policy-prototypes
    // policy-report/pkg/api/wgpolicyk8s.io/v1alpha2): summary counts by outcome.
    assert!(
        out.contains("summary:\n  pass: 0\n  fail: 2\n  warn: 0\n  error: 1\n  skip: 0\n"),
        "{out}"
    );
}

#[test]
fn a_directory_user_volume_is_a_folder_on_ephemeral() {
    // Talos 1.14 UserVolumeConfig `volumeType: directory`: VolumeStatus `type: directory`
    // (pkg/machinery resources/block/volumetype.go, v1.14.1: VolumeTypeDirectory, `directory`).
    let node = node_without(
        healthy("10.5.0.2"),
        "VolumeStatuses.block.talos.dev",
        "u-longhorn",
    );
    let node = with(
        node,
        vec![resource(
            "VolumeStatuses.block.talos.dev",
            "u-longhorn",
            "phase: ready\ntype: directory\nmountSpec:\n  targetPath: longhorn\n  parentId: /var/mnt\n",
        )],
    );
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("directory-volume", report(&out));
    assert_eq!(out.0, 0);
}

#[test]
fn no_talosconfig_is_an_error_naming_where_it_looked() {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args(["talos", "preflight"])
        .env_remove("TALOSCONFIG")
        .env_remove("TALOS_HOME")
        .env("HOME", home.path())
        .output()
        .expect("run the binary");
    assert_eq!(out.status.code(), Some(2));
    let err =
        String::from_utf8_lossy(&out.stderr).replace(&home.path().display().to_string(), "$HOME");
    assert_eq!(
        err,
        "error: no talosconfig: none of $HOME/.talos/config, /var/run/secrets/talos.dev/config exists; give one with --talosconfig or $TALOSCONFIG (talosctl config new, or the Secret of a talos.dev ServiceAccount)\n"
    );
}

#[test]
fn a_slow_node_is_cut_at_its_deadline_and_the_others_are_read() {
    let mut slow = healthy("10.5.0.3");
    slow["delayMs"] = json!(5000);
    let fake = Fake::start(vec![healthy("10.5.0.2"), slow]);
    let start = Instant::now();
    let out = fake.preflight(&[DISK, "--timeout=1s"]);
    let took = start.elapsed();
    assert_eq!(out.0, 1, "{}", report(&out));
    assert!(
        out.1.starts_with("==> 10.5.0.2 <==\n0 errors, 0 warnings, 0 notes\n\n==> 10.5.0.3 <==\nerror[LTG-P000] 10.5.0.3: cannot read the node through the Talos API: unreachable: "),
        "{}",
        out.1
    );
    assert!(
        took.as_secs_f64() < 4.0,
        "the deadline did not cut the slow node: {took:?}"
    );
}

#[test]
fn a_certificate_whose_role_reads_nothing_is_refused_per_node() {
    // A role none of these methods allows (os:etcd:backup) is refused with `not authorized` (Talos
    // pkg/grpc/middleware/authz/authorizer.go, v1.14.0-rc.1).
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    let out = fake.preflight(&[DISK, "--context=etcd-backup"]);
    insta::assert_snapshot!("no-role", report(&out));
    assert_eq!(out.0, 1);
}

/// `talos-fake get`: the resources of one type read with Talos's own Go client
/// (pkg/machinery/client v1.14.1, what talosctl get is built on), which decodes
/// the protobuf spec into Talos's typed resources.
fn talos_client_get(
    fake: &Fake,
    node: &str,
    namespace: &str,
    r#type: &str,
) -> Vec<(String, Value)> {
    let out = Command::new(talos_fake::fake_bin())
        .arg("get")
        .arg(fake.talosconfig())
        .args(["reader", node, namespace, r#type])
        .output()
        .expect("run talos-fake get");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let items: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON list");
    let mut items: Vec<(String, Value)> = items
        .into_iter()
        .map(|i| {
            let yaml = i["yaml"].as_str().expect("yaml").to_string();
            (i["id"].as_str().expect("id").to_string(), yaml_value(&yaml))
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

fn yaml_value(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"))
}

/// A healthy 1.14 node with the V2 modules and hugepages seeded (and `extra`).
fn v2_node(extra: Vec<Value>) -> Value {
    let mut resources = vec![
        module("vfio_pci", "dynamic", "live"),
        module("nvme_tcp", "built-in", "built-in"),
        nr_hugepages("1024"),
    ];
    resources.extend(extra);
    with(healthy("10.5.0.2"), resources)
}

/// The guard's Talos API client on the double's `reader` context, its
/// connection task on `runtime`.
fn reader_client(
    fake: &Fake,
    runtime: &tokio::runtime::Runtime,
) -> longhorn_talos_guard::talos::api::Client {
    use longhorn_talos_guard::talos::api::{Client, talosconfig};
    let context = talosconfig::load(&fake.talosconfig(), Some("reader")).expect("talosconfig");
    let _entered = runtime.enter();
    Client::connect(
        &context,
        &context.endpoints[0],
        None,
        std::time::Duration::from_secs(5),
    )
    .expect("client")
}

#[test]
fn talos_own_client_reads_what_the_guard_reads() {
    let fake = Fake::start(vec![v2_node(Vec::new())]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reader_client(&fake, &runtime);
    let types = [
        "Versions.runtime.talos.dev",
        "ExtensionStatuses.runtime.talos.dev",
        "Services.v1alpha1.talos.dev",
        "KernelModuleStatuses.runtime.talos.dev",
        "KernelParamStatuses.runtime.talos.dev",
        "VolumeStatuses.block.talos.dev",
        "MountStatuses.block.talos.dev",
    ];
    for r#type in types {
        let theirs = talos_client_get(&fake, "10.5.0.2", "runtime", r#type);
        let mut ours: Vec<(String, Value)> = runtime
            .block_on(client.list("10.5.0.2", "runtime", r#type))
            .unwrap_or_else(|e| panic!("{type}: {e}"))
            .into_iter()
            .map(|r| (r.id, yaml_value(&r.yaml)))
            .collect();
        ours.sort_by(|a, b| a.0.cmp(&b.0));
        assert!(!theirs.is_empty(), "{type}: nothing seeded");
        assert_eq!(
            ours, theirs,
            "{type}: the guard and Talos's client disagree"
        );
    }
    // The Version call: the tag talosctl version prints.
    assert_eq!(
        runtime
            .block_on(client.version("10.5.0.2"))
            .expect("version"),
        "v1.14.1"
    );
}

#[test]
fn an_existing_volume_behind_the_disk_path_is_a_disk_of_its_own() {
    // ExistingVolumeConfig `longhorn` is volume `e-longhorn`, mounted at
    // /var/mnt/longhorn like a user volume (Talos internal/app/machined/pkg/
    // controllers/block/internal/volumes/volumeconfig/user_volumes.go,
    // v1.14.0-rc.1: ExistingVolumePrefix, ParentID UserVolumeMountPoint;
    // prefix "e-" in pkg/machinery constants/constants.go, v1.14.1).
    let node = node_without(
        healthy("10.5.0.2"),
        "VolumeStatuses.block.talos.dev",
        "u-longhorn",
    );
    let node = node_without(node, "MountStatuses.block.talos.dev", "u-longhorn");
    let node = with(
        node,
        vec![
            resource(
                "VolumeStatuses.block.talos.dev",
                "e-longhorn",
                "phase: ready\ntype: partition\nlocation: /dev/sdb1\nparentLocation: /dev/sdb\nsize: 10485760000\nprettySize: 10 GB\nfilesystem: xfs\nmountSpec:\n  targetPath: longhorn\n  parentId: /var/mnt\n",
            ),
            resource(
                "MountStatuses.block.talos.dev",
                "e-longhorn",
                "source: /dev/sdb1\ntarget: /var/mnt/longhorn\nfilesystem: xfs\nreadOnly: false\nprojectQuotaSupport: false\ndetached: false\n",
            ),
        ],
    );
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&[DISK]);
    assert_eq!(
        report(&out),
        "exit status 0\n---\n0 errors, 0 warnings, 0 notes\n"
    );
}

#[test]
fn hugepages_of_another_default_size_are_not_judged() {
    // default_hugepagesz=1G makes /proc/meminfo's HugePages_* count 1 GiB pages
    // (Hugepagesize: 1048576 kB): kernel Documentation/admin-guide/mm/hugetlbpage.rst.
    let mut node = with(
        healthy("10.5.0.2"),
        vec![
            module("vfio_pci", "dynamic", "live"),
            module("uio_pci_generic", "dynamic", "live"),
        ],
    );
    node["meminfo"] = json!({"hugepagestotal": 2, "hugepagesfree": 2, "hugepagesize": 1048576});
    let fake = Fake::start(vec![node]);
    let out = fake.preflight(&["--v2", DISK]);
    insta::assert_snapshot!("hugepages-1g", report(&out));
    assert_eq!(out.0, 0);
}

#[test]
fn an_endpoint_that_does_not_answer_is_skipped_for_the_next() {
    let fake = Fake::start(vec![healthy("10.5.0.2")]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = listener.local_addr().expect("addr").port();
    drop(listener);
    let text = std::fs::read_to_string(fake.talosconfig()).expect("talosconfig");
    let live = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("- 127.0.0.1:"))
        .expect("the double's endpoint")
        .to_string();
    let out = fake.preflight(&[
        DISK,
        &format!("--endpoints=127.0.0.1:{closed},127.0.0.1:{live}"),
        "--timeout=3s",
    ]);
    assert_eq!(out.0, 0, "{}", report(&out));
    assert_eq!(out.1, "0 errors, 0 warnings, 0 notes\n");
    assert!(
        out.2.starts_with(&format!(
            "warning: endpoint 127.0.0.1:{closed} does not answer (unreachable: "
        )),
        "{}",
        out.2
    );
}

/// Creates the Kubernetes Node `name` (with `metadata`, YAML lines under
/// `metadata:`) and sets its status addresses: `ip` as InternalIP.
fn create_kubernetes_node(k: &kubectl::Kubectl, name: &str, ip: &str, metadata: &str) {
    k.with_manifest(
        &["create"],
        &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n{metadata}"),
    )
    .ok();
    let status = json!({"status": {"addresses": [
        {"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}
    ]}});
    k.run(&[
        "patch",
        "node",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &status.to_string(),
    ])
    .ok();
}

/// Longhorn's Setting and Node kinds (the project's tests/fixtures/crds/longhorn.yaml)
/// and its namespace.
fn install_longhorn_crds(k: &kubectl::Kubectl) {
    k.run(&[
        "apply",
        "-f",
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/crds/longhorn.yaml")
            .to_string_lossy(),
    ])
    .ok();
    for crd in ["crd/settings.longhorn.io", "crd/nodes.longhorn.io"] {
        k.run(&["wait", "--for=condition=Established", "--timeout=60s", crd])
            .ok();
    }
    k.run(&["create", "namespace", "longhorn-system"]).ok();
}

#[test]
fn without_nodes_the_kubernetes_nodes_internal_ips_are_read() {
    // A talosconfig made in a cluster has no nodes (the ServiceAccount's
    // Secret: TALOS-API.md "Inside the cluster"); the Nodes' InternalIPs are
    // what talosctl's users route to. A real kube-apiserver (tests/envtest).
    let assets = controlplane::assets();
    let cp = controlplane::ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    create_kubernetes_node(&k, "talos-w1", "10.5.0.2", "");
    create_kubernetes_node(&k, "talos-w2", "10.5.0.3", "");
    let broken = node_without(
        healthy("10.5.0.3"),
        "ExtensionStatuses.runtime.talos.dev",
        "1",
    );
    let fake = Fake::start_bare(vec![healthy("10.5.0.2"), broken], &["in-cluster"]);
    let kubeconfig = cp.kubeconfig.to_string_lossy().into_owned();
    let out = fake.preflight(&[DISK, "--context=in-cluster", "--kubeconfig", &kubeconfig]);
    insta::assert_snapshot!("kubernetes-nodes", report(&out));
    assert_eq!(out.0, 1);
    // Longhorn's settings (longhorn.io/v1beta2 Setting, top-level `value`: the
    // project's tests/fixtures/crds/longhorn.yaml) decide --v2 and the disk path.
    install_longhorn_crds(&k);
    for (name, value) in [
        ("v2-data-engine", "true"),
        ("default-data-path", "/var/mnt/data"),
    ] {
        let setting = format!(
            "apiVersion: longhorn.io/v1beta2\nkind: Setting\nmetadata:\n  name: {name}\n  namespace: longhorn-system\nvalue: \"{value}\"\n"
        );
        k.with_manifest(&["create"], &setting).ok();
    }
    let out = fake.preflight(&["--context=in-cluster", "--kubeconfig", &kubeconfig]);
    insta::assert_snapshot!("longhorn-settings", report(&out));
    assert_eq!(out.0, 1);
    // Without --kubeconfig, a context without nodes is an error that says what to give.
    let out = fake.preflight(&[DISK, "--context=in-cluster"]);
    assert_eq!(out.0, 2);
    assert!(
        out.2
            .contains("context in-cluster has no nodes; give --nodes, or --kubeconfig"),
        "{}",
        out.2
    );
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let fake = Fake::start(vec![healthy("10.5.0.2"), healthy("10.5.0.3")]);
    // Not a terminal (the tests' pipes): no progress line on stderr.
    let out = fake.preflight(&[DISK]);
    assert_eq!(out.0, 0, "{}", report(&out));
    assert_eq!(out.2, "", "progress on a pipe: {:?}", out.2);
    // Under a pseudo-terminal: util-linux `script` (Debian's essential
    // bsdutils) runs the command with its stdin, stdout and stderr on one.
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let talosconfig = fake.talosconfig();
    let command = [
        BIN,
        "talos",
        "preflight",
        "--talosconfig",
        &talosconfig.to_string_lossy(),
        DISK,
    ]
    .map(quote)
    .join(" ");
    let out = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env_remove("TALOSCONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run script (util-linux) to give the command a terminal");
    let seen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{seen}");
    // The line is rewritten in place (\r) as nodes finish, then ends.
    assert!(
        seen.contains("\rread 1/2 nodes\rread 2/2 nodes\r\n"),
        "no progress line on the terminal: {seen:?}"
    );
    assert!(
        seen.contains("==> 10.5.0.2 <==\r\n0 errors, 0 warnings, 0 notes\r\n"),
        "{seen:?}"
    );
}

fn talosctl_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| built("talosctl", "talosctl"))
}

/// `talosctl --talosconfig <the double's> --context reader -n NODE get TYPE -o yaml`
/// (siderolabs/talos cmd/talosctl v1.14.1): each resource a YAML document
/// with `node`, `metadata` and `spec`; `(id, spec)` sorted by id.
fn talosctl_get(fake: &Fake, node: &str, r#type: &str) -> Vec<(String, Value)> {
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(talosctl_bin())
        .arg("--talosconfig")
        .arg(fake.talosconfig())
        .args([
            "--context",
            "reader",
            "-n",
            node,
            "get",
            r#type,
            "-o",
            "yaml",
        ])
        .env("HOME", home.path())
        .env_remove("TALOSCONFIG")
        .output()
        .expect("run talosctl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "talosctl get {type}: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut items: Vec<(String, Value)> = text
        .split("\n---\n")
        .filter(|doc| !doc.trim().is_empty() && doc.trim() != "---")
        .map(|doc| {
            let v = yaml_value(doc);
            assert_eq!(v["node"], node, "{doc}");
            assert_eq!(v["metadata"]["type"], r#type, "{doc}");
            let id = str_of(&v["metadata"]["id"]);
            (id, v["spec"].clone())
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[test]
fn talosctl_prints_what_the_guard_parses() {
    use longhorn_talos_guard::preflight::{self, ReadOptions};
    let fake = Fake::start(vec![v2_node(vec![service("ext-multipathd")])]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = reader_client(&fake, &runtime);
    let options = ReadOptions {
        v2: true,
        read_config: false,
        parallel: 1,
        deadline: std::time::Duration::from_secs(10),
    };
    let facts = runtime
        .block_on(preflight::read_nodes(
            &client,
            &["10.5.0.2".to_string()],
            &options,
            &|_, _| {},
        ))
        .remove(0);
    let get = |t: &str| {
        let items = talosctl_get(&fake, "10.5.0.2", t);
        assert!(!items.is_empty(), "{t}: talosctl printed nothing");
        items
    };

    // Each fact as the guard parsed it, and as talosctl printed it, sorted.
    let agree =
        |what: &str, ours: Vec<Value>, r#type: &str, theirs: &dyn Fn(String, Value) -> Value| {
            let mut ours = ours;
            let mut theirs: Vec<Value> = get(r#type)
                .into_iter()
                .map(|(id, s)| theirs(id, s))
                .collect();
            ours.sort_by_key(Value::to_string);
            theirs.sort_by_key(Value::to_string);
            assert_eq!(ours, theirs, "{what}: the guard and talosctl disagree");
        };
    let fact =
        |what: &str, list: Option<Vec<Value>>| list.unwrap_or_else(|| panic!("{what} not read"));
    agree(
        "version",
        vec![json!(facts.version.clone().expect("version"))],
        "Versions.runtime.talos.dev",
        &|_, s| json!(str_of(&s["version"])),
    );
    agree(
        "extensions",
        fact(
            "extensions",
            facts
                .extensions
                .clone()
                .ok()
                .map(|l| l.into_iter().map(|e| json!([e.name, e.version])).collect()),
        ),
        "ExtensionStatuses.runtime.talos.dev",
        &|_, s| {
            json!([
                str_of(&s["metadata"]["name"]),
                str_of(&s["metadata"]["version"])
            ])
        },
    );
    agree(
        "services",
        fact(
            "services",
            facts
                .services
                .clone()
                .ok()
                .map(|l| l.into_iter().map(|s| json!([s.id, s.running])).collect()),
        ),
        "Services.v1alpha1.talos.dev",
        &|id, s| json!([id, s["running"] == true]),
    );
    agree(
        "kernel modules",
        fact(
            "modules",
            facts
                .modules
                .clone()
                .ok()
                .map(|l| l.into_iter().map(|m| json!([m.name, m.state])).collect()),
        ),
        "KernelModuleStatuses.runtime.talos.dev",
        &|id, s| json!([id, str_of(&s["state"])]),
    );
    let hugepages = facts
        .hugepages
        .clone()
        .expect("read with --v2")
        .expect("hugepages");
    agree(
        "vm.nr_hugepages",
        hugepages.asked.into_iter().map(Value::from).collect(),
        "KernelParamStatuses.runtime.talos.dev",
        &|_, s| json!(str_of(&s["current"])),
    );
    agree(
        "volumes",
        fact(
            "volumes",
            facts.volumes.clone().ok().map(|l| {
                l.into_iter()
                    .map(|v| {
                        json!([
                            v.id,
                            v.phase,
                            v.kind,
                            v.location,
                            v.parent_location,
                            v.size.to_string(),
                            v.pretty_size,
                            v.filesystem,
                            v.error_message
                        ])
                    })
                    .collect()
            }),
        ),
        "VolumeStatuses.block.talos.dev",
        &|id, s| {
            let f = |k: &str| str_of(&s[k]);
            json!([
                id,
                f("phase"),
                f("type"),
                f("location"),
                f("parentLocation"),
                f("size"),
                f("prettySize"),
                f("filesystem"),
                f("errorMessage")
            ])
        },
    );
    agree(
        "mounts",
        fact(
            "mounts",
            facts.mounts.clone().ok().map(|l| {
                l.into_iter()
                    .map(|m| json!([m.id, m.target, m.source, m.filesystem]))
                    .collect()
            }),
        ),
        "MountStatuses.block.talos.dev",
        &|id, s| {
            json!([
                id,
                str_of(&s["target"]),
                str_of(&s["source"]),
                str_of(&s["filesystem"])
            ])
        },
    );
}

#[test]
fn longhorn_disks_are_checked_on_their_own_node_only() {
    // A real kube-apiserver (tests/envtest) holding what Longhorn reads: the
    // Longhorn Node talos-w1 with a disk at /var/mnt/data, and talos-w2 with
    // no Longhorn Node yet, labelled node.longhorn.io/create-default-disk=config
    // with default disks in its annotation, under create-default-disk-labeled-nodes
    // (longhorn-manager controller/kubernetes_node_controller.go syncDefaultDisks:
    // the annotation is read only with the setting on, the label `config` and
    // no disk on the Longhorn Node). A block disk's path is a device: not checked.
    let assets = controlplane::assets();
    let cp = controlplane::ControlPlane::start(&assets, guard::certs_dev);
    let k = cp.kubectl.clone();
    install_longhorn_crds(&k);
    let default_disks = r#"[{"path":"/var/mnt/fast","allowScheduling":true},{"path":"/dev/nvme1n1","diskType":"block","allowScheduling":true}]"#;
    create_kubernetes_node(&k, "talos-w1", "10.5.0.2", "");
    create_kubernetes_node(
        &k,
        "talos-w2",
        "10.5.0.3",
        &format!(
            "  labels:\n    node.longhorn.io/create-default-disk: config\n  annotations:\n    node.longhorn.io/default-disks-config: '{default_disks}'\n"
        ),
    );
    k.with_manifest(
        &["create"],
        "apiVersion: longhorn.io/v1beta2\nkind: Node\nmetadata:\n  name: talos-w1\n  namespace: longhorn-system\nspec:\n  allowScheduling: true\n  disks:\n    data:\n      path: /var/mnt/data\n      diskType: filesystem\n      allowScheduling: true\n    nvme:\n      path: /dev/nvme0n1\n      diskType: block\n      allowScheduling: true\n",
    )
    .ok();
    k.with_manifest(
        &["create"],
        "apiVersion: longhorn.io/v1beta2\nkind: Setting\nmetadata:\n  name: create-default-disk-labeled-nodes\n  namespace: longhorn-system\nvalue: \"true\"\n",
    )
    .ok();
    let fake = Fake::start_bare(
        vec![healthy("10.5.0.2"), healthy("10.5.0.3")],
        &["in-cluster"],
    );
    let kubeconfig = cp.kubeconfig.to_string_lossy().into_owned();
    let out = fake.preflight(&[
        DISK,
        "--context=in-cluster",
        "--kubeconfig",
        &kubeconfig,
        "--fail-on=warning",
    ]);
    insta::assert_snapshot!("longhorn-disks", report(&out));
    assert_eq!(out.0, 1);
    // The same nodes named by address with --nodes are matched to their
    // Kubernetes Nodes too.
    let by_address = fake.preflight(&[
        DISK,
        "--context=in-cluster",
        "--nodes=10.5.0.3",
        "--kubeconfig",
        &kubeconfig,
    ]);
    assert!(
        by_address.1.contains("/var/mnt/fast") && !by_address.1.contains("/var/mnt/data"),
        "{}",
        report(&by_address)
    );
    // Without the setting Longhorn does not read the annotation.
    k.run(&[
        "patch",
        "settings.longhorn.io",
        "-n",
        "longhorn-system",
        "create-default-disk-labeled-nodes",
        "--type=merge",
        "-p",
        r#"{"value":"false"}"#,
    ])
    .ok();
    let off = fake.preflight(&[DISK, "--context=in-cluster", "--kubeconfig", &kubeconfig]);
    assert!(
        !off.1.contains("/var/mnt/fast") && off.1.contains("/var/mnt/data"),
        "{}",
        report(&off)
    );
}

#[test]
fn multipathd_running_with_and_without_a_configuration() {
    // ext-multipathd: the service of siderolabs/multipath-tools (siderolabs/extensions
    // storage/multipath-tools/multipathd.yaml, name multipathd, at v1.14.0-rc.1), running as
    // an extension service reads. Talos writes ExtensionServiceConfigStatus `multipathd`,
    // `specVersion` the config's resource version, for an ExtensionServiceConfig named
    // multipathd (internal/app/machined/pkg/controllers/runtime/extension_service_config_files.go,
    // v1.14.0-rc.1); the config itself is sensitive, its status is not.
    let bare = with(healthy("10.5.0.2"), vec![service("ext-multipathd")]);
    let configured = with(
        healthy("10.5.0.3"),
        vec![
            service("ext-multipathd"),
            resource(
                "ExtensionServiceConfigStatuses.runtime.talos.dev",
                "multipathd",
                "specVersion: \"1\"\n",
            ),
        ],
    );
    let fake = Fake::start(vec![bare, configured]);
    let out = fake.preflight(&[DISK]);
    insta::assert_snapshot!("multipathd", report(&out));
    assert_eq!(out.0, 0, "a warning does not fail by default");
}

#[test]
fn talosctl_is_the_talos_of_the_double() {
    // The go.mod pins: talosctl's Talos module and machinery, the double's machinery.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pinned = |file: &str, module: &str| -> String {
        let text = std::fs::read_to_string(root.join(file)).expect(file);
        text.lines()
            .find_map(|l| {
                let mut words = l.split_whitespace();
                (words.next() == Some(module)).then(|| words.next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| panic!("{file} does not require {module}"))
    };
    let machinery = "github.com/siderolabs/talos/pkg/machinery";
    let double = pinned("tests/talos-fake/go.mod", machinery);
    assert_eq!(
        pinned("tests/talosctl/go.mod", "github.com/siderolabs/talos"),
        double
    );
    assert_eq!(pinned("tests/talosctl/go.mod", machinery), double);
}
