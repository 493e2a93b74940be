//! The YAML shapes of Talos documents as written, read leniently: only the
//! fields the checks need are modelled and every other field is skipped.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A scalar read as its exact text: `1024`, `on`, `y` and `"1024"` all stay
/// the text written (the type asks for a string, so YAML 1.1 resolution of
/// `on`/`y` to booleans never happens); null reads as `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scalar(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<String>::deserialize(d).map(Scalar)
    }
}

impl Scalar {
    pub(crate) fn text(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A mapping read as `T`; any other node (a list, a scalar, null) is skipped,
/// so a field that another document kind spells differently cannot break
/// loading.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lenient<T>(pub(crate) Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Lenient<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list read as `Vec<T>`; any other node is skipped (see [`Lenient`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LenientList<T>(pub(crate) Vec<T>);

impl<T> Default for LenientList<T> {
    fn default() -> Self {
        LenientList(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LenientList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = LenientList<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LenientList<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<T>()? {
                    out.push(item);
                }
                Ok(LenientList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientList<T>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientList(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<LenientList<T>, E> {
                Ok(LenientList(Vec::new()))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<LenientList<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A mapping of scalars with the position of each value; any other node is skipped.
pub(crate) type ScalarMap = Lenient<BTreeMap<String, Spanned<Scalar>>>;

/// Any document of a stream. The legacy document, the `kind` documents and
/// schematics share this one shape; fields one kind does not use stay empty.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDocument {
    #[serde(default)]
    pub(crate) version: Scalar,
    #[serde(default)]
    pub(crate) api_version: Scalar,
    #[serde(default)]
    pub(crate) kind: Scalar,
    #[serde(default)]
    pub(crate) name: Scalar,
    #[serde(default)]
    pub(crate) machine: Lenient<RawMachine>,
    #[serde(default)]
    pub(crate) cluster: Lenient<RawCluster>,
    #[serde(default)]
    pub(crate) customization: Lenient<RawCustomization>,
    /// `SysctlConfig.params`.
    #[serde(default)]
    pub(crate) params: ScalarMap,
    /// `UserVolumeConfig.volumeType`.
    #[serde(default)]
    pub(crate) volume_type: Scalar,
    /// `KubeAdmissionControlConfig.configuration`: the configuration of the
    /// plugin the document's `name` names.
    #[serde(default)]
    pub(crate) configuration: Lenient<RawPodSecurityConfiguration>,
    /// `$patch: delete` in a patch removes the document it matches.
    #[serde(default, rename = "$patch")]
    pub(crate) patch: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawMachine {
    #[serde(default)]
    pub(crate) install: Lenient<RawInstall>,
    #[serde(default)]
    pub(crate) kubelet: Lenient<RawKubelet>,
    #[serde(default)]
    pub(crate) sysctls: ScalarMap,
    #[serde(default)]
    pub(crate) kernel: Lenient<RawKernel>,
    #[serde(default)]
    pub(crate) node_labels: ScalarMap,
    #[serde(default)]
    pub(crate) node_annotations: ScalarMap,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawInstall {
    #[serde(default)]
    pub(crate) image: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub(crate) extensions: LenientList<Spanned<Lenient<RawInstallExtension>>>,
    #[serde(default)]
    pub(crate) extra_kernel_args: LenientList<Spanned<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawInstallExtension {
    #[serde(default)]
    pub(crate) image: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawKubelet {
    #[serde(default)]
    pub(crate) extra_mounts: LenientList<Spanned<Lenient<RawExtraMount>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawExtraMount {
    #[serde(default)]
    pub(crate) destination: Scalar,
    #[serde(default, rename = "type")]
    pub(crate) mount_type: Scalar,
    #[serde(default)]
    pub(crate) source: Scalar,
    #[serde(default)]
    pub(crate) options: LenientList<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawKernel {
    #[serde(default)]
    pub(crate) modules: LenientList<Spanned<Lenient<RawKernelModule>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawKernelModule {
    #[serde(default)]
    pub(crate) name: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCluster {
    #[serde(default)]
    pub(crate) api_server: Lenient<RawApiServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawApiServer {
    #[serde(default)]
    pub(crate) admission_control: LenientList<Spanned<Lenient<RawAdmissionPlugin>>>,
}

/// One admission plugin entry: `{name, configuration}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawAdmissionPlugin {
    #[serde(default)]
    pub(crate) name: Scalar,
    #[serde(default)]
    pub(crate) configuration: Lenient<RawPodSecurityConfiguration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPodSecurityConfiguration {
    #[serde(default)]
    pub(crate) defaults: Lenient<RawPodSecurityDefaults>,
    #[serde(default)]
    pub(crate) exemptions: Lenient<RawPodSecurityExemptions>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPodSecurityDefaults {
    #[serde(default)]
    pub(crate) enforce: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawPodSecurityExemptions {
    #[serde(default)]
    pub(crate) namespaces: LenientList<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawCustomization {
    #[serde(default)]
    pub(crate) system_extensions: Lenient<RawSystemExtensions>,
    #[serde(default)]
    pub(crate) extra_kernel_args: LenientList<Spanned<Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawSystemExtensions {
    #[serde(default)]
    pub(crate) official_extensions: LenientList<Spanned<Scalar>>,
}
