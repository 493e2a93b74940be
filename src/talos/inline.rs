//! A machine-config patch that carries Kubernetes manifests as
//! `cluster.inlineManifests`, so that Talos applies them when the control
//! plane boots: the guard is in place before anyone installs Longhorn.

use serde::Deserialize;

use super::TalosError;

/// The patch with `manifests` (a YAML stream, e.g. `kubectl kustomize
/// manifests/base` or `helm template` output) as the inline manifest `name`.
/// The manifests must parse as YAML; the contents are kept byte for byte
/// (a block scalar when that reads back the same, else a quoted string).
pub fn inline_manifests_patch(name: &str, manifests: &str) -> Result<String, TalosError> {
    inline_manifests_patch_of(&[(name, manifests)])
}

/// [`inline_manifests_patch`] for several inline manifests, in the order given
/// (Talos applies them in that order).
pub fn inline_manifests_patch_of(entries: &[(&str, &str)]) -> Result<String, TalosError> {
    let parse_error = |name: &str, message: String| TalosError::Parse {
        file: format!("(manifests {name})"),
        line: None,
        column: None,
        message,
    };
    let names: Vec<&str> = entries.iter().map(|(n, _)| *n).collect();
    let header = format!(
        "# {} as Talos inline manifests (cluster.inlineManifests): the control plane\n\
# applies them at boot, before Longhorn is installed. Apply to the control-plane nodes:\n\
#   talosctl patch machineconfig --nodes <control plane> --patch @this-file.yaml\n",
        names.join(", ")
    );
    let header = if entries.len() == 1 {
        header
            .replacen(
                " as Talos inline manifests",
                " as a Talos inline manifest",
                1,
            )
            .replacen("applies them at boot", "applies it at boot", 1)
    } else {
        header
    };
    let mut out = format!("{header}cluster:\n  inlineManifests:\n");
    for (name, manifests) in entries {
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(manifests).map_err(|e| parse_error(name, e.to_string()))?;
        if docs.iter().all(serde_json::Value::is_null) {
            return Err(parse_error(name, "no manifest to inline".into()));
        }
        let quoted_name = serde_json::Value::String(name.to_string()).to_string();
        let mut block = String::new();
        for line in manifests.lines() {
            block.push_str("        ");
            block.push_str(line);
            block.push('\n');
        }
        let readable = format!("    - name: {quoted_name}\n      contents: |2\n{block}");
        let alone = format!("cluster:\n  inlineManifests:\n{readable}");
        let back = read_back(&alone);
        if back.as_deref() == Some(manifests.trim_end_matches('\n'))
            || back.as_deref() == Some(*manifests)
        {
            out.push_str(&readable);
        } else {
            let quoted = serde_json::Value::String(manifests.to_string()).to_string();
            out.push_str(&format!(
                "    - name: {quoted_name}\n      contents: {quoted}\n"
            ));
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Patch {
    cluster: Cluster,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cluster {
    inline_manifests: Vec<InlineManifest>,
}

#[derive(Deserialize)]
struct InlineManifest {
    contents: String,
}

/// The contents of the first inline manifest of `patch`, as a YAML reader sees it.
fn read_back(patch: &str) -> Option<String> {
    let p: Patch = serde_saphyr::from_str(patch).ok()?;
    p.cluster
        .inline_manifests
        .into_iter()
        .next()
        .map(|m| m.contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_round_trip() {
        for manifests in [
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: longhorn-talos-guard\n",
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: |\n    indented\n      more\n",
            "  leading: spaces\n",
        ] {
            let patch = inline_manifests_patch("longhorn-talos-guard", manifests).unwrap();
            let back = read_back(&patch).unwrap();
            assert_eq!(
                back.trim_end_matches('\n'),
                manifests.trim_end_matches('\n'),
                "{patch}"
            );
        }
        let two = inline_manifests_patch_of(&[("a", "kind: A\n"), ("b", "kind: B\n")]).unwrap();
        let p: Patch = serde_saphyr::from_str(&two).unwrap();
        let got: Vec<&str> = p
            .cluster
            .inline_manifests
            .iter()
            .map(|m| m.contents.as_str())
            .collect();
        assert_eq!(got, ["kind: A\n", "kind: B\n"]);
        assert!(inline_manifests_patch("x", "").is_err());
        assert!(inline_manifests_patch("x", "a: [unclosed").is_err());
    }
}
