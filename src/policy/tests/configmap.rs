use std::collections::BTreeMap;

use crate::config::Config;
use crate::policy::objects::{ConfigMap, Meta};
use crate::policy::{Facts, Operation, Pair, Phase, Request, Subject, Verdict, evaluate};

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap<'static> {
    ConfigMap {
        metadata: Meta {
            name: Some(name.to_string().into()),
            namespace: Some("longhorn-system".into()),
        },
        data: data
            .iter()
            .map(|(k, v)| (k.to_string().into(), v.to_string().into()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn judge(new: ConfigMap<'static>, old: Option<ConfigMap<'static>>, user: &str) -> Verdict {
    let req = Request {
        operation: if old.is_some() {
            Operation::Update
        } else {
            Operation::Create
        },
        name: new.metadata.name.clone().unwrap_or_default(),
        namespace: "longhorn-system".into(),
        username: user.to_string().into(),
        subject: Subject::ConfigMap(Pair {
            object: Some(new),
            old,
        }),
    };
    evaluate(Phase::Validate, &req, &Config::default(), &Facts::default())
}

const CM: &str = "longhorn-default-setting";
const KEY: &str = "default-setting.yaml";

#[test]
fn the_helm_charts_configmap_is_judged_like_the_setting() {
    // longhorn/longhorn chart/templates/default-setting.yaml @ v1.12.1: defaultSettings go
    // into this ConfigMap under default-setting.yaml, a flat YAML map.
    let good = cm(
        CM,
        &[(
            KEY,
            "default-data-path: /var/mnt/longhorn\nreplica-soft-anti-affinity: true\n",
        )],
    );
    assert_eq!(judge(good, None, "admin"), Verdict::default());
    let bad = cm(CM, &[(KEY, "default-data-path: /mnt/ssd\n")]);
    let v = judge(bad.clone(), None, "admin");
    let msg = v.denial.unwrap();
    assert!(
        msg.starts_with("ConfigMap longhorn-system/longhorn-default-setting: default-setting.yaml sets default-data-path to \"/mnt/ssd\", which is on Talos's read-only root filesystem"),
        "{msg}"
    );
    assert!(
        msg.contains("Helm: defaultSettings.defaultDataPath"),
        "{msg}"
    );
    assert_eq!(v.denied_by, ["LTG-W014"]);
    // Unchanged on UPDATE: a warning only.
    let v = judge(bad.clone(), Some(bad), "admin");
    assert!(v.allowed() && v.warnings.len() == 1, "{v:?}");
}

#[test]
fn an_unreadable_file_is_denied_with_the_parsers_position() {
    let v = judge(
        cm(CM, &[(KEY, "default-data-path: [unclosed\n")]),
        None,
        "admin",
    );
    let msg = v.denial.unwrap();
    assert!(
        msg.contains("is not a YAML map of settings Longhorn can read (line 1 column 20: unclosed bracket '[')"),
        "{msg}"
    );
}

#[test]
fn a_setting_beside_the_file_is_ignored_by_longhorn_and_warned() {
    let v = judge(cm(CM, &[("default-data-path", "/mnt/ssd")]), None, "admin");
    assert!(v.allowed(), "{v:?}");
    assert_eq!(
        v.warnings,
        [
            "ConfigMap longhorn-default-setting: data.default-data-path is ignored; Longhorn reads default-setting.yaml"
        ]
    );
}

#[test]
fn other_configmaps_and_ephemeral_paths() {
    assert_eq!(
        judge(
            cm("other", &[(KEY, "default-data-path: /mnt/ssd")]),
            None,
            "admin"
        ),
        Verdict::default()
    );
    let v = judge(
        cm(CM, &[(KEY, "default-data-path: /opt/longhorn")]),
        None,
        "admin",
    );
    assert!(v.allowed() && v.flagged_by == ["LTG-W013"], "{v:?}");
}

#[test]
fn default_control_path_is_no_longhorn_setting_and_only_warns() {
    // longhorn-manager types/setting.go GetCustomizedDefaultSettings and datastore/longhorn.go
    // filterCustomizedDefaultSettings @ v1.12.1 (unchanged on master of 2026-08-21): an undefined
    // key is logged ("Customized settings are invalid, will give up using them: undefined
    // setting ...") and dropped; the other keys still apply. No released Longhorn defines
    // default-control-path (reverted before v1.13.0: longhorn-manager#5127, longhorn/longhorn#13843).
    let both = cm(
        CM,
        &[(
            KEY,
            "default-data-path: /var/mnt/longhorn\ndefault-control-path: /mnt/control\n",
        )],
    );
    let v = judge(both, None, "admin");
    assert_eq!(v.denial, None, "{v:?}");
    assert_eq!(
        v.warnings,
        [
            "ConfigMap longhorn-default-setting: Longhorn 1.10-1.13 skips default-control-path; its files stay in /var/lib/longhorn"
        ]
    );
    // The data path next to it is still judged as a path.
    let bad_data = cm(
        CM,
        &[(
            KEY,
            "default-data-path: /mnt/ssd\ndefault-control-path: /var/mnt/control\n",
        )],
    );
    let v = judge(bad_data, None, "admin");
    assert!(
        v.denial
            .unwrap()
            .contains("sets default-data-path to \"/mnt/ssd\"")
    );
    assert_eq!(v.warnings.len(), 1, "{:?}", v.warnings);
}

#[test]
fn longhorns_own_accounts_get_a_warning_not_a_denial() {
    // README "Rules": the Longhorn namespace's service accounts only ever get warnings from
    // the disk rules. longhorn-manager only reads this ConfigMap (longhorn-manager
    // datastore/longhorn.go GetConfigMapRO; a system restore skips it,
    // controller/system_rollout_controller.go, v1.12.1); a denial of a write made under a
    // Longhorn account would reach no person.
    let bad = cm(CM, &[(KEY, "default-data-path: /mnt/ssd\n")]);
    let sa = "system:serviceaccount:longhorn-system:longhorn-service-account";
    let v = judge(bad.clone(), None, sa);
    assert!(v.allowed(), "{v:?}");
    assert_eq!(v.flagged_by, ["LTG-W014"]);
    assert_eq!(
        v.warnings,
        [
            "ConfigMap longhorn-system/longhorn-default-setting: default-data-path \"/mnt/ssd\" is not a usable data path on Talos"
        ]
    );
    // The same write by anyone else is denied.
    assert!(
        !judge(
            bad,
            None,
            "system:serviceaccount:flux-system:kustomize-controller"
        )
        .allowed()
    );
}
