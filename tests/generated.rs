//! The man page and completions are generated from the clap definitions; this fails when the checked-in copies drift.

use std::path::Path;

use smtp_doctor::generate::{write, FILES};

#[test]
fn generated_files_match_the_cli() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1");
    let mut drifted = Vec::new();
    for (rel, what) in FILES {
        let mut fresh = Vec::new();
        write(what, &mut fresh).expect("generating into memory cannot fail");
        let path = root.join(rel);
        let current = std::fs::read(&path).unwrap_or_default();
        if current != fresh {
            if update {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).expect("create the output directory");
                }
                std::fs::write(&path, &fresh).expect("write the generated file");
            } else {
                drifted.push(rel);
            }
        }
    }
    assert!(
        drifted.is_empty(),
        "out of date: {drifted:?}; run UPDATE_GENERATED=1 cargo test --test generated and commit the result"
    );
}

#[test]
fn the_man_page_documents_every_check_flag() {
    let mut man = Vec::new();
    write(smtp_doctor::cli::GenerateWhat::Man, &mut man).expect("man page");
    let man = String::from_utf8_lossy(&man);
    // clap_mangen puts subcommands in their own section; the flags are listed in the completions.
    let mut bash = Vec::new();
    write(smtp_doctor::cli::GenerateWhat::Bash, &mut bash).expect("bash completion");
    let bash = String::from_utf8_lossy(&bash);
    for flag in [
        "--port",
        "--user",
        "--password-stdin",
        "--ca-file",
        "--timeout",
        "--json",
        "--color",
        "--helo",
        "--resolver",
        "--mx",
        "--verbose",
        "--postfix-config",
    ] {
        assert!(bash.contains(flag), "bash completion lacks {flag}");
    }
    assert!(
        man.contains("MTA OPTIONS") && man.contains("postfix\\-config"),
        "man page lacks the mta options"
    );
    assert!(man.contains("smtp\\-doctor"), "man page has no name");
}

#[test]
fn the_readme_codes_table_matches_the_codes() {
    use smtp_doctor::generate::{codes_table, CODES_BEGIN, CODES_END};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let (Some(start), Some(end)) = (readme.find(CODES_BEGIN), readme.find(CODES_END)) else {
        panic!("README.md lacks the markers {CODES_BEGIN} … {CODES_END}");
    };
    let fresh = format!(
        "{}{CODES_BEGIN}\n{}{}",
        &readme[..start],
        codes_table(),
        &readme[end..]
    );
    if fresh != readme {
        if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
            std::fs::write(&path, fresh).expect("write README.md");
        } else {
            panic!("README.md's codes table is out of date; run UPDATE_GENERATED=1 cargo test --test generated");
        }
    }
}
