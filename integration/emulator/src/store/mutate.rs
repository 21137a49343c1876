//! The write verbs: create (generateName, namespace checks, Service defaulting and
//! cluster-IP allocation), update (preconditions, immutable fields, `generation`), delete
//! (namespace contents included) and delete-collection. Every change is committed through
//! the store's `write` (in `reconcile`).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::super::controllers;
use super::super::meta::{self, meta_str, metadata_mut};
use super::super::rbac;
use super::super::resources::{self, ResourceDef};
use super::super::status::ApiError;
use super::validate::{check_type, res_of, strip_meta_status, valid_name};
use super::{DYNAMIC_IP_START, ListOpts, Obj, ObjKey, Store};

/// One past the last allocatable address (10.0.0.0/16).
const DYNAMIC_IP_END: u32 = u32::from_be_bytes([10, 1, 0, 0]);

impl Store {
    /// Creates an object whose resource is taken from its `apiVersion`/`kind`.
    pub fn create_value(&mut self, obj: Value) -> Result<Obj, ApiError> {
        let res = res_of(&obj)?;
        let ns = meta_str(&obj, "namespace").unwrap_or("default").to_string();
        self.create(res, &ns, obj)
    }

    /// POST: creates an object (409 AlreadyExists; `generateName`; Service defaulting and
    /// cluster-IP allocation; 404 when the namespace does not exist).
    pub fn create(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        mut obj: Value,
    ) -> Result<Obj, ApiError> {
        check_type(res, &obj)?;
        if !res.stored() {
            return Err(ApiError::bad_request(format!(
                "{} objects are evaluated, not stored",
                res.kind
            )));
        }
        rbac::validate(res.kind, &obj)
            .map_err(|m| ApiError::invalid(res, meta_str(&obj, "name").unwrap_or(""), m))?;
        let ns = if res.namespaced {
            match meta_str(&obj, "namespace") {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => ns.to_string(),
            }
        } else {
            String::new()
        };
        if res.namespaced {
            let ns_res = resources::by_plural("namespaces")
                .ok_or_else(|| ApiError::internal("no namespaces"))?;
            if self.get(ns_res, "", &ns).is_err() {
                return Err(ApiError::not_found(ns_res, &ns));
            }
        }
        let mut name = meta_str(&obj, "name").unwrap_or("").to_string();
        if name.is_empty() {
            let generate = meta_str(&obj, "generateName").unwrap_or("").to_string();
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    res,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            name = loop {
                let candidate = format!("{generate}{}", meta::random_suffix());
                if self.get(res, &ns, &candidate).is_err() {
                    break candidate;
                }
            };
        }
        if !valid_name(res, &name) {
            return Err(ApiError::invalid(
                res,
                &name,
                format!(
                    "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ),
            ));
        }
        if self.get(res, &ns, &name).is_ok() {
            return Err(ApiError::already_exists(res, &name));
        }
        let now = meta::format_rfc3339(meta::now_unix());
        if let Some(m) = metadata_mut(&mut obj) {
            m.insert("name".into(), json!(name));
            if res.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(meta::new_uid()));
            m.insert("creationTimestamp".into(), json!(now));
            m.insert("generation".into(), json!(1));
            m.remove("deletionTimestamp");
            m.remove("resourceVersion");
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        match res.kind {
            "Service" => self.prepare_service(&mut obj, None, &name, res)?,
            "Namespace" => {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
                obj["status"] = json!({"phase": "Active"});
            }
            _ => {}
        }
        Ok(self.write(res, Self::key(res, &ns, &name), Some(obj)))
    }

    /// Service defaulting and cluster-IP allocation / immutability check.
    fn prepare_service(
        &mut self,
        obj: &mut Value,
        old: Option<&Value>,
        name: &str,
        res: &ResourceDef,
    ) -> Result<(), ApiError> {
        if let Some(old_ip) = old
            .and_then(|o| o["spec"]["clusterIP"].as_str())
            .filter(|s| !s.is_empty())
        {
            match obj["spec"]["clusterIP"].as_str() {
                None | Some("") if obj["spec"]["type"] != "ExternalName" => {
                    obj["spec"]["clusterIP"] = json!(old_ip);
                }
                Some(new_ip)
                    if new_ip != old_ip
                        && obj["spec"]["type"] != "ExternalName"
                        && old.is_some_and(|o| o["spec"]["type"] != "ExternalName") =>
                {
                    return Err(ApiError::invalid(
                        res,
                        name,
                        "spec.clusterIPs[0]: Invalid value: field is immutable",
                    ));
                }
                _ => {}
            }
        } else if controllers::needs_cluster_ip(obj) {
            let ip = self
                .allocate_ip()
                .ok_or_else(|| ApiError::internal("cluster IP range exhausted"))?;
            if obj["spec"].is_null() {
                obj["spec"] = json!({});
            }
            obj["spec"]["clusterIP"] = json!(ip);
        } else if let Some(ip) = controllers::cluster_ip(obj)
            && self.used_ips.contains(&ip)
        {
            return Err(ApiError::invalid(
                res,
                name,
                format!(
                    "spec.clusterIPs: Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: provided IP is already allocated"
                ),
            ));
        }
        controllers::default_service(obj);
        Ok(())
    }

    fn allocate_ip(&mut self) -> Option<String> {
        for _ in DYNAMIC_IP_START..DYNAMIC_IP_END {
            let ip = Ipv4Addr::from(self.next_ip).to_string();
            self.next_ip = if self.next_ip + 1 >= DYNAMIC_IP_END {
                DYNAMIC_IP_START
            } else {
                self.next_ip + 1
            };
            if !self.used_ips.contains(&ip) {
                return Some(ip);
            }
        }
        None
    }

    /// PUT (and the second half of PATCH): replaces an object. A `metadata.resourceVersion`
    /// in the body must match the stored one (409 Conflict); uid, creationTimestamp and
    /// namespace are preserved; an update that changes nothing does not bump the version.
    pub fn update(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
        mut obj: Value,
    ) -> Result<Obj, ApiError> {
        check_type(res, &obj)?;
        let existing = self.get(res, ns, name)?;
        rbac::validate(res.kind, &obj).map_err(|m| ApiError::invalid(res, name, m))?;
        if res.kind.ends_with("RoleBinding") && obj.get("roleRef") != existing.get("roleRef") {
            return Err(ApiError::invalid(
                res,
                name,
                "roleRef: Invalid value: cannot change roleRef",
            ));
        }
        if let Some(body_name) = meta_str(&obj, "name").filter(|n| !n.is_empty())
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if let Some(rv) = meta_str(&obj, "resourceVersion").filter(|r| !r.is_empty())
            && Some(rv) != meta_str(&existing, "resourceVersion")
        {
            return Err(ApiError::conflict(res, name));
        }
        if let Some(m) = metadata_mut(&mut obj) {
            m.insert("name".into(), json!(name));
            for f in [
                "uid",
                "creationTimestamp",
                "namespace",
                "resourceVersion",
                "generation",
            ] {
                match existing["metadata"].get(f) {
                    Some(v) => m.insert(f.into(), v.clone()),
                    None => m.remove(f),
                };
            }
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if res.kind == "Service" {
            self.prepare_service(&mut obj, Some(&existing), name, res)?;
        }
        if obj == *existing {
            return Ok(existing);
        }
        let changed_spec = strip_meta_status(&obj) != strip_meta_status(&existing);
        if changed_spec {
            let g = existing["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            obj["metadata"]["generation"] = json!(g);
        }
        Ok(self.write(res, Self::key(res, ns, name), Some(obj)))
    }

    /// DELETE: removes an object (a Namespace takes its contents with it). Returns the
    /// object as last stored, with the deletion's resourceVersion.
    pub fn delete(
        &mut self,
        res: &'static ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Obj, ApiError> {
        self.get(res, ns, name)?;
        if res.kind == "Namespace" {
            for r in resources::RESOURCES.iter().filter(|r| r.namespaced) {
                let keys: Vec<ObjKey> = self
                    .map(r)
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                    .filter(|k| k.namespace == name)
                    .collect();
                for k in keys {
                    if self.map(r).is_some_and(|m| m.contains_key(&k)) {
                        self.write(r, k, None);
                    }
                }
            }
        }
        Ok(self.write(res, Self::key(res, ns, name), None))
    }

    /// DELETE on a collection: deletes every object matching the selectors.
    pub fn delete_collection(
        &mut self,
        res: &'static ResourceDef,
        ns: Option<&str>,
        opts: &ListOpts,
    ) -> Result<Vec<Obj>, ApiError> {
        let all = self.list(
            res,
            ns,
            &ListOpts {
                labels: opts.labels.clone(),
                fields: opts.fields.clone(),
                ..ListOpts::default()
            },
        )?;
        let mut out = Vec::new();
        for o in all.items {
            let ns = meta_str(&o, "namespace").unwrap_or("").to_string();
            let name = meta_str(&o, "name").unwrap_or("").to_string();
            if self.get(res, &ns, &name).is_ok() {
                out.push(self.delete(res, &ns, &name)?);
            }
        }
        Ok(out)
    }
}
