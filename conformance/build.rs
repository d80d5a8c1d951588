//! Embeds the Gherkin features of `features/` into the binary, so that `chalk-conformance` runs
//! the same scenarios from any directory (a `--features DIR` flag still reads them from disk).

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let features = manifest.join("..").join("features");
    println!("cargo:rerun-if-changed={}", features.display());

    let mut files = Vec::new();
    if features.is_dir() {
        collect(&features, &mut files);
    }
    files.sort();

    let mut out = String::from(
        "/// Every `.feature` file of `features/`: (path relative to `features/`, text).\n\
         pub const EMBEDDED: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        let relative = file
            .strip_prefix(&features)
            .expect("collected below features/")
            .to_string_lossy()
            .replace('\\', "/");
        let absolute = fs::canonicalize(file).expect("collected files exist");
        out.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            absolute.to_string_lossy()
        ));
    }
    out.push_str("];\n");

    let target =
        PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("features.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "feature") {
            files.push(path);
        }
    }
}
