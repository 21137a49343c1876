//! Typed keys of the objects the writer holds: a Service by namespace and name, an endpoint
//! source object (EndpointSlice or Endpoints) by namespace and [`EndpointObject`]. The
//! watch machine keys its objects with the same types, so a delete names exactly one object.

use crate::model::{EndpointGroup, EndpointObject, Service};

/// A Service: `<namespace>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
}

impl ServiceKey {
    /// Key of `<name>` in `<namespace>`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// Key of a Service.
    pub fn of(s: &Service) -> Self {
        Self::new(&s.namespace, &s.name)
    }

    /// Key of the Service an endpoint group belongs to.
    pub fn owner_of(g: &EndpointGroup) -> Self {
        Self::new(&g.namespace, &g.service)
    }
}

/// One endpoint source object: an EndpointSlice or an Endpoints object in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SliceKey {
    /// Namespace.
    pub namespace: String,
    /// Which object.
    pub object: EndpointObject,
}

impl SliceKey {
    /// Key of `object` in `namespace`.
    pub fn new(namespace: &str, object: EndpointObject) -> Self {
        Self {
            namespace: namespace.to_string(),
            object,
        }
    }

    /// Key of an endpoint group.
    pub fn of(g: &EndpointGroup) -> Self {
        Self::new(&g.namespace, g.key.clone())
    }
}
