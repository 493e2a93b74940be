//! The README is true: every `text` block that starts with a
//! `$ longhorn-talos-guard ...` command line shows exactly what that command
//! prints today (run from the repository root, as the README's paths are).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_longhorn-talos-guard");

#[test]
fn every_real_output_in_the_readme_is_what_the_command_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```text\n$ longhorn-talos-guard ") {
        let block = &rest[start + "```text\n$ ".len()..];
        let end = block.find("```").expect("a closed block");
        let (command, shown) = block[..end].split_once('\n').expect("a command line");
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(root)
            .env_remove("LTG_CONFIG")
            .env_remove("LTG_TALOS_CONFIG")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            shown,
            "the README's output of `{command}` is out of date"
        );
        checked += 1;
        rest = &block[end..];
    }
    assert!(checked >= 4, "only {checked} README outputs found");
}
