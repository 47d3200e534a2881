//! The declaration of every parameter and secret (`proxy_core::config::names`) against what
//! writes or describes them: the stack that writes them (`infrastructure/stacks/keys.yaml`, and
//! any other stack naming `/pix/proxy/…`), the container's start script, and
//! `docs/configuration.md`. A parameter the code reads that the stack does not write, or one the
//! stack or the docs name that the code does not read, fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proxy_core::config::names::{Flavour, Flavours, PARAMETERS, Reader, SECRETS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every `/pix/proxy/<flavour>/<Name>` a text names, as (flavour, name).
fn full_names(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for flavour in Flavour::ALL {
        let prefix = flavour.prefix();
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            rest = &rest[i + prefix.len()..];
            let name: String = rest.chars().take_while(char::is_ascii_alphanumeric).collect();
            if !name.is_empty() {
                found.insert((flavour.name().to_string(), name));
            }
        }
    }
    found
}

/// What the declaration says each flavour's prefix holds: (flavour, name), parameters and secrets.
fn declared(required_only: bool) -> BTreeSet<(String, String)> {
    let mut set = BTreeSet::new();
    for flavour in Flavour::ALL {
        for p in PARAMETERS {
            if p.flavours.include(flavour) && (p.required || !required_only) {
                set.insert((flavour.name().to_string(), p.name.to_string()));
            }
        }
    }
    for s in SECRETS {
        set.insert((s.flavour.name().to_string(), s.name.to_string()));
    }
    set
}

/// The stacks' `Name: /pix/proxy/…` lines: what they write.
fn written_by_stacks() -> BTreeSet<(String, String)> {
    let mut written = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("infrastructure/stacks")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().filter(|l| l.trim_start().starts_with("Name:")) {
                written.extend(full_names(line));
            }
        }
    }
    written
}

#[test]
fn every_parameter_the_code_reads_is_written_by_the_stacks_and_nothing_else() {
    let written = written_by_stacks();
    let required = declared(true);
    let missing: Vec<_> = required.difference(&written).collect();
    assert!(
        missing.is_empty(),
        "read by the code, not written by any stack: {missing:?}"
    );
    let everything = declared(false);
    let unread: Vec<_> = written.difference(&everything).collect();
    assert!(
        unread.is_empty(),
        "written by a stack, read by nothing: {unread:?}"
    );
}

#[test]
fn the_start_script_reads_exactly_its_declared_parameters() {
    // The container's start script configures the CloudHSM client with `proxy-hsm
    // configure-cloudhsm` (no aws CLI, no SSM call of its own), then runs the image's command.
    let script = read("infrastructure/docker/proxy-hsm-entrypoint.sh");
    assert!(script.contains("proxy-hsm configure-cloudhsm"), "{script}");
    assert!(
        script.contains("exec /usr/local/bin/proxy-hsm \"$@\""),
        "{script}"
    );
    assert!(
        !script.contains("aws "),
        "the start script calls AWS only through proxy-hsm"
    );
    // What `configure-cloudhsm` reads is exactly what is declared as read at container start.
    let command = read("proxy-hsm/src/command/cloudhsm.rs");
    let start: BTreeSet<String> = PARAMETERS
        .iter()
        .filter(|p| p.reader == Reader::ContainerStart)
        .map(|p| p.name.to_string())
        .collect();
    // Each `pub const NAME: Parameter = start_script("Name")` of names.rs, read by the command.
    let names = read("proxy-core/src/config/names.rs");
    let read_by_command: BTreeSet<String> = names
        .lines()
        .filter_map(|l| {
            let (constant, rest) = l
                .strip_prefix("pub const ")?
                .split_once(": Parameter = start_script(\"")?;
            let name = rest.split('"').next()?;
            command
                .contains(&format!("params.get(&{constant})"))
                .then(|| name.to_string())
        })
        .collect();
    assert_eq!(
        read_by_command, start,
        "configure-cloudhsm's parameters against the declaration"
    );
    assert_eq!(Flavour::CloudHsm.prefix(), "/pix/proxy/cloudhsm/");
}

#[test]
fn the_configuration_doc_lists_every_parameter_and_secret_as_declared() {
    let doc = read("docs/configuration.md");
    // Rows of the parameters table: | `Name` | flavour | required | …
    let mut rows = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(name), Some(flavour), Some(required)) = (cells.get(1), cells.get(2), cells.get(3)) else {
            continue;
        };
        let name = name.trim_matches('`');
        if name.contains('/') || !matches!(*required, "yes" | "no") {
            continue; // the secrets' and the flags' tables
        }
        rows.insert((name.to_string(), flavour.to_string(), *required == "yes"));
    }
    let declared: BTreeSet<(String, String, bool)> = PARAMETERS
        .iter()
        .map(|p| {
            let flavours = match p.flavours {
                Flavours::Both => "both",
                Flavours::CloudHsm => "cloudhsm",
                Flavours::Kms => "kms",
            };
            (p.name.to_string(), flavours.to_string(), p.required)
        })
        .collect();
    let undocumented: Vec<_> = declared.difference(&rows).collect();
    assert!(
        undocumented.is_empty(),
        "declared, not (or not so) in docs/configuration.md: {undocumented:?}"
    );
    let unread: Vec<_> = rows.difference(&declared).collect();
    assert!(
        unread.is_empty(),
        "in docs/configuration.md, not (or not so) declared: {unread:?}"
    );
    for secret in SECRETS {
        let row = format!("| `{}` | {} |", secret.full_name(), secret.flavour.name());
        assert!(
            doc.contains(&row),
            "docs/configuration.md lacks the secret row {row}"
        );
    }
}
