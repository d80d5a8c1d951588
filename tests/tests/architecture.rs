//! The architecture as tests: which module may use which.
//!
//! - Neither the reference server, nor the faults crate, nor the runner has an import circle
//!   among its modules: the graph of `crate::…`, `super::…` and `self::…` paths between modules
//!   has no cycle. A path through a name the crate root re-exports (`crate::Config`) counts as a
//!   use of the module that defines it. A module and the modules inside it are one unit: a
//!   parent calling its children (a dispatcher) and children using their parent's items do not
//!   count, so a circle between unrelated modules is what fails.
//! - The runner's layers point one way, from `commands` down to `contract`.
//! - Fault injection lives outside the server: its production sources name no `faults` feature
//!   and no `Fault::`.
//!
//! The graph is read from the source text: every `use` tree and every inline path that starts
//! with `crate::` or `super::` is resolved to the longest module it names. Comments and string
//! literals are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside one crate, such as `suite::steps::chat` (empty for the crate root).
type Module = Vec<String>;

/// The runner's layers, lowest first: a module may use its own layer and the ones before it.
const RUNNER_LAYERS: &[&str] = &["contract", "driver", "suite", "report", "commands"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `src`, with the module it defines.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src");
            let mut module: Module = relative
                .with_extension("")
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            // `main.rs` is the binary, a crate of its own.
            if relative == Path::new("main.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            found.insert(module, text);
        }
    }
    found
}

/// The source with comments and the contents of string and char literals blanked out.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            i += end;
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 2 + hashes;
            let end = rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str("\"\"");
            i += end;
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i += (j + 1).min(rest.len());
        } else if let Some(len) = char_literal_len(rest) {
            out.push_str("' '");
            i += len;
        } else {
            let c = rest.chars().next().expect("a character");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length in bytes of the char literal `text` starts with ('x', '…', '\n', '\'',
/// '\u{2026}'); `None` for anything else, such as a lifetime ('a).
fn char_literal_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '\'' {
        return None;
    }
    let (_, first) = chars.next()?;
    if first == '\\' {
        chars.next()?;
        return chars.find(|(_, c)| *c == '\'').map(|(at, _)| at + 1);
    }
    let (at, close) = chars.next()?;
    (close == '\'').then_some(at + 1)
}

/// `Some(number of #)` when `text` starts a raw string literal (`r"`, `r#"`, `br"`…).
fn raw_string_start(text: &str) -> Option<usize> {
    let text = text.strip_prefix('b').unwrap_or(text);
    let text = text.strip_prefix('r')?;
    let hashes = text.bytes().take_while(|b| *b == b'#').count();
    (text.as_bytes().get(hashes) == Some(&b'"')).then_some(hashes)
}

/// Every path the code names from `crate::`, `super::` or `self::`, resolved against `module`,
/// with the branches of `use` trees expanded.
fn paths_named(module: &Module, code: &str) -> Vec<Module> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b':';
        let rest = &code[i..];
        let base = if !starts_word {
            None
        } else if rest.starts_with("crate::") {
            Some((Vec::new(), "crate::".len()))
        } else if rest.starts_with("self::") {
            Some((module.clone(), "self::".len()))
        } else if rest.starts_with("super::") {
            let mut base = module.clone();
            let mut len = 0;
            while code[i + len..].starts_with("super::") {
                base.pop();
                len += "super::".len();
            }
            Some((base, len))
        } else {
            None
        };
        let Some((base, len)) = base else {
            i += 1;
            continue;
        };
        let consumed = expand(&code[i + len..], &base, &mut paths);
        i += len + consumed.max(1);
    }
    paths
}

/// Reads a path or `use` tree at the start of `text` (after `crate::`), pushing every full path
/// onto `out` with `prefix` before it; returns how many bytes it read.
fn expand(text: &str, prefix: &Module, out: &mut Vec<Module>) -> usize {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut path = prefix.clone();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'{') {
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() {
                    return i;
                }
                if bytes[i] == b'}' {
                    return i + 1;
                }
                let before = i;
                i += expand(&text[i..], &path, out);
                if i == before {
                    i += 1;
                }
                // `name as alias`: the alias names nothing.
                let after = text[i..].trim_start();
                if let Some(alias) = after.strip_prefix("as ") {
                    let alias = alias.trim_start();
                    let len = alias.bytes().take_while(|b| is_ident(*b)).count();
                    i = text.len() - alias.len() + len;
                }
            }
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        if i == start {
            out.push(path);
            return i;
        }
        let segment = &text[start..i];
        if segment != "self" {
            path.push(segment.to_owned());
        }
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The module a path names: the longest prefix that is a module, where a name the crate root
/// re-exports (`crate::Config`) stands for the module it comes from.
fn module_of(
    path: &Module,
    crate_modules: &BTreeMap<Module, String>,
    reexports: &BTreeMap<String, Module>,
) -> Option<Module> {
    let target = (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| crate_modules.contains_key(prefix))?;
    match path.first() {
        Some(name) if target.is_empty() => Some(reexports.get(name).cloned().unwrap_or(target)),
        _ => Some(target),
    }
}

/// The names the crate root re-exports (`pub use config::Config;`), with their modules.
fn root_reexports(crate_modules: &BTreeMap<Module, String>) -> BTreeMap<String, Module> {
    let root = Vec::new();
    let Some(text) = crate_modules.get(&root) else {
        return BTreeMap::new();
    };
    let code = code_only(text);
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("pub use ") {
        expand(&code[at + "pub use ".len()..], &root, &mut paths);
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let name = path.last()?.clone();
            let module = (0..path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| !prefix.is_empty() && crate_modules.contains_key(prefix))?;
            Some((name, module))
        })
        .collect()
}

/// The module-to-module edges of one crate, without a module's edges to itself, its ancestors
/// and its descendants: a module and the modules inside it are one unit, whose parent may call
/// its children and whose children may use the parent's items.
fn edges(crate_modules: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let reexports = root_reexports(crate_modules);
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in crate_modules {
        let targets = graph.entry(module.clone()).or_default();
        for path in paths_named(module, &code_only(text)) {
            if let Some(target) = module_of(&path, crate_modules, &reexports) {
                let related = target.starts_with(module) || module.starts_with(&target);
                if !related {
                    targets.insert(target);
                }
            }
        }
    }
    graph
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        graph: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a Module) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        let graph = state.graph;
        for next in graph.get(node).into_iter().flatten() {
            let Some((next, _)) = graph.get_key_value(next) else {
                continue;
            };
            if !state.index.contains_key(next) {
                visit(state, next);
                let low = state.low[next].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(next) {
                let low = state.index[next].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

fn assert_no_import_circle(crate_dir: &str) {
    let src = workspace().join(crate_dir).join("src");
    let graph = edges(&modules(&src));
    let found = cycles(&graph);
    let described: Vec<String> = found
        .iter()
        .map(|component| {
            let members: Vec<String> = component.iter().map(name).collect();
            let edges: Vec<String> = component
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|to| component.contains(to))
                        .map(move |to| format!("{} -> {}", name(from), name(to)))
                })
                .collect();
            format!("{{{}}} via {}", members.join(", "), edges.join("; "))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{crate_dir}/src has import circles:\n  {}",
        described.join("\n  ")
    );
}

#[test]
fn the_reference_server_has_no_import_circle() {
    assert_no_import_circle("reference-server");
}

#[test]
fn the_faults_crate_has_no_import_circle() {
    assert_no_import_circle("faults");
}

#[test]
fn the_runner_has_no_import_circle() {
    assert_no_import_circle("conformance");
}

#[test]
fn the_runner_layers_point_from_commands_down_to_the_contract() {
    let src = workspace().join("conformance").join("src");
    let crate_modules = modules(&src);
    let layer = |module: &Module| {
        module
            .first()
            .and_then(|top| RUNNER_LAYERS.iter().position(|l| l == top))
    };
    let tops: BTreeSet<&str> = crate_modules
        .keys()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    let outside: Vec<&&str> = tops
        .iter()
        .filter(|top| !RUNNER_LAYERS.contains(top))
        .collect();
    assert!(
        outside.is_empty(),
        "top-level modules outside the layers {RUNNER_LAYERS:?}: {outside:?}"
    );
    let mut upward = Vec::new();
    for (from, targets) in edges(&crate_modules) {
        for to in targets {
            if let (Some(a), Some(b)) = (layer(&from), layer(&to))
                && b > a
            {
                upward.push(format!("{} -> {}", name(&from), name(&to)));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules that use a higher layer:\n  {}",
        upward.join("\n  ")
    );
}

#[test]
fn fault_injection_lives_outside_the_reference_server() {
    let src = workspace().join("reference-server").join("src");
    let mut offending = Vec::new();
    let mut pending = vec![src];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (number, line) in text.lines().enumerate() {
                if line.contains("feature = \"faults\"") || line.contains("Fault::") {
                    offending.push(format!(
                        "{}:{}: {}",
                        path.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offending.is_empty(),
        "fault injection in the server's production code:\n  {}",
        offending.join("\n  ")
    );
    let manifest = std::fs::read_to_string(workspace().join("reference-server/Cargo.toml"))
        .expect("the server's manifest");
    assert!(
        !manifest.contains("faults"),
        "the server's manifest still has a faults feature"
    );
}

#[test]
fn the_graph_reader_sees_use_trees_inline_paths_and_super() {
    let module: Module = vec!["suite".into(), "steps".into()];
    let code = code_only(
        "use crate::{driver::{tokens, rest::Client}, contract};\n\
         // use crate::commands;\n\
         let s = \"crate::report\";\n\
         fn f() { crate::report::html::render(); super::world::World::new(); }\n\
         self::chat::receive(); let q = ['\\'', '…', '\\u{2026}', 'x']; fn l<'a>(_: &'a str) {}\n\
         use super::super::contract::{catalogue as c, schemas};",
    );
    let named: BTreeSet<String> = paths_named(&module, &code).iter().map(name).collect();
    let expected: BTreeSet<String> = [
        "driver::tokens",
        "driver::rest::Client",
        "contract",
        "report::html::render",
        "suite::world::World::new",
        "contract::catalogue",
        "contract::schemas",
        "suite::steps::chat::receive",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(named, expected);
}

#[test]
fn a_circle_of_three_modules_is_found_and_a_chain_is_not() {
    let m = |s: &str| -> Module { vec![s.to_owned()] };
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    graph.insert(m("a"), [m("b")].into());
    graph.insert(m("b"), [m("c")].into());
    graph.insert(m("c"), [m("a")].into());
    graph.insert(m("d"), [m("a")].into());
    assert_eq!(cycles(&graph), vec![vec![m("a"), m("b"), m("c")]]);
    graph.insert(m("c"), BTreeSet::new());
    assert!(cycles(&graph).is_empty());
}

#[test]
fn char_literals_are_read_whole_and_lifetimes_are_not_literals() {
    assert_eq!(char_literal_len("'x')"), Some(3));
    assert_eq!(char_literal_len("'…')"), Some(5));
    assert_eq!(char_literal_len("'\\'')"), Some(4));
    assert_eq!(char_literal_len("'\\u{2026}')"), Some(10));
    assert_eq!(char_literal_len("'a str"), None);
    assert_eq!(char_literal_len("'static>"), None);
    assert_eq!(code_only("let c = '\"'; crate::x"), "let c = ' '; crate::x");
}
