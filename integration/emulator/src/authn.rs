//! Authentication (only with `EmulatorConfig::rbac`): bearer tokens → users, the
//! kube-apiserver static token file (`--token-auth-file` CSV: `token,user,uid,"g1,g2"`),
//! minted service-account tokens, and the impersonation headers (`Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid`) turned into the checks kube-apiserver makes
//! (`impersonate` on `users`, `groups`, `serviceaccounts`, `uids`) and the resulting user.
//! Pure functions; [`super::access`] wires them into the HTTP layer.

use std::collections::HashMap;

use super::rbac::{self, Request, ResourceAttributes, UserInfo};

/// Username of the user the single `EmulatorConfig::token` authenticates as.
pub const ADMIN_USER: &str = "admin";
/// `Impersonate-User`.
pub const IMPERSONATE_USER: &str = "impersonate-user";
/// `Impersonate-Group` (repeatable).
pub const IMPERSONATE_GROUP: &str = "impersonate-group";
/// `Impersonate-Uid`.
pub const IMPERSONATE_UID: &str = "impersonate-uid";
/// Prefix of `Impersonate-Extra-<key>` (not supported: answered 403).
pub const IMPERSONATE_EXTRA_PREFIX: &str = "impersonate-extra-";

/// One row of a token file (or a configured token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The bearer token.
    pub token: String,
    /// Who it authenticates as (`system:authenticated` is added at authentication).
    pub user: UserInfo,
}

/// A malformed token file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFileError {
    /// A record has fewer than the three required columns.
    #[error("token file line {line}: must have at least 3 columns (token,user,uid), found {found}")]
    TooFewColumns {
        /// 1-based line.
        line: usize,
        /// Columns found.
        found: usize,
    },
    /// A quoted field is not closed.
    #[error("token file line {line}: unterminated quoted field")]
    Unterminated {
        /// 1-based line.
        line: usize,
    },
}

/// Splits one CSV record (RFC 4180 quoting: `"a,b"`, `""` for a quote; leading spaces of
/// a field are trimmed as Go's `encoding/csv` with `TrimLeadingSpace`).
fn csv_fields(line: &str, lineno: usize) -> Result<Vec<String>, TokenFileError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&'\t') {
            chars.next();
        }
        let mut f = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(TokenFileError::Unterminated { line: lineno }),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        f.push('"');
                    }
                    Some('"') => break,
                    Some(c) => f.push(c),
                }
            }
            // Anything between the closing quote and the next comma is kept.
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                f.push(c);
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                f.push(c);
                chars.next();
            }
        }
        out.push(f);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(out),
        }
    }
}

/// Parses a kube-apiserver static token file: one record per line,
/// `token,user,uid[,"group1,group2"]`; blank lines are skipped; rows with an empty token
/// are skipped with a warning (as kube-apiserver); a later duplicate token wins.
pub fn parse_token_file(text: &str) -> Result<Vec<StaticToken>, TokenFileError> {
    let mut out: Vec<StaticToken> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line, i + 1)?;
        if f.len() < 3 {
            return Err(TokenFileError::TooFewColumns {
                line: i + 1,
                found: f.len(),
            });
        }
        if f[0].is_empty() {
            tracing::warn!(line = i + 1, "empty token in token file; skipped");
            continue;
        }
        let groups = f
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.retain(|t| t.token != f[0]);
        out.push(StaticToken {
            token: f[0].clone(),
            user: UserInfo {
                name: f[1].clone(),
                uid: f[2].clone(),
                groups,
            },
        });
    }
    Ok(out)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Token → user table.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    tokens: HashMap<String, UserInfo>,
}

impl TokenTable {
    /// The table for the configured tokens: `admin_token` (group `system:masters`) and
    /// the static tokens.
    pub fn new(admin_token: Option<&str>, tokens: &[StaticToken]) -> Self {
        let mut t = TokenTable::default();
        for s in tokens {
            t.insert(&s.token, s.user.clone());
        }
        if let Some(a) = admin_token {
            let mut admin = UserInfo::new(ADMIN_USER, &[rbac::SYSTEM_MASTERS]);
            admin.uid = ADMIN_USER.into();
            t.insert(a, admin);
        }
        t
    }

    /// Adds or replaces a token.
    pub fn insert(&mut self, token: &str, user: UserInfo) {
        self.tokens.insert(token.to_string(), user);
    }

    /// Who a token authenticates as (with `system:authenticated`).
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.tokens.get(token).cloned().map(UserInfo::authenticated)
    }
}

/// What the impersonation headers ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Group` values.
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
}

/// Reads the impersonation headers from `(lower-case name, value)` pairs. `Ok(None)`
/// without them; an error (kube-apiserver: 500) for groups or uid without a user; extra
/// keys are not supported (error).
pub fn impersonation<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Option<Impersonation>, String> {
    let mut imp = Impersonation::default();
    let mut any = false;
    for (k, v) in headers {
        match k {
            IMPERSONATE_USER => {
                imp.user = v.to_string();
                any = true;
            }
            IMPERSONATE_GROUP => {
                imp.groups.push(v.to_string());
                any = true;
            }
            IMPERSONATE_UID => {
                imp.uid = Some(v.to_string());
                any = true;
            }
            k if k.starts_with(IMPERSONATE_EXTRA_PREFIX) => {
                return Err("Impersonate-Extra-* headers are not supported by the emulator".into());
            }
            _ => {}
        }
    }
    if !any {
        return Ok(None);
    }
    if imp.user.is_empty() {
        return Err("requested impersonation of groups or uid without impersonating a user".into());
    }
    Ok(Some(imp))
}

/// The `impersonate` checks kube-apiserver makes for the requester: the user (as
/// `serviceaccounts` for a service-account username, else `users`), each group, the uid.
pub fn impersonation_checks(imp: &Impersonation) -> Vec<Request> {
    let check = |group: &str, resource: &str, ns: &str, name: &str| {
        Request::Resource(ResourceAttributes {
            verb: "impersonate".into(),
            group: group.into(),
            resource: resource.into(),
            namespace: ns.into(),
            name: name.into(),
            ..ResourceAttributes::default()
        })
    };
    let mut out = vec![match rbac::split_service_account(&imp.user) {
        Some((ns, name)) => check("", "serviceaccounts", ns, name),
        None => check("", "users", "", &imp.user),
    }];
    out.extend(imp.groups.iter().map(|g| check("", "groups", "", g)));
    if let Some(uid) = &imp.uid {
        out.push(check("authentication.k8s.io", "uids", "", uid));
    }
    out
}

/// The user a permitted impersonation yields: the given groups, or for a service account
/// without groups its service-account groups; plus `system:authenticated` unless
/// `system:authenticated`/`system:unauthenticated` was asked for (or the user is
/// `system:anonymous`).
pub fn impersonated_user(imp: &Impersonation) -> UserInfo {
    let mut groups = imp.groups.clone();
    if groups.is_empty()
        && let Some((ns, _)) = rbac::split_service_account(&imp.user)
    {
        groups = rbac::service_account_groups(ns);
    }
    let explicit = groups
        .iter()
        .any(|g| g == rbac::AUTHENTICATED || g == "system:unauthenticated");
    if imp.user == "system:anonymous" {
        if !groups.iter().any(|g| g == "system:unauthenticated") {
            groups.push("system:unauthenticated".into());
        }
    } else if !explicit {
        groups.push(rbac::AUTHENTICATED.into());
    }
    UserInfo {
        name: imp.user.clone(),
        uid: imp.uid.clone().unwrap_or_default(),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_format() {
        let text = "admin-tok,admin,1,\"system:masters\"\n\n  bob-tok, bob ,2,\"dev,ops\"\nnogroups,carol,3\n,empty,4\nbob-tok,bob2,5\n";
        let t = parse_token_file(text).expect("parse");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].user.groups, ["system:masters"]);
        assert_eq!(t[1].token, "nogroups");
        assert!(t[1].user.groups.is_empty());
        assert_eq!(t[2].user.name, "bob2");
        assert_eq!(
            parse_token_file("a,b\n"),
            Err(TokenFileError::TooFewColumns { line: 1, found: 2 })
        );
        assert_eq!(
            parse_token_file("a,b,c,\"x\n"),
            Err(TokenFileError::Unterminated { line: 1 })
        );
        assert_eq!(
            csv_fields("a,\"q\"\"x\",", 1).expect("csv"),
            ["a", "q\"x", ""]
        );
    }

    #[test]
    fn bearer_and_table() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        let t = TokenTable::new(
            Some("root"),
            &[StaticToken {
                token: "t1".into(),
                user: UserInfo::new("alice", &["dev"]),
            }],
        );
        let admin = t.authenticate("root").expect("admin");
        assert!(admin.in_group(rbac::SYSTEM_MASTERS) && admin.in_group(rbac::AUTHENTICATED));
        assert_eq!(
            t.authenticate("t1").map(|u| u.groups),
            Some(vec!["dev".into(), "system:authenticated".into()])
        );
        assert!(t.authenticate("nope").is_none());
    }

    #[test]
    fn impersonating_a_service_account() {
        let imp = impersonation([
            ("accept", "application/json"),
            (
                IMPERSONATE_USER,
                "system:serviceaccount:kube-system:kube-dns",
            ),
        ])
        .expect("ok")
        .expect("some");
        let checks = impersonation_checks(&imp);
        assert_eq!(checks.len(), 1);
        match &checks[0] {
            Request::Resource(a) => {
                assert_eq!(
                    (
                        a.verb.as_str(),
                        a.resource.as_str(),
                        a.namespace.as_str(),
                        a.name.as_str()
                    ),
                    ("impersonate", "serviceaccounts", "kube-system", "kube-dns")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            impersonated_user(&imp),
            UserInfo::service_account("kube-system", "kube-dns")
        );
    }

    #[test]
    fn impersonating_users_and_groups() {
        let imp = impersonation([(IMPERSONATE_USER, "jane"), (IMPERSONATE_GROUP, "devs")])
            .expect("ok")
            .expect("some");
        assert_eq!(impersonation_checks(&imp).len(), 2);
        assert_eq!(
            impersonated_user(&imp).groups,
            ["devs", "system:authenticated"]
        );
        assert!(impersonation([(IMPERSONATE_GROUP, "devs")]).is_err());
        assert_eq!(impersonation([("authorization", "x")]), Ok(None));
        let anon = impersonation([(IMPERSONATE_USER, "system:anonymous")])
            .expect("ok")
            .expect("some");
        assert_eq!(impersonated_user(&anon).groups, ["system:unauthenticated"]);
    }
}
