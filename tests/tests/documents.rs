//! The repository's documents cite only what a reader can open: every file they name (a
//! `` `name.md` ``-style citation of a document, a specification or a catalogue) is in the
//! repository, and every relative Markdown link resolves. The API page is public and cited by its
//! title, never by the name of a saved copy.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Every file under `dir`, skipping build output and version control.
fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules") {
                files_under(&path, found);
            }
        } else {
            found.push(path);
        }
    }
}

/// The documents: Markdown, the catalogue and the contract files, features.
fn documents(all: &[PathBuf]) -> Vec<PathBuf> {
    all.iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            [".md", ".toml", ".yaml", ".feature"]
                .iter()
                .any(|ext| name.ends_with(ext))
                && !name.ends_with("Cargo.toml")
                && !name.contains("/snapshots/")
        })
        .cloned()
        .collect()
}

/// The file names cited in backticks in `text` whose kind is a document (`.md`, `.txt`, `.toml`,
/// `.yaml`, `.feature`): the citations a reader would look for.
fn cited_files(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| {
            !quoted.is_empty()
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
                && [".md", ".txt", ".toml", ".yaml", ".feature"]
                    .iter()
                    .any(|ext| quoted.ends_with(ext))
        })
        .map(str::to_owned)
        .collect()
}

/// The targets of the relative Markdown links of `text` (no scheme, no pure anchor).
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or("").to_owned())
        .filter(|target| {
            !target.is_empty()
                && !target.contains("://")
                && !target.starts_with("mailto:")
                && !target.contains("::")
                && !target.starts_with("Self")
        })
        .collect()
}

#[test]
fn documents_cite_only_files_the_repository_has() {
    let root = repo_root();
    let mut all = Vec::new();
    files_under(&root, &mut all);
    let exists = |document: &Path, cited: &str| {
        let beside = document.parent().unwrap().join(cited);
        beside.exists() || root.join(cited).exists() || all.iter().any(|p| p.ends_with(cited))
    };
    let mut missing = Vec::new();
    for document in documents(&all) {
        let text = std::fs::read_to_string(&document).unwrap();
        let shown = document.strip_prefix(&root).unwrap().display().to_string();
        for cited in cited_files(&text) {
            if !exists(&document, &cited) {
                missing.push(format!("{shown}: `{cited}`"));
            }
        }
        if shown.ends_with(".md") {
            for link in relative_links(&text) {
                if !document.parent().unwrap().join(&link).exists() {
                    missing.push(format!("{shown}: link ({link})"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cited but not in the repository:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_api_page_is_cited_by_its_public_title() {
    let root = repo_root();
    for document in ["README.md", "spec/extensions.md", "spec/requirements.toml"] {
        let text = std::fs::read_to_string(root.join(document)).unwrap();
        assert!(
            text.contains("the page \"WebSocket\" of Chalk's public API")
                || text.contains("the page **\"WebSocket\"** of Chalk's public API"),
            "{document} does not name the API page by its title"
        );
        assert!(!text.contains("websocket-api.txt"), "{document}");
    }
}

#[test]
fn citations_are_found_in_backticks_and_links() {
    assert_eq!(
        cited_files("see `spec/extensions.md` and `notes.txt`, not `--out` or `a b.md`"),
        vec!["spec/extensions.md", "notes.txt"]
    );
    assert_eq!(
        relative_links("[a](schemas/README.md) [b](https://x.example/y.md) [c](#top) [d](x.md#s)"),
        vec!["schemas/README.md", "x.md"]
    );
}
