//! Just enough of Kubernetes' protobuf encoding to read the access reviews kubectl sends
//! (`kubectl auth can-i` POSTs `application/vnd.kubernetes.protobuf` and accepts JSON back):
//! the `k8s\0` envelope (`runtime.Unknown`: typeMeta, raw) and the
//! `authorization.k8s.io/v1` review messages, decoded into their JSON form. Everything
//! else the emulator serves stays JSON/YAML only.
//!
//! Field numbers (k8s.io/api/authorization/v1 generated.proto): review = {metadata 1,
//! spec 2}; ObjectMeta = {name 1, namespace 3}; SubjectAccessReviewSpec =
//! {resourceAttributes 1, nonResourceAttributes 2, user 3, groups 4, uid 6};
//! ResourceAttributes = {namespace 1, verb 2, group 3, version 4, resource 5,
//! subresource 6, name 7}; NonResourceAttributes = {path 1, verb 2}.

use serde_json::{Map, Value, json};

/// Prefix of every protobuf-encoded Kubernetes object.
pub const MAGIC: &[u8] = b"k8s\0";

/// A malformed protobuf body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed protobuf body: {0}")]
pub struct ProtoError(pub &'static str);

/// One decoded field: number and value (varints and fixed values are skipped).
enum Field<'a> {
    Bytes(u32, &'a [u8]),
    Other,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or(ProtoError("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtoError("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        if n > self.buf.len() {
            return Err(ProtoError("truncated field"));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }

    fn next(&mut self) -> Option<Result<Field<'a>, ProtoError>> {
        if self.buf.is_empty() {
            return None;
        }
        Some((|| {
            let key = self.varint()?;
            let num = u32::try_from(key >> 3).map_err(|_| ProtoError("field number"))?;
            match key & 7 {
                0 => {
                    self.varint()?;
                    Ok(Field::Other)
                }
                1 => self.take(8).map(|_| Field::Other),
                2 => {
                    let n = usize::try_from(self.varint()?).map_err(|_| ProtoError("length"))?;
                    self.take(n).map(|b| Field::Bytes(num, b))
                }
                5 => self.take(4).map(|_| Field::Other),
                _ => Err(ProtoError("unsupported wire type")),
            }
        })())
    }
}

/// Length-delimited fields of a message as (number, bytes).
fn fields(buf: &[u8]) -> Result<Vec<(u32, &[u8])>, ProtoError> {
    let mut r = Reader { buf };
    let mut out = Vec::new();
    while let Some(f) = r.next() {
        if let Field::Bytes(n, b) = f? {
            out.push((n, b));
        }
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<Value, ProtoError> {
    std::str::from_utf8(b)
        .map(|s| json!(s))
        .map_err(|_| ProtoError("string is not UTF-8"))
}

/// Decodes string fields named by `names[number - 1]` (empty name = skip).
fn strings(buf: &[u8], names: &[&str]) -> Result<Map<String, Value>, ProtoError> {
    let mut m = Map::new();
    for (n, b) in fields(buf)? {
        let Some(idx) = (n as usize).checked_sub(1) else {
            continue;
        };
        if let Some(name) = names.get(idx).filter(|s| !s.is_empty()) {
            m.insert((*name).to_string(), string(b)?);
        }
    }
    Ok(m)
}

fn spec(buf: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    let mut groups = Vec::new();
    for (n, b) in fields(buf)? {
        match n {
            1 => {
                let names = [
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ];
                m.insert(
                    "resourceAttributes".into(),
                    Value::Object(strings(b, &names)?),
                );
            }
            2 => {
                m.insert(
                    "nonResourceAttributes".into(),
                    Value::Object(strings(b, &["path", "verb"])?),
                );
            }
            3 => {
                m.insert("user".into(), string(b)?);
            }
            4 => groups.push(string(b)?),
            6 => {
                m.insert("uid".into(), string(b)?);
            }
            _ => {}
        }
    }
    if !groups.is_empty() {
        m.insert("groups".into(), Value::Array(groups));
    }
    Ok(Value::Object(m))
}

/// Decodes a protobuf access review (with its `k8s\0` envelope) into the JSON object
/// (`apiVersion`, `kind`, `metadata.name`/`namespace`, `spec`).
pub fn decode_review(body: &[u8]) -> Result<Value, ProtoError> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or(ProtoError("missing k8s envelope"))?;
    let mut out = json!({"metadata": {}});
    let mut raw: &[u8] = &[];
    for (n, b) in fields(inner)? {
        match n {
            1 => {
                let tm = strings(b, &["apiVersion", "kind"])?;
                for (k, v) in tm {
                    out[k] = v;
                }
            }
            2 => raw = b,
            _ => {}
        }
    }
    for (n, b) in fields(raw)? {
        match n {
            1 => out["metadata"] = Value::Object(strings(b, &["name", "", "namespace"])?),
            2 => out["spec"] = spec(b)?,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: usize, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn field(n: u32, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(((n << 3) | 2) as usize, &mut out);
        varint(b.len(), &mut out);
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_self_subject_access_review() {
        let ra = [field(1, b"default"), field(2, b"get"), field(5, b"secrets")].concat();
        let spec = field(1, &ra);
        // A varint field (ignored) before the spec.
        let raw = [vec![0x18, 0x01], field(1, &[]), field(2, &spec)].concat();
        let tm = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(1, &tm), field(2, &raw), field(4, b"")].concat();
        let v = decode_review(&body).expect("decode");
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "default", "verb": "get", "resource": "secrets"})
        );
        let sar = field(
            2,
            &[
                field(2, &[field(1, b"/api"), field(2, b"get")].concat()),
                field(3, b"bob"),
                field(4, b"g1"),
                field(4, b"g2"),
            ]
            .concat(),
        );
        let v = decode_review(&[MAGIC.to_vec(), field(2, &sar)].concat()).expect("sar");
        assert_eq!(v["spec"]["user"], "bob");
        assert_eq!(v["spec"]["groups"], json!(["g1", "g2"]));
        assert_eq!(v["spec"]["nonResourceAttributes"]["path"], "/api");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_review(b"{}").is_err());
        assert!(decode_review(&[MAGIC, &[0x12, 0x05, 0x01]].concat()).is_err());
        assert!(decode_review(&[MAGIC, &[0xff; 12]].concat()).is_err());
    }
}
