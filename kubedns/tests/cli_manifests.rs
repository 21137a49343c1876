//! Every `kubedns` container in `manifests/` (current and legacy eras) must start with its
//! arguments and environment unchanged (house style A6.6: every manifest is parsed in a test).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// Collect every container object named `kubedns` anywhere in the document.
fn kubedns_containers<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(cs)) = m.get("containers") {
                out.extend(
                    cs.iter()
                        .filter(|c| c.get("name").and_then(Value::as_str) == Some("kubedns")),
                );
            }
            m.values().for_each(|x| kubedns_containers(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| kubedns_containers(x, out)),
        _ => {}
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_manifest_kubedns_container_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(!files.is_empty(), "no manifests under {}", root.display());
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for doc in &docs {
            let mut containers = Vec::new();
            kubedns_containers(doc, &mut containers);
            for c in containers {
                // `command` may carry the binary path followed by flags.
                let mut args: Vec<String> = strings(c.get("command"))
                    .into_iter()
                    .filter(|a| a.starts_with('-'))
                    .collect();
                args.extend(strings(c.get("args")));
                let env: HashMap<String, String> = c
                    .get("env")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| {
                                Some((
                                    e.get("name")?.as_str()?.to_string(),
                                    e.get("value")?.as_str()?.to_string(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let opts = kubedns::cli::parse(&args, &env).unwrap_or_else(|e| {
                    panic!("{}: kubedns args {args:?} rejected: {e}", file.display())
                });
                assert_eq!(
                    opts.dns_port,
                    10053,
                    "{}: every manifest serves kubedns on 10053",
                    file.display()
                );
                assert!(
                    opts.ignored_args.is_empty(),
                    "{}: stray positional args {:?}",
                    file.display(),
                    opts.ignored_args
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "no kubedns container found in {} manifest files",
        files.len()
    );
    eprintln!(
        "checked {checked} kubedns containers in {} files",
        files.len()
    );
}
