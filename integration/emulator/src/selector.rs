//! Label and field selectors as kube-apiserver parses them from `?labelSelector=` and
//! `?fieldSelector=`: label operators `=`, `==`, `!=`, `in`, `notin`, `key` (exists), `!key`
//! (does not exist), `>` / `<` (integer comparison); field selectors on `metadata.name` and
//! `metadata.namespace` with `=`, `==`, `!=`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::meta::meta_str;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelReq {
    /// `key=value` / `key==value`.
    Eq(String, String),
    /// `key!=value` (true when the label is absent too).
    NotEq(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (true when the label is absent too).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    NotExists(String),
    /// `key>N`.
    Gt(String, i64),
    /// `key<N`.
    Lt(String, i64),
}

/// A parsed label selector (all requirements must hold; empty matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<LabelReq>);

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_set(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set, found {rest:?}"))?;
    let vals: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if let Some(bad) = vals.iter().find(|v| !valid_value(v)) {
        return Err(format!("invalid label value {bad:?}"));
    }
    Ok(vals)
}

fn parse_term(t: &str) -> Result<LabelReq, String> {
    let t = t.trim();
    if let Some(k) = t.strip_prefix('!') {
        let k = k.trim();
        return if valid_key(k) {
            Ok(LabelReq::NotExists(k.into()))
        } else {
            Err(format!("invalid label key {k:?}"))
        };
    }
    let key_end = t
        .find(|c: char| c == '=' || c == '!' || c == '<' || c == '>' || c.is_whitespace())
        .unwrap_or(t.len());
    let key = &t[..key_end];
    if !valid_key(key) {
        return Err(format!("invalid label key {key:?} in {t:?}"));
    }
    let rest = t[key_end..].trim_start();
    let value = |v: &str| -> Result<String, String> {
        let v = v.trim();
        if valid_value(v) {
            Ok(v.to_string())
        } else {
            Err(format!("invalid label value {v:?}"))
        }
    };
    let int = |v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| format!("invalid integer {v:?}"))
    };
    if rest.is_empty() {
        Ok(LabelReq::Exists(key.into()))
    } else if let Some(v) = rest.strip_prefix("==") {
        Ok(LabelReq::Eq(key.into(), value(v)?))
    } else if let Some(v) = rest.strip_prefix("!=") {
        Ok(LabelReq::NotEq(key.into(), value(v)?))
    } else if let Some(v) = rest.strip_prefix('=') {
        Ok(LabelReq::Eq(key.into(), value(v)?))
    } else if let Some(v) = rest.strip_prefix('>') {
        Ok(LabelReq::Gt(key.into(), int(v)?))
    } else if let Some(v) = rest.strip_prefix('<') {
        Ok(LabelReq::Lt(key.into(), int(v)?))
    } else if let Some(v) = rest.strip_prefix("notin") {
        Ok(LabelReq::NotIn(key.into(), parse_set(v)?))
    } else if let Some(v) = rest.strip_prefix("in") {
        Ok(LabelReq::In(key.into(), parse_set(v)?))
    } else {
        Err(format!("unable to parse requirement {t:?}"))
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query value.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        split_terms(s)
            .into_iter()
            .map(parse_term)
            .collect::<Result<Vec<_>, _>>()
            .map(LabelSelector)
    }

    /// Builds an equality selector from a `matchLabels`-style map (a Service selector).
    pub fn from_map(m: &BTreeMap<String, String>) -> Self {
        LabelSelector(
            m.iter()
                .map(|(k, v)| LabelReq::Eq(k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => labels.get(k) == Some(v),
            LabelReq::NotEq(k, v) => labels.get(k) != Some(v),
            LabelReq::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            LabelReq::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            LabelReq::Exists(k) => labels.contains_key(k),
            LabelReq::NotExists(k) => !labels.contains_key(k),
            LabelReq::Gt(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l > *n),
            LabelReq::Lt(k, n) => labels
                .get(k)
                .and_then(|l| l.parse::<i64>().ok())
                .is_some_and(|l| l < *n),
        })
    }
}

/// A field a field selector can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `metadata.name`.
    Name,
    /// `metadata.namespace`.
    Namespace,
}

/// A parsed field selector (conjunction of `(field, equal?, value)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<(Field, bool, String)>);

impl FieldSelector {
    /// Parses the `fieldSelector` query value; unsupported fields are an error, as in
    /// kube-apiserver ("field label not supported").
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut out = Vec::new();
        for term in s.split(',') {
            let term = term.trim();
            let (field, eq, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!("invalid field selector term {term:?}"));
            };
            let field = match field.trim() {
                "metadata.name" => Field::Name,
                "metadata.namespace" => Field::Namespace,
                other => return Err(format!("field label not supported: {other}")),
            };
            out.push((field, eq, value.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    /// Whether an object satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(f, eq, v)| {
            let actual = match f {
                Field::Name => meta_str(obj, "name").unwrap_or(""),
                Field::Namespace => meta_str(obj, "namespace").unwrap_or(""),
            };
            (actual == v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn l(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_all_operators() {
        let s = LabelSelector::parse("a=1,b==2,c!=3,d in (x, y),e notin (z),f,!g,h>4,i<5")
            .expect("parse");
        assert_eq!(s.0.len(), 9);
        assert_eq!(
            s.0[3],
            LabelReq::In("d".into(), vec!["x".into(), "y".into()])
        );
        assert_eq!(s.0[6], LabelReq::NotExists("g".into()));
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("=x").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
    }

    #[test]
    fn matching() {
        let labels = l(&[("app", "web"), ("tier", "front"), ("n", "7")]);
        let m = |s: &str| LabelSelector::parse(s).expect(s).matches(&labels);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app in (web,db)"));
        assert!(!m("app notin (web)"));
        assert!(m("missing notin (web)"));
        assert!(m("!missing"));
        assert!(!m("!app"));
        assert!(m("n>6"));
        assert!(!m("n<7"));
        assert!(!m("app in (db)"));
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}});
        let m = |s: &str| FieldSelector::parse(s).expect(s).matches(&obj);
        assert!(m("metadata.name=a"));
        assert!(m("metadata.name==a,metadata.namespace=ns"));
        assert!(!m("metadata.name!=a"));
        assert!(m("metadata.namespace!=other"));
        assert!(FieldSelector::parse("spec.clusterIP=1").is_err());
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
