//! Parsing a request path into a [`Route`]: a group/version resource list, a group, or a
//! resource path (namespace, name, subresource, legacy `/watch/` prefix).

use crate::resources::{self, ResourceDef};

/// A parsed API path.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `/api/v1` or `/apis/<g>/<v>`.
    ResourceList(String, String),
    /// `/apis/<g>`.
    Group(String),
    /// A resource path.
    Resource {
        /// Resource.
        res: &'static ResourceDef,
        /// Namespace from the path.
        ns: Option<String>,
        /// Object name.
        name: Option<String>,
        /// Subresource (`status`).
        sub: Option<String>,
        /// Legacy `/watch/` prefix.
        watch: bool,
    },
}

/// Parses a request path into a [`Route`].
pub fn parse_path(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, mut rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g] if resources::groups().iter().any(|(gg, _)| gg == g) => {
            return Some(Route::Group((*g).into()));
        }
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    if resources::in_group_version(group, version).is_empty() {
        return None;
    }
    let mut watch = false;
    if rest.first() == Some(&"watch") {
        watch = true;
        rest = &rest[1..];
    }
    let find = |p: &str| resources::find(group, version, p);
    let route = |res, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| Route::Resource {
        res,
        ns: ns.map(str::to_string),
        name: name.map(str::to_string),
        sub: sub.map(str::to_string),
        watch,
    };
    match rest {
        [] if !watch => Some(Route::ResourceList(group.into(), version.into())),
        ["namespaces", ns, p, tail @ ..] if find(p).is_some_and(|r| r.namespaced) => {
            let res = find(p)?;
            match tail {
                [] => Some(route(res, Some(ns), None, None)),
                [name] => Some(route(res, Some(ns), Some(name), None)),
                [name, sub] => Some(route(res, Some(ns), Some(name), Some(sub))),
                _ => None,
            }
        }
        [p, tail @ ..] => {
            let res = find(p)?;
            match tail {
                [] => Some(route(res, None, None, None)),
                [name] if !res.namespaced => Some(route(res, None, Some(name), None)),
                [name, sub] if !res.namespaced => Some(route(res, None, Some(name), Some(sub))),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let r = |p: &str| parse_path(p);
        assert_eq!(
            r("/api/v1"),
            Some(Route::ResourceList("".into(), "v1".into()))
        );
        assert_eq!(
            r("/apis/discovery.k8s.io"),
            Some(Route::Group("discovery.k8s.io".into()))
        );
        match r("/api/v1/namespaces/kube-system/services/kube-dns") {
            Some(Route::Resource {
                res,
                ns,
                name,
                sub,
                watch,
            }) => {
                assert_eq!(res.plural, "services");
                assert_eq!(ns.as_deref(), Some("kube-system"));
                assert_eq!(name.as_deref(), Some("kube-dns"));
                assert!(sub.is_none() && !watch);
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/api/v1/namespaces/foo") {
            Some(Route::Resource { res, ns, name, .. }) => {
                assert_eq!(res.plural, "namespaces");
                assert!(ns.is_none());
                assert_eq!(name.as_deref(), Some("foo"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/api/v1/namespaces/foo/status") {
            Some(Route::Resource { res, sub, .. }) => {
                assert_eq!(res.plural, "namespaces");
                assert_eq!(sub.as_deref(), Some("status"));
            }
            other => panic!("unexpected {other:?}"),
        }
        match r("/apis/discovery.k8s.io/v1/watch/endpointslices") {
            Some(Route::Resource {
                res, watch, name, ..
            }) => {
                assert_eq!(res.plural, "endpointslices");
                assert!(watch && name.is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(r("/api/v1/services/x"), None);
        assert_eq!(r("/api/v1/deployments"), None);
        assert_eq!(r("/apis/apps/v1/deployments"), None);
        assert_eq!(r("/openapi/v2"), None);
    }
}
