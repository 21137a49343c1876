//! The resource table served by the emulator: which API groups, versions, plurals, kinds and
//! short names exist, whether they are namespaced, and the verbs advertised in discovery.
//! Everything else in the emulator looks resources up here; adding a resource is one row.

/// One served resource type (a row of `/api/v1` or `/apis/<group>/<version>` discovery).
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version inside the group.
    pub version: &'static str,
    /// Plural resource name used in URLs (`services`).
    pub plural: &'static str,
    /// Singular name (`service`).
    pub singular: &'static str,
    /// Kind (`Service`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names (`svc`).
    pub short_names: &'static [&'static str],
    /// Whether the resource has a `/status` subresource.
    pub has_status: bool,
    /// Verbs advertised in discovery ([`VERBS`] for stored resources, [`CREATE_ONLY`] for
    /// the access reviews).
    pub verbs: &'static [&'static str],
}

impl ResourceDef {
    /// `apiVersion` of objects of this resource (`v1`, `discovery.k8s.io/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as used in Status details and RBAC messages (`endpointslices.discovery.k8s.io`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the list type (`ServiceList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Whether objects are stored (false for the create-only access reviews, which are
    /// evaluated and answered, never kept).
    pub fn stored(&self) -> bool {
        self.group != REVIEW_GROUP
    }
}

/// API group of the access reviews (`selfsubjectaccessreviews`, `subjectaccessreviews`).
pub const REVIEW_GROUP: &str = "authorization.k8s.io";
/// API group of Roles, ClusterRoles and their bindings.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Verbs of the create-only review resources.
pub const CREATE_ONLY: &[&str] = &["create"];

/// Verbs every served resource supports (advertised in discovery).
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// All resources the emulator serves.
pub static RESOURCES: &[ResourceDef] = &[
    ResourceDef {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        has_status: true,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        has_status: true,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "endpoints",
        singular: "endpoints",
        kind: "Endpoints",
        namespaced: true,
        short_names: &["ep"],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        has_status: true,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        has_status: true,
        verbs: VERBS,
    },
    ResourceDef {
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        singular: "endpointslice",
        kind: "EndpointSlice",
        namespaced: true,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        has_status: false,
        verbs: VERBS,
    },
    ResourceDef {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "selfsubjectaccessreviews",
        singular: "",
        kind: "SelfSubjectAccessReview",
        namespaced: false,
        short_names: &[],
        has_status: false,
        verbs: CREATE_ONLY,
    },
    ResourceDef {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "subjectaccessreviews",
        singular: "",
        kind: "SubjectAccessReview",
        namespaced: false,
        short_names: &[],
        has_status: false,
        verbs: CREATE_ONLY,
    },
    ResourceDef {
        group: "authorization.k8s.io",
        version: "v1",
        plural: "localsubjectaccessreviews",
        singular: "",
        kind: "LocalSubjectAccessReview",
        namespaced: true,
        short_names: &[],
        has_status: false,
        verbs: CREATE_ONLY,
    },
];

/// Looks a resource up by group, version and plural (the URL triple).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Looks a resource up by plural only (plurals are unique in this table).
pub fn by_plural(plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.plural == plural)
}

/// Looks a resource up by `apiVersion` and `kind` of an object.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// The API groups other than core, in discovery order.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

/// The resources of one group/version.
pub fn in_group_version(group: &str, version: &str) -> Vec<&'static ResourceDef> {
    RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(find("", "v1", "services").map(|r| r.kind), Some("Service"));
        assert!(find("", "v1", "endpointslices").is_none());
        let es = by_kind("discovery.k8s.io/v1", "EndpointSlice").expect("slice");
        assert_eq!(es.qualified(), "endpointslices.discovery.k8s.io");
        assert_eq!(es.list_kind(), "EndpointSliceList");
        assert_eq!(groups()[0], ("discovery.k8s.io", "v1"));
        assert!(groups().contains(&(RBAC_GROUP, "v1")));
        assert_eq!(in_group_version("", "v1").len(), 8);
        let ssar = by_plural("selfsubjectaccessreviews").expect("ssar");
        assert!(!ssar.stored() && ssar.verbs == CREATE_ONLY);
        assert!(by_plural("clusterroles").is_some_and(|r| r.stored() && !r.namespaced));
    }
}
