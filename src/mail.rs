//! Mail: the messages Sesame sends (rendered from `templates/email/`), and their delivery
//! through the outbox with lettre — SMTP over tokio and rustls (aws-lc-rs), or, when no SMTP
//! server is configured (the embedded default), a file transport that writes each message as
//! an `.eml` file under the data directory and logs its path. The only file that imports
//! lettre.
//!
//! `SESAME_SMTP_URL` follows lettre's URL convention: `smtps://user:pass@host[:465]` (implicit
//! TLS) or `smtp://user:pass@host:587?tls=required` (STARTTLS). A plain `smtp://host` without
//! TLS is refused unless the host is loopback (a local relay).

use crate::clock::UnixTime;
use crate::model::OutboxItem;
use crate::outbox::{Deliverer, DeliveryError};
use crate::secret::Secret;
use async_trait::async_trait;
use handlebars::Handlebars;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The outbox kind of a mail.
pub const KIND: &str = "mail";

/// The mail templates (text and HTML bodies), by name.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "password_reset",
        include_str!("../templates/email/password_reset.txt.hbs"),
        include_str!("../templates/email/password_reset.html.hbs"),
    ),
    (
        "password_changed",
        include_str!("../templates/email/password_changed.txt.hbs"),
        include_str!("../templates/email/password_changed.html.hbs"),
    ),
];

/// A mail configuration or composition failure.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("SESAME_SMTP_URL: {0}")]
    SmtpUrl(String),
    #[error("mail.smtp_password_file: {0}")]
    PasswordFile(String),
    #[error("mail_from: '{0}' is not a mailbox (\"Name <address@example.com>\" or an address)")]
    From(String),
    #[error("mail template: {0}")]
    Template(String),
    #[error("recipient '{0}' is not a mail address")]
    Recipient(String),
}

/// A rendered message, as the outbox payload holds it.
#[derive(Clone, Serialize, Deserialize)]
pub struct MailMessage {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Where mail goes.
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File {
        dir: PathBuf,
        transport: AsyncFileTransport<Tokio1Executor>,
    },
}

/// Mail settings, from configuration.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `SESAME_SMTP_URL`; `None` → the file transport.
    pub smtp_url: Option<Secret>,
    /// A file holding the SMTP password (the URL names the user).
    pub smtp_password_file: Option<PathBuf>,
    /// The `From:` mailbox.
    pub from: String,
    /// Connect and command timeout.
    pub timeout: Duration,
    /// The file transport's directory.
    pub file_dir: PathBuf,
}

/// Composes mail from the templates and delivers it (the outbox's [`Deliverer`] for `mail`).
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    html: Handlebars<'static>,
    text: Handlebars<'static>,
}

/// Checks `SESAME_SMTP_URL`: `smtps://`, or `smtp://` with `tls=required`, or plain `smtp://`
/// to a loopback host; lettre must accept it.
pub fn check_smtp_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
    let tls_required = url
        .query_pairs()
        .any(|(k, v)| k == "tls" && v == "required");
    match url.scheme() {
        "smtps" => {}
        "smtp" if tls_required => {}
        "smtp" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                // smtp: is not a special scheme, so the url crate leaves IPv4 hosts as text.
                Some(url::Host::Domain(d)) => {
                    d.eq_ignore_ascii_case("localhost")
                        || d.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                }
                None => false,
            };
            if !loopback {
                return Err(format!(
                    "smtp://{} sends mail (reset links) without TLS; use smtps://HOST (implicit \
                     TLS) or smtp://HOST:587?tls=required (STARTTLS); plain smtp:// is only for \
                     a loopback relay",
                    url.host_str().unwrap_or_default()
                ));
            }
        }
        other => return Err(format!("scheme '{other}' is not smtp or smtps")),
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Checks the `From:` mailbox.
pub fn check_from(raw: &str) -> Result<(), String> {
    raw.parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl Mailer {
    /// Builds the mailer: the SMTP transport (connections are made on first send) or the file
    /// transport, whose directory is created (mode 0700 on Unix) when the first mail is written.
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailError> {
        let from = settings
            .from
            .parse::<Mailbox>()
            .map_err(|_| MailError::From(settings.from.clone()))?;
        let transport = match &settings.smtp_url {
            Some(url) => {
                check_smtp_url(url.expose()).map_err(MailError::SmtpUrl)?;
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))?
                    .timeout(Some(settings.timeout));
                if let Some(path) = &settings.smtp_password_file {
                    let password = std::fs::read_to_string(path)
                        .map_err(|e| MailError::PasswordFile(format!("{}: {e}", path.display())))?;
                    let user = url::Url::parse(url.expose())
                        .map(|u| u.username().to_string())
                        .unwrap_or_default();
                    let user = percent_decode(&user);
                    builder = builder.credentials(Credentials::new(
                        user,
                        password.trim_end_matches(['\r', '\n']).to_string(),
                    ));
                }
                Transport::Smtp(builder.build())
            }
            None => {
                let dir = settings.file_dir.clone();
                Transport::File {
                    transport: AsyncFileTransport::new(&dir),
                    dir,
                }
            }
        };
        let mut html = Handlebars::new();
        html.set_strict_mode(true);
        let mut text = Handlebars::new();
        text.set_strict_mode(true);
        // Text bodies are not HTML: no escaping there.
        text.register_escape_fn(handlebars::no_escape);
        for (name, text_source, html_source) in TEMPLATES {
            text.register_template_string(name, *text_source)
                .map_err(|e| MailError::Template(e.to_string()))?;
            html.register_template_string(name, *html_source)
                .map_err(|e| MailError::Template(e.to_string()))?;
        }
        Ok(Mailer {
            transport,
            from,
            html,
            text,
        })
    }

    /// A one-line description of where mail goes, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP (SESAME_SMTP_URL)".to_string(),
            Transport::File { dir, .. } => format!("files under {}", dir.display()),
        }
    }

    /// Renders the message `template` for `to` with `data`.
    pub fn compose(
        &self,
        template: &str,
        subject: &str,
        to: &str,
        data: &impl Serialize,
    ) -> Result<MailMessage, MailError> {
        to.parse::<lettre::Address>()
            .map_err(|_| MailError::Recipient(to.to_string()))?;
        let text = self
            .text
            .render(template, data)
            .map_err(|e| MailError::Template(e.to_string()))?;
        let html = self
            .html
            .render(template, data)
            .map_err(|e| MailError::Template(e.to_string()))?;
        Ok(MailMessage {
            to: to.to_string(),
            subject: subject.to_string(),
            text,
            html,
        })
    }

    /// Builds the MIME message (text and HTML alternatives).
    fn message(&self, mail: &MailMessage) -> Result<Message, DeliveryError> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| DeliveryError::Permanent(format!("recipient: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| DeliveryError::Permanent(format!("message: {e}")))
    }
}

/// `%XX` escapes of a URL's user name decoded.
fn percent_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("u={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Creates `dir` (and parents); on Unix the leaf is readable by its owner only, since the files
/// hold reset links.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Transient or permanent, by the SMTP reply: 4xx replies, timeouts and connection failures may
/// pass later; 5xx replies (and a message the client cannot write) will not.
fn classify(error: lettre::transport::smtp::Error) -> DeliveryError {
    let text = error.to_string();
    if error.is_permanent() || error.is_client() {
        DeliveryError::Permanent(text)
    } else {
        DeliveryError::Transient(text)
    }
}

#[async_trait]
impl Deliverer for Mailer {
    fn kind(&self) -> &str {
        KIND
    }

    async fn deliver(&self, item: &OutboxItem, _now: UnixTime) -> Result<(), DeliveryError> {
        let mail: MailMessage = serde_json::from_str(&item.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let message = self.message(&mail)?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(classify),
            Transport::File { dir, transport } => {
                // Created on first use, so a server that never mails leaves no directory.
                create_private_dir(dir).map_err(|e| {
                    DeliveryError::Transient(format!("mail directory {}: {e}", dir.display()))
                })?;
                let id = transport
                    .send(message)
                    .await
                    .map_err(|e| DeliveryError::Transient(e.to_string()))?;
                let path = dir.join(format!("{id}.eml"));
                tracing::info!(path = %path.display(), summary = %item.summary, "mail written to a file (no SMTP server configured)");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_need_tls_unless_loopback() {
        assert!(check_smtp_url("smtps://user:pw@smtp.example.com").is_ok());
        assert!(check_smtp_url("smtp://user:pw@smtp.example.com:587?tls=required").is_ok());
        assert!(check_smtp_url("smtp://127.0.0.1:2525").is_ok());
        assert!(check_smtp_url("smtp://localhost:25").is_ok());
        assert!(check_smtp_url("smtp://[::1]:25").is_ok());
        let refused = check_smtp_url("smtp://smtp.example.com:25").unwrap_err();
        assert!(refused.contains("tls=required"), "{refused}");
        assert!(check_smtp_url("smtp://smtp.example.com?tls=opportunistic").is_err());
        assert!(check_smtp_url("http://smtp.example.com").is_err());
        assert!(check_smtp_url("not a url").is_err());
    }

    fn file_mailer(dir: &std::path::Path) -> Mailer {
        Mailer::new(&MailSettings {
            smtp_url: None,
            smtp_password_file: None,
            from: "Sesame <sesame@example.com>".into(),
            timeout: Duration::from_secs(5),
            file_dir: dir.join("mail"),
        })
        .expect("file mailer")
    }

    #[tokio::test]
    async fn the_file_transport_writes_one_eml_per_mail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = file_mailer(dir.path());
        let mail = mailer
            .compose(
                "password_changed",
                "Your password was changed",
                "ada@example.com",
                &serde_json::json!({"issuer": "https://id.example.com", "email": "ada@example.com"}),
            )
            .expect("compose");
        let item = OutboxItem::new(
            KIND,
            "test",
            serde_json::to_string(&mail).expect("json"),
            0,
            10,
        );
        mailer.deliver(&item, 0).await.expect("delivered");
        let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
            .expect("mail dir")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let eml = std::fs::read_to_string(&files[0]).expect("read eml");
        assert!(eml.contains("To: ada@example.com"), "{eml}");
        assert!(eml.contains("Subject: Your password was changed"), "{eml}");
        assert!(eml.contains("text/html"), "{eml}");
    }

    #[test]
    fn html_bodies_escape_and_text_bodies_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mailer = file_mailer(dir.path());
        let link = "https://id.example.com/password/reset?token=a&request=b";
        let mail = mailer
            .compose(
                "password_reset",
                "Reset",
                "ada@example.com",
                &serde_json::json!({"issuer": "https://id.example.com", "link": link, "minutes": 30, "email": "ada@example.com"}),
            )
            .expect("compose");
        assert!(mail.text.contains(link), "{}", mail.text);
        assert!(
            mail.html.contains("token&#x3D;a&amp;request&#x3D;b"),
            "{}",
            mail.html
        );
    }

    #[test]
    fn a_bad_from_or_recipient_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = MailSettings {
            smtp_url: None,
            smtp_password_file: None,
            from: "not a mailbox".into(),
            timeout: Duration::from_secs(5),
            file_dir: dir.path().join("mail"),
        };
        assert!(matches!(Mailer::new(&settings), Err(MailError::From(_))));
        settings.from = "sesame@example.com".into();
        let mailer = Mailer::new(&settings).expect("mailer");
        assert!(matches!(
            mailer.compose(
                "password_changed",
                "x",
                "nobody",
                &serde_json::json!({"issuer": "i", "email": "e"})
            ),
            Err(MailError::Recipient(_))
        ));
    }
}
