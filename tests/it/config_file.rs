//! `config/default.toml` documents exactly the defaults; the production example resolves.

use sesame::config::{Config, FileConfig};
use std::path::Path;

fn repo_file(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn default_toml_resolves_to_the_built_in_defaults() {
    let from_file =
        Config::load_with_env(Some(&repo_file("config/default.toml")), std::iter::empty())
            .expect("config/default.toml loads");
    let built_in = FileConfig::default().resolve().expect("defaults resolve");
    assert_eq!(format!("{from_file:?}"), format!("{built_in:?}"));
}

#[test]
fn default_toml_documents_every_key() {
    let text = std::fs::read_to_string(repo_file("config/default.toml")).unwrap();
    let mut previous_is_comment = false;
    for line in text.lines().map(str::trim) {
        let is_key = !line.is_empty() && !line.starts_with('#') && !line.starts_with('[');
        if is_key {
            assert!(previous_is_comment, "undocumented key: {line}");
        }
        previous_is_comment = line.starts_with('#');
    }
    // The one optional key is documented, commented out.
    assert!(text.contains("# kek ="), "kek is documented");
}

#[test]
fn production_example_resolves_with_the_kek_from_the_environment() {
    let kek = sesame::keys::Kek::generate()
        .to_base64()
        .expose()
        .to_string();
    let config = Config::load_with_env(
        Some(&repo_file("config/production.example.toml")),
        [("SESAME_KEK".to_string(), kek)],
    )
    .expect("config/production.example.toml loads");
    assert!(config.issuer.starts_with("https://"));
    assert!(config.secure_cookies);
    assert!(config.log_json);
    assert!(config.kek.is_some());
}

#[test]
fn sesame_config_variable_names_the_file_not_a_key() {
    // `SESAME_CONFIG` is the CLI's `--config`; it must not be read as a configuration key.
    let path = repo_file("config/default.toml").display().to_string();
    Config::load_with_env(None, [("SESAME_CONFIG".to_string(), path)])
        .expect("SESAME_CONFIG is not an unknown key");
}

#[test]
fn default_toml_lists_exactly_the_keys_the_server_reads() {
    let text = std::fs::read_to_string(repo_file("config/default.toml")).unwrap();
    let mut section = String::new();
    let mut documented = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        // A key line, or the optional key shown commented out (`# kek = "…"`).
        let candidate = line.strip_prefix("# ").unwrap_or(line);
        let Some((key, _)) = candidate.split_once(" = ") else {
            continue;
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        documented.push(if section.is_empty() {
            format!("SESAME_{key}").to_uppercase()
        } else {
            format!("SESAME_{section}__{key}").to_uppercase()
        });
    }
    let mut read = FileConfig::env_names();
    documented.sort();
    read.sort();
    assert_eq!(documented, read);
}
