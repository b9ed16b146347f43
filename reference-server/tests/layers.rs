//! The server's architecture, checked from its source: the domain layer imports nothing from
//! the web layer (nor from the deployment's configuration), and no two modules of the crate
//! import each other, directly or through others.
//!
//! A module here is a file's top-level module within its layer (`domain::workflow`,
//! `web::console`, …): a file's imports count for the module it belongs to, and a module may
//! use its own submodules and parent (`super::`) freely. Every path that names
//! `crate::<layer>::<module>` counts, in `use` lines and in code alike; comments do not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: `domain::workflow` for `src/domain/workflow/uploads.rs`,
/// `config` for `src/config.rs`, `lib` for `src/lib.rs` and `src/main.rs`.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(SRC).expect("under src");
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.as_slice() {
        [one] if one == "lib" || one == "main" => "lib".to_owned(),
        [one] => one.clone(),
        [layer, module, ..] if module != "mod" => format!("{layer}::{module}"),
        [layer, ..] => layer.clone(),
        [] => unreachable!(),
    }
}

/// The text of a file without its comments (line comments, doc comments and block comments),
/// so that a doc link is not an import.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_block = 0usize;
    for line in text.lines() {
        let mut rest = line;
        loop {
            if in_block > 0 {
                match rest.find("*/") {
                    Some(end) => {
                        in_block -= 1;
                        rest = &rest[end + 2..];
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), Some(b)) if b < l => {
                        out.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    (None, Some(b)) => {
                        out.push_str(&rest[..b]);
                        in_block += 1;
                        rest = &rest[b + 2..];
                    }
                    (Some(l), _) => {
                        out.push_str(&rest[..l]);
                        break;
                    }
                    (None, None) => {
                        out.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The full module path of a file: `["web", "console"]` for `src/web/console/mod.rs`,
/// `["domain", "workflow", "uploads"]` for `src/domain/workflow/uploads.rs`.
fn path_of(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(SRC).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// Whether a keyword that follows `before` is part of a longer name or path (`a::super::`,
/// `$crate::`, `my_crate::`) rather than the start of one.
fn inside_a_path(before: &str, also: char) -> bool {
    before
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == also)
}

/// `code` with every `super::` path written from the crate root, as seen from the file at
/// module path `path`.
fn absolute(code: &str, path: &[String]) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        out.push_str(&rest[..at]);
        if inside_a_path(&rest[..at], ':') {
            out.push_str("super::");
            rest = &rest[at + "super::".len()..];
            continue;
        }
        let mut ups = 0;
        while rest[at..]
            .get(ups * 7..)
            .is_some_and(|r| r.starts_with("super::"))
        {
            ups += 1;
        }
        let base = &path[..path.len().saturating_sub(ups)];
        out.push_str("crate::");
        for segment in base {
            out.push_str(segment);
            out.push_str("::");
        }
        rest = &rest[at + ups * 7..];
    }
    out.push_str(rest);
    out
}

/// The paths a `use` tree (or a plain path) names, its groups expanded:
/// `a::{b, c::{d, e}}` names `a::b`, `a::c::d` and `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(|i| expand(&format!("{prefix}{}", i.trim())))
        .collect()
}

/// The modules a file's code names: `crate::domain::store::…` names `domain::store`,
/// `crate::config` names `config`; grouped imports (`crate::{domain::x, web::y}`) too.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let inside = inside_a_path(&rest[..at], '$');
        rest = &rest[at + "crate::".len()..];
        if inside {
            continue;
        }
        // The path, with its group if it has one.
        let mut end = 0;
        let mut depth = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                c if depth == 0 && !(c.is_alphanumeric() || c == '_' || c == ':') => break,
                _ => {}
            }
            end = i + c.len_utf8();
        }
        for path in expand(&rest[..end]) {
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let module = match segments.as_slice() {
                [layer @ ("domain" | "web"), module, ..]
                    if module.chars().next().is_some_and(char::is_lowercase) =>
                {
                    format!("{layer}::{module}")
                }
                // An item of the layer's own module file (`crate::web::AppState`).
                [layer @ ("domain" | "web"), ..] => (*layer).to_owned(),
                [first, ..] => (*first).to_owned(),
                [] => continue,
            };
            named.insert(module);
        }
    }
    named
}

/// Module → the other modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        let code = code_of(&fs::read_to_string(&file).expect("read source"));
        let code = absolute(&code, &path_of(&file));
        let entry = graph.entry(module.clone()).or_default();
        for named in named_modules(&code) {
            // A module may use itself and its parents (`super::`) freely.
            if named != module && !module.starts_with(&format!("{named}::")) {
                entry.insert(named);
            }
        }
    }
    graph
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

#[test]
fn the_domain_imports_nothing_from_the_web_layer_or_the_configuration() {
    let graph = graph();
    let domain: Vec<_> = graph.keys().filter(|m| layer(m) == "domain").collect();
    assert!(domain.len() >= 8, "domain modules: {domain:?}");
    let mut offences = Vec::new();
    for (module, named) in &graph {
        if layer(module) != "domain" {
            continue;
        }
        for n in named {
            if matches!(layer(n), "web" | "config" | "lib") {
                offences.push(format!("{module} -> {n}"));
            }
        }
    }
    assert!(offences.is_empty(), "domain imports: {offences:?}");
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = graph();
    // Depth-first search for a back edge; the cycle is reported as the path that closes it.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        on_path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = on_path.iter().position(|m| m == module) {
            let mut cycle = on_path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if !done.insert(module.to_owned()) {
            return None;
        }
        on_path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, on_path, done) {
                return Some(cycle);
            }
        }
        on_path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!("module cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    // The parser: grouped and plain paths, comments ignored, other crates' `crate::` ignored.
    let code = code_of(
        "use crate::{domain::store::Role, web::api};\n\
         // use crate::config::Config;\n\
         /* crate::web::console */ let x = crate::domain::error::ErrorCode::Internal;\n\
         let y = bluezone_protocol::crate_name; let z = $crate::domain::code::X;\n\
         use crate::web::AppState;\n\
         use crate::domain::{settings::{Unit, validate_units}, workflow};\n",
    );
    let named: Vec<String> = named_modules(&code).into_iter().collect();
    assert_eq!(
        named,
        [
            "domain::error",
            "domain::settings",
            "domain::store",
            "domain::workflow",
            "web",
            "web::api"
        ]
    );
    assert_eq!(
        module_of(&Path::new(SRC).join("domain/workflow/uploads.rs")),
        "domain::workflow"
    );
    assert_eq!(module_of(&Path::new(SRC).join("web/mod.rs")), "web");
    let console = Path::new(SRC).join("web/console/pages.rs");
    assert_eq!(
        named_modules(&absolute(
            "use super::Ctx; use super::super::api;",
            &path_of(&console)
        )),
        ["web::api", "web::console"].map(String::from).into()
    );
    assert_eq!(module_of(&Path::new(SRC).join("config.rs")), "config");
}
