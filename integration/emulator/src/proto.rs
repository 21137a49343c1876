//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded with the `k8s-pb`
//! message types (prost) into the JSON form the emulator stores: the `k8s\0` envelope
//! (`runtime.Unknown`: typeMeta, raw), then the object named by its kind. These are the bodies
//! kubectl sends as protobuf: its imperative generators (`kubectl create configmap`,
//! `create service …`, `create namespace`, `expose`) and access reviews (`kubectl auth
//! can-i`). Responses stay JSON, which every such client also accepts.

use std::collections::BTreeMap;

use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value, json};

/// Prefix of every protobuf-encoded Kubernetes object.
pub const MAGIC: &[u8] = b"k8s\0";

/// A protobuf body that cannot be decoded or is of a kind the emulator does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not an envelope, or a message that does not decode.
    #[error("malformed protobuf body: {0}")]
    Malformed(String),
    /// A well-formed object of a kind without a decoder here.
    #[error("the emulator does not read protobuf {0} objects; send JSON or YAML")]
    Unsupported(String),
}

fn malformed(e: impl std::fmt::Display) -> ProtoError {
    ProtoError::Malformed(e.to_string())
}

/// Inserts `v` under `k` unless it is absent/empty.
fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    match v {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::Array(a)) if a.is_empty() => {}
        Some(Value::Object(o)) if o.is_empty() => {}
        Some(v) => {
            m.insert(k.to_string(), v);
        }
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    json!(m)
}

fn metadata(meta: Option<&ObjectMeta>) -> Value {
    let mut m = Map::new();
    if let Some(meta) = meta {
        put(&mut m, "name", meta.name.clone().map(Value::from));
        put(
            &mut m,
            "generateName",
            meta.generate_name.clone().map(Value::from),
        );
        put(&mut m, "namespace", meta.namespace.clone().map(Value::from));
        put(
            &mut m,
            "resourceVersion",
            meta.resource_version.clone().map(Value::from),
        );
        put(&mut m, "labels", Some(string_map(&meta.labels)));
        put(&mut m, "annotations", Some(string_map(&meta.annotations)));
        put(&mut m, "finalizers", Some(json!(meta.finalizers)));
    }
    Value::Object(m)
}

fn int_or_string(v: &IntOrString) -> Value {
    // type 0 = Int, 1 = String (k8s.io/apimachinery/pkg/util/intstr).
    match v.r#type {
        Some(1) => json!(v.str_val.clone().unwrap_or_default()),
        _ => json!(v.int_val.unwrap_or(0)),
    }
}

fn service(s: core::Service) -> Value {
    let mut spec = Map::new();
    if let Some(sp) = &s.spec {
        let ports: Vec<Value> = sp
            .ports
            .iter()
            .map(|p| {
                let mut m = Map::new();
                put(&mut m, "name", p.name.clone().map(Value::from));
                put(&mut m, "protocol", p.protocol.clone().map(Value::from));
                put(
                    &mut m,
                    "appProtocol",
                    p.app_protocol.clone().map(Value::from),
                );
                put(&mut m, "port", p.port.map(Value::from));
                put(
                    &mut m,
                    "targetPort",
                    p.target_port.as_ref().map(int_or_string),
                );
                put(
                    &mut m,
                    "nodePort",
                    p.node_port.filter(|n| *n != 0).map(Value::from),
                );
                Value::Object(m)
            })
            .collect();
        put(&mut spec, "ports", Some(Value::Array(ports)));
        put(&mut spec, "selector", Some(string_map(&sp.selector)));
        put(
            &mut spec,
            "clusterIP",
            sp.cluster_ip.clone().map(Value::from),
        );
        put(&mut spec, "clusterIPs", Some(json!(sp.cluster_ips)));
        put(&mut spec, "type", sp.r#type.clone().map(Value::from));
        put(&mut spec, "externalIPs", Some(json!(sp.external_ips)));
        put(
            &mut spec,
            "externalName",
            sp.external_name.clone().map(Value::from),
        );
        put(
            &mut spec,
            "sessionAffinity",
            sp.session_affinity.clone().map(Value::from),
        );
        put(&mut spec, "ipFamilies", Some(json!(sp.ip_families)));
        put(
            &mut spec,
            "ipFamilyPolicy",
            sp.ip_family_policy.clone().map(Value::from),
        );
        put(
            &mut spec,
            "publishNotReadyAddresses",
            sp.publish_not_ready_addresses.map(Value::from),
        );
        put(
            &mut spec,
            "internalTrafficPolicy",
            sp.internal_traffic_policy.clone().map(Value::from),
        );
    }
    json!({"metadata": metadata(s.metadata.as_ref()), "spec": spec})
}

fn config_map(c: core::ConfigMap) -> Value {
    let mut out = json!({"metadata": metadata(c.metadata.as_ref())});
    if !c.data.is_empty() {
        out["data"] = string_map(&c.data);
    }
    if !c.binary_data.is_empty() {
        use std::fmt::Write as _;
        // JSON carries binaryData as base64 (RFC 4648 §4, with padding).
        let b64: BTreeMap<String, String> = c
            .binary_data
            .iter()
            .map(|(k, v)| {
                const ABC: &[u8; 64] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let mut s = String::new();
                for chunk in v.chunks(3) {
                    let n = chunk.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b))
                        << (8 * (3 - chunk.len()));
                    for i in 0..4 {
                        if i <= chunk.len() {
                            let _ =
                                s.write_char(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
                        } else {
                            s.push('=');
                        }
                    }
                }
                (k.clone(), s)
            })
            .collect();
        out["binaryData"] = json!(b64);
    }
    if let Some(i) = c.immutable {
        out["immutable"] = json!(i);
    }
    out
}

fn resource_attributes(r: &authz::ResourceAttributes) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("namespace", &r.namespace),
        ("verb", &r.verb),
        ("group", &r.group),
        ("version", &r.version),
        ("resource", &r.resource),
        ("subresource", &r.subresource),
        ("name", &r.name),
    ] {
        put(&mut m, k, v.clone().map(Value::from));
    }
    Value::Object(m)
}

fn non_resource_attributes(r: &authz::NonResourceAttributes) -> Value {
    let mut m = Map::new();
    put(&mut m, "path", r.path.clone().map(Value::from));
    put(&mut m, "verb", r.verb.clone().map(Value::from));
    Value::Object(m)
}

fn review_spec(
    ra: Option<&authz::ResourceAttributes>,
    nra: Option<&authz::NonResourceAttributes>,
) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "resourceAttributes", ra.map(resource_attributes));
    put(
        &mut m,
        "nonResourceAttributes",
        nra.map(non_resource_attributes),
    );
    m
}

fn subject_review_spec(s: Option<&authz::SubjectAccessReviewSpec>) -> Value {
    let Some(s) = s else {
        return json!({});
    };
    let mut m = review_spec(
        s.resource_attributes.as_ref(),
        s.non_resource_attributes.as_ref(),
    );
    put(&mut m, "user", s.user.clone().map(Value::from));
    put(&mut m, "groups", Some(json!(s.groups)));
    put(&mut m, "uid", s.uid.clone().map(Value::from));
    Value::Object(m)
}

/// Decodes a protobuf body (with its `k8s\0` envelope) into its JSON object, `apiVersion` and
/// `kind` included.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("missing k8s envelope"))?;
    let unknown = Unknown::decode(inner).map_err(malformed)?;
    let tm = unknown.type_meta.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let raw = raw.as_slice();
    let mut obj = match kind.as_str() {
        "Service" => service(core::Service::decode(raw).map_err(malformed)?),
        "ConfigMap" => config_map(core::ConfigMap::decode(raw).map_err(malformed)?),
        "Namespace" => {
            let n = core::Namespace::decode(raw).map_err(malformed)?;
            json!({"metadata": metadata(n.metadata.as_ref())})
        }
        "SelfSubjectAccessReview" => {
            let r = authz::SelfSubjectAccessReview::decode(raw).map_err(malformed)?;
            let spec = r.spec.unwrap_or_default();
            json!({"metadata": metadata(r.metadata.as_ref()),
                   "spec": review_spec(spec.resource_attributes.as_ref(), spec.non_resource_attributes.as_ref())})
        }
        "SubjectAccessReview" => {
            let r = authz::SubjectAccessReview::decode(raw).map_err(malformed)?;
            json!({"metadata": metadata(r.metadata.as_ref()), "spec": subject_review_spec(r.spec.as_ref())})
        }
        "LocalSubjectAccessReview" => {
            let r = authz::LocalSubjectAccessReview::decode(raw).map_err(malformed)?;
            json!({"metadata": metadata(r.metadata.as_ref()), "spec": subject_review_spec(r.spec.as_ref())})
        }
        "" => return Err(malformed("envelope without a kind")),
        other => return Err(ProtoError::Unsupported(other.to_string())),
    };
    obj["kind"] = json!(kind);
    if let Some(v) = tm.api_version {
        obj["apiVersion"] = json!(v);
    }
    Ok(obj)
}

/// [`decode`] for the access reviews `kubectl auth can-i` sends.
pub fn decode_review(body: &[u8]) -> Result<Value, ProtoError> {
    decode(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let u = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC.to_vec(), u.encode_to_vec()].concat()
    }

    fn meta(name: &str, ns: &str) -> Option<ObjectMeta> {
        Some(ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: [("app".to_string(), name.to_string())].into(),
            ..Default::default()
        })
    }

    #[test]
    fn decodes_what_kubectl_create_service_sends() {
        let svc = core::Service {
            metadata: meta("hello", ""),
            spec: Some(core::ServiceSpec {
                ports: vec![core::ServicePort {
                    name: Some("80".into()),
                    protocol: Some("TCP".into()),
                    port: Some(80),
                    target_port: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(8080),
                        str_val: None,
                    }),
                    ..Default::default()
                }],
                selector: [("app".to_string(), "hello".to_string())].into(),
                r#type: Some("ClusterIP".into()),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("v1", "Service", svc.encode_to_vec())).expect("decode");
        assert_eq!(v["kind"], "Service");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(
            v["metadata"],
            json!({"name": "hello", "labels": {"app": "hello"}})
        );
        assert_eq!(
            v["spec"],
            json!({"ports": [{"name": "80", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                   "selector": {"app": "hello"}, "type": "ClusterIP"})
        );
    }

    #[test]
    fn decodes_a_config_map_with_binary_data() {
        let cm = core::ConfigMap {
            metadata: meta("kube-dns", "kube-system"),
            data: [("federations".to_string(), "a=b.c".to_string())].into(),
            binary_data: [
                ("bin".to_string(), b"hey".to_vec()),
                ("two".to_string(), b"hi".to_vec()),
            ]
            .into(),
            immutable: None,
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).expect("decode");
        assert_eq!(v["metadata"]["namespace"], "kube-system");
        assert_eq!(v["data"], json!({"federations": "a=b.c"}));
        assert_eq!(v["binaryData"], json!({"bin": "aGV5", "two": "aGk="}));
    }

    #[test]
    fn decodes_access_reviews() {
        let ssar = authz::SelfSubjectAccessReview {
            metadata: None,
            spec: Some(authz::SelfSubjectAccessReviewSpec {
                resource_attributes: Some(authz::ResourceAttributes {
                    namespace: Some("default".into()),
                    verb: Some("get".into()),
                    resource: Some("secrets".into()),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            }),
            status: None,
        };
        let v = decode_review(&envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            ssar.encode_to_vec(),
        ))
        .expect("ssar");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "get", "resource": "secrets"})
        );
        let sar = authz::SubjectAccessReview {
            metadata: None,
            spec: Some(authz::SubjectAccessReviewSpec {
                non_resource_attributes: Some(authz::NonResourceAttributes {
                    path: Some("/api".into()),
                    verb: Some("get".into()),
                }),
                user: Some("bob".into()),
                groups: vec!["g1".into(), "g2".into()],
                ..Default::default()
            }),
            status: None,
        };
        let v = decode_review(&envelope(
            "authorization.k8s.io/v1",
            "SubjectAccessReview",
            sar.encode_to_vec(),
        ))
        .expect("sar");
        assert_eq!(v["spec"]["user"], "bob");
        assert_eq!(v["spec"]["groups"], json!(["g1", "g2"]));
        assert_eq!(v["spec"]["nonResourceAttributes"]["path"], "/api");
    }

    #[test]
    fn rejects_garbage_and_unknown_kinds() {
        assert!(matches!(decode(b"{}"), Err(ProtoError::Malformed(_))));
        assert!(matches!(
            decode(&[MAGIC, &[0x12, 0x05, 0x01]].concat()),
            Err(ProtoError::Malformed(_))
        ));
        assert!(matches!(
            decode(&[MAGIC, &[0xff; 12]].concat()),
            Err(ProtoError::Malformed(_))
        ));
        assert_eq!(
            decode(&envelope("apps/v1", "Deployment", Vec::new())),
            Err(ProtoError::Unsupported("Deployment".into()))
        );
    }
}
