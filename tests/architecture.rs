//! The workspace's shape, checked: data flows one way between crates, and no crate has an import
//! circle between its top-level modules (a module reaches `crate::other` only if `other` never
//! reaches back). The crate root (`lib.rs`, `main.rs`) is the facade and may name every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module a file under `src` belongs to (`None` for the crate root).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Modules named after `crate::` in `text` (`crate::a::b`, `crate::{a, b::c}`).
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').unwrap_or(inner.len());
            for part in inner[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let Some(m) = module_of(src, f) else { continue };
        let text = std::fs::read_to_string(f).unwrap();
        let refs = referenced(&text);
        let entry = g.entry(m.clone()).or_default();
        entry.extend(refs.into_iter().filter(|r| r != &m));
    }
    // Only edges to modules of this crate (not `crate::SomeReexportedType`).
    let modules: BTreeSet<String> = g.keys().cloned().collect();
    for deps in g.values_mut() {
        deps.retain(|d| modules.contains(d));
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == d).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle_between_its_modules() {
    let mut circles = Vec::new();
    for krate in ["workloads", "hwmodels", "sim", "explore", "validate", "."] {
        let src = root().join(krate).join("src");
        if let Some(c) = find_cycle(&module_graph(&src)) {
            circles.push(format!("{krate}: {}", c.join(" -> ")));
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn crates_depend_only_downstream() {
    // Data flows workloads → hwmodels → sim → explore / validate → the binary.
    let allowed: &[(&str, &[&str])] = &[
        ("workloads", &[]),
        ("hwmodels", &["vchip-workloads"]),
        ("sim", &["vchip-workloads", "vchip-hwmodels"]),
        (
            "explore",
            &["vchip-workloads", "vchip-hwmodels", "vchip-sim"],
        ),
        (
            "validate",
            &[
                "vchip-workloads",
                "vchip-hwmodels",
                "vchip-sim",
                "vchip-explore",
            ],
        ),
    ];
    for (krate, ok) in allowed {
        let toml = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let deps = toml.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        for line in deps.lines() {
            let name = line.split('=').next().unwrap_or("").trim();
            if name.starts_with("vchip-") {
                assert!(
                    ok.contains(&name),
                    "{krate} depends on {name}, upstream of it"
                );
            }
        }
    }
}

#[test]
fn the_engine_crate_does_not_pull_in_polars() {
    let toml = std::fs::read_to_string(root().join("sim/Cargo.toml")).unwrap();
    assert!(
        !toml.contains("polars"),
        "sim is the engine only; tables live in explore"
    );
}

/// Every field of every struct the hardware schema deserialises (`hwmodels/src/spec/*.rs`) is a
/// YAML key; each must be documented in docs/hardware-yaml.md (regenerate it with
/// `scripts/gen_hardware_yaml_doc.py`), with a meaning.
#[test]
fn every_hardware_schema_key_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/hardware-yaml.md")).unwrap();
    let mut missing = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("hwmodels/src/spec"), &mut files);
    files.sort();
    let mut checked = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut in_schema_struct = false;
        let mut deserialize = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("#[derive(") {
                deserialize = t.contains("Deserialize");
            } else if t.starts_with("pub struct ") && t.ends_with('{') {
                in_schema_struct = deserialize;
            } else if t == "}" {
                in_schema_struct = false;
            } else if in_schema_struct && line.starts_with("    pub ") {
                let key = t["pub ".len()..].split(':').next().unwrap();
                checked += 1;
                let row = doc.lines().find(|l| l.starts_with(&format!("| `{key}` |")));
                match row {
                    Some(r) if !r.trim_end().ends_with("|  |") => {}
                    _ => missing.push(format!("{}: {key}", f.display())),
                }
            }
        }
    }
    assert!(
        checked > 80,
        "only {checked} keys found: the parser lost its way"
    );
    assert!(
        missing.is_empty(),
        "undocumented hardware keys (run scripts/gen_hardware_yaml_doc.py and add a doc comment): {missing:?}"
    );
}
