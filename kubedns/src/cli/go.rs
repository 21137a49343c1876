//! Go standard-library behaviour only kubedns needs: `os.ExpandEnv` and the `--kube-master-url`
//! check. `ParseBool`, `ParseDuration` and `ParseInt` are shared: [`serverkit::flags`].

use std::collections::HashMap;

/// Go `os.ExpandEnv`: `$VAR` and `${VAR}` replaced by their value (unset = empty).
pub fn expand_env(s: &str, env: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&s[last..i]);
            let rest = &s[i + 1..];
            let (name, consumed) = if let Some(inner) = rest.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) if end > 0 => (Some(&inner[..end]), end + 2),
                    // `${}` or unterminated: invalid syntax, eaten like Go does.
                    Some(end) => (None, end + 2),
                    None => (None, 1),
                }
            } else if rest.starts_with(|c: char| "*#$@!?-".contains(c) || c.is_ascii_digit()) {
                (Some(&rest[..1]), 1)
            } else {
                let n = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                if n == 0 {
                    // `$` not followed by a name: keep the dollar.
                    out.push('$');
                    (None, 0)
                } else {
                    (Some(&rest[..n]), n)
                }
            };
            if let Some(name) = name {
                out.push_str(env.get(name).map(String::as_str).unwrap_or(""));
            }
            i += 1 + consumed;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last.min(s.len())..]);
    out
}

/// Validate `--kube-master-url` like legacy: expand `$VARS`, then require a scheme and a host
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion() {
        let env: HashMap<String, String> = [
            ("HOST".to_string(), "10.0.0.1".to_string()),
            ("PORT".to_string(), "6443".to_string()),
        ]
        .into();
        assert_eq!(
            expand_env("https://$HOST:${PORT}/", &env),
            "https://10.0.0.1:6443/"
        );
        assert_eq!(expand_env("a$UNSET-b", &env), "a-b");
        assert_eq!(expand_env("cost$", &env), "cost$");
        assert_eq!(expand_env("x$ y", &env), "x$ y");
    }
}
