//! `sesame config check`.

use crate::config::Config;
use std::io::Write;
use url::Url;

/// `sesame config …`
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print the settings that matter most.
    Check,
}

/// Prints `OK` and the resolved issuer, listen address, database and mail transport
/// (passwords redacted); never the KEK.
pub fn write_config_check(out: &mut impl Write, config: &Config) -> std::io::Result<()> {
    writeln!(out, "OK")?;
    writeln!(out, "issuer:   {}", config.issuer)?;
    writeln!(out, "listen:   {}", config.listen)?;
    writeln!(
        out,
        "database: {}",
        redact_url_password(&config.database_url)
    )?;
    let kek = if config.kek.is_some() {
        "from configuration".to_string()
    } else {
        format!("file {}", config.kek_file.display())
    };
    writeln!(out, "kek:      {kek}")?;
    let mail = match &config.smtp_url {
        Some(url) => redact_url_password(url.expose()),
        None => format!("files under {}", config.mail_file_dir.display()),
    };
    writeln!(out, "mail:     {mail}")?;
    for name in &config.ignored_env {
        writeln!(
            out,
            "warning: {name} is a Kubernetes service link, not configuration; ignored"
        )?;
    }
    Ok(())
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact_url_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("REDACTED"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_check_prints_settings_and_set_aside_variables() {
        let config = Config::load_with_env(
            None,
            [("SESAME_SERVICE_HOST".to_string(), "10.0.0.1".to_string())],
        )
        .unwrap();
        let mut out = Vec::new();
        write_config_check(&mut out, &config).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("OK\n"), "{text}");
        assert!(text.contains("issuer:   http://127.0.0.1:8080"), "{text}");
        assert!(text.contains("listen:   127.0.0.1:8080"), "{text}");
        assert!(text.contains("mail:     files under data/mail"), "{text}");
        assert!(
            text.contains("warning: SESAME_SERVICE_HOST is a Kubernetes service link"),
            "{text}"
        );
        assert_eq!(
            redact_url_password("mongodb://admin:hunter2@db.example.com/sesame"),
            "mongodb://admin:REDACTED@db.example.com/sesame"
        );
        assert_eq!(
            redact_url_password("sqlite://data/sesame.db"),
            "sqlite://data/sesame.db"
        );
    }
}
