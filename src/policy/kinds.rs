//! The kinds of object the webhook decodes, as one table: the request's
//! group and kind, the label used in logs and metrics, and the typed view in
//! [`super::objects`]. Adding a kind is one line of [`kinds!`] below.

use serde::{Deserialize, Deserializer};

use super::Pair;
use super::objects;

macro_rules! kinds {
    ($( $variant:ident => ($group:literal, $kind:literal, $label:literal, $ty:ident) ),* $(,)?) => {
        /// The kinds of object the rules judge.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $(
                #[doc = concat!("`", $label, "`.")]
                $variant,
            )*
        }

        impl Kind {
            /// Every kind, in table order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// Maps a request's group and kind to a handled kind (any version:
            /// the fields read are the same in every served version).
            pub fn from_group_kind(group: &str, kind: &str) -> Option<Kind> {
                match (group, kind) {
                    $( ($group, $kind) => Some(Kind::$variant), )*
                    _ => None,
                }
            }

            /// A short label for logs and metrics.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Kind::$variant => $label, )*
                }
            }
        }

        /// The object under review, typed by its kind.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Subject<'a> {
            $(
                #[doc = concat!("A `", $label, "`.")]
                $variant(Pair<objects::$ty<'a>>),
            )*
        }

        impl<'a> Subject<'a> {
            /// The kind of object.
            pub fn kind(&self) -> Kind {
                match self {
                    $( Subject::$variant(_) => Kind::$variant, )*
                }
            }

            /// The subject of `kind` from its decoded objects (an object of
            /// another kind counts as absent).
            pub fn from_objects(
                kind: Kind,
                object: Option<AnyObject<'a>>,
                old: Option<AnyObject<'a>>,
            ) -> Subject<'a> {
                match kind {
                    $(
                        Kind::$variant => Subject::$variant(Pair {
                            object: match object {
                                Some(AnyObject::$variant(o)) => Some(o),
                                _ => None,
                            },
                            old: match old {
                                Some(AnyObject::$variant(o)) => Some(o),
                                _ => None,
                            },
                        }),
                    )*
                }
            }
        }

        /// One decoded `object` or `oldObject`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyObject<'a> {
            $(
                #[doc = concat!("A `", $label, "`.")]
                $variant(objects::$ty<'a>),
            )*
        }

        impl<'a> AnyObject<'a> {
            /// Decodes an object of `kind` (`null` is `None`).
            pub fn deserialize<D: Deserializer<'a>>(
                kind: Kind,
                d: D,
            ) -> Result<Option<AnyObject<'a>>, D::Error> {
                Ok(match kind {
                    $( Kind::$variant => Option::<objects::$ty<'a>>::deserialize(d)?.map(AnyObject::$variant), )*
                })
            }
        }
    };
}

impl<'a> Subject<'a> {
    /// The controller kind and its objects, when the subject is a pod controller.
    pub fn pod_controller(&self) -> Option<(&'static str, &Pair<objects::PodController<'a>>)> {
        match self {
            Subject::DaemonSet(p) => Some(("DaemonSet", p)),
            Subject::Deployment(p) => Some(("Deployment", p)),
            Subject::StatefulSet(p) => Some(("StatefulSet", p)),
            Subject::ReplicaSet(p) => Some(("ReplicaSet", p)),
            Subject::Job(p) => Some(("Job", p)),
            Subject::CronJob(p) => Some(("CronJob", p)),
            _ => None,
        }
    }
}

kinds! {
    Namespace => ("", "Namespace", "Namespace", Namespace),
    Pod => ("", "Pod", "Pod", Pod),
    LonghornNode => ("longhorn.io", "Node", "nodes.longhorn.io", LonghornNode),
    LonghornSetting => ("longhorn.io", "Setting", "settings.longhorn.io", Setting),
    KubeNode => ("", "Node", "Node", KubeNode),
    ConfigMap => ("", "ConfigMap", "ConfigMap", ConfigMap),
    DaemonSet => ("apps", "DaemonSet", "DaemonSet", PodController),
    Deployment => ("apps", "Deployment", "Deployment", PodController),
    StatefulSet => ("apps", "StatefulSet", "StatefulSet", PodController),
    ReplicaSet => ("apps", "ReplicaSet", "ReplicaSet", PodController),
    Job => ("batch", "Job", "Job", PodController),
    CronJob => ("batch", "CronJob", "CronJob", PodController),
}
