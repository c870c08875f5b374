//! The handlebars registry (strict mode), built once at start from the templates embedded from
//! `templates/`, so the binary runs from any directory. Output is HTML-escaped by default.
//!
//! Pages carry no inline styles or scripts and load nothing from elsewhere: the CSP is
//! `default-src 'none'; style-src 'self'` (see `http::headers`). The one exception, the
//! `form_post` page (OAuth 2.0 Form Post Response Mode), runs one script under a CSP nonce.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use handlebars::Handlebars;
use serde::Serialize;

/// Partials: the shared page layout, used as `{{#> layout title="…"}}…{{/layout}}`.
const PARTIALS: &[(&str, &str)] = &[("layout", include_str!("../templates/layout.hbs"))];

/// Every page template, by the name handlers render it with.
///
/// - `login`: `request`, `csrf_token`, `email?`, `error?`, `client_name`
/// - `consent`: `request`, `csrf_token`, `client_name`, `scopes: [{name, description}]`
/// - `error`: `title`, `message`
/// - `form_post`: `redirect_uri`, `fields: [{name, value}]`, `nonce`
/// - `logout`: `confirm`, `client_name`, `client_id`, `post_logout_redirect_uri`, `state`
///   (empty strings when absent)
/// - `logged_out`: nothing
/// - `password_forgot`: `csrf_token`, `request?`; `password_forgot_sent`: `request?`
/// - `password_reset`: `csrf_token`, `email`, `request?`, `error?`; `password_reset_invalid`: `request?`
/// - `password_reset_done`: `continue_url?`
pub const PAGES: &[(&str, &str)] = &[
    ("login", include_str!("../templates/login.hbs")),
    ("consent", include_str!("../templates/consent.hbs")),
    ("error", include_str!("../templates/error.hbs")),
    ("form_post", include_str!("../templates/form_post.hbs")),
    ("logout", include_str!("../templates/logout.hbs")),
    ("logged_out", include_str!("../templates/logged_out.hbs")),
    (
        "password_forgot",
        include_str!("../templates/password_forgot.hbs"),
    ),
    (
        "password_forgot_sent",
        include_str!("../templates/password_forgot_sent.hbs"),
    ),
    (
        "password_reset",
        include_str!("../templates/password_reset.hbs"),
    ),
    (
        "password_reset_invalid",
        include_str!("../templates/password_reset_invalid.hbs"),
    ),
    (
        "password_reset_done",
        include_str!("../templates/password_reset_done.hbs"),
    ),
];

/// The compiled templates.
pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    /// Compiles every template; a template error stops start-up.
    pub fn load() -> Result<Templates, handlebars::TemplateError> {
        let mut registry = Handlebars::new();
        // A field the data lacks is a render error, not an empty string.
        registry.set_strict_mode(true);
        registry.set_prevent_indent(true);
        for (name, source) in PARTIALS {
            registry.register_partial(name, *source)?;
        }
        for (name, source) in PAGES {
            registry.register_template_string(name, *source)?;
        }
        Ok(Templates { registry })
    }

    /// Renders `name` with `data`.
    pub fn render(
        &self,
        name: &str,
        data: &impl Serialize,
    ) -> Result<String, handlebars::RenderError> {
        self.registry.render(name, data)
    }

    /// An HTML page response (`text/html; charset=utf-8`), or why it could not be rendered
    /// (`crate::error::page` turns that into an incident).
    pub fn html(
        &self,
        status: StatusCode,
        name: &str,
        data: &impl Serialize,
    ) -> Result<HttpResponse, handlebars::RenderError> {
        let html = self.render(name, data)?;
        Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVIL: &str = "<script>alert(\"x\")</script>";

    fn samples() -> Vec<(&'static str, serde_json::Value)> {
        vec![
            (
                "login",
                json!({
                    "request": "req-123",
                    "csrf_token": "csrf-abc",
                    "email": "a@example.com",
                    "error": "Invalid email or password.",
                    "client_name": EVIL,
                }),
            ),
            (
                "consent",
                json!({
                    "request": "req-123",
                    "csrf_token": "csrf-abc",
                    "client_name": EVIL,
                    "scopes": [
                        {"name": "openid", "description": "Sign you in"},
                        {"name": "email", "description": EVIL},
                    ],
                }),
            ),
            ("error", json!({"title": EVIL, "message": EVIL})),
            (
                "form_post",
                json!({
                    "redirect_uri": "https://rp.example/cb?x=1&y=\"2\"",
                    "fields": [
                        {"name": "code", "value": "abc"},
                        {"name": "state", "value": EVIL},
                    ],
                    "nonce": "n0nce",
                }),
            ),
            (
                "logout",
                json!({
                    "confirm": "confirm-abc",
                    "client_name": EVIL,
                    "client_id": EVIL,
                    "post_logout_redirect_uri": "https://rp.example/bye?x=\"1\"",
                    "state": EVIL,
                }),
            ),
            ("logged_out", json!({})),
            (
                "password_forgot",
                json!({"csrf_token": "csrf-abc", "request": EVIL}),
            ),
            ("password_forgot_sent", json!({"request": EVIL})),
            (
                "password_reset",
                json!({"csrf_token": "csrf-abc", "email": EVIL, "request": EVIL, "error": EVIL}),
            ),
            ("password_reset_invalid", json!({"request": EVIL})),
            ("password_reset_done", json!({"continue_url": EVIL})),
        ]
    }

    #[test]
    fn every_template_renders_and_escapes_its_data() {
        let t = Templates::load().unwrap();
        let samples = samples();
        assert_eq!(samples.len(), PAGES.len(), "a sample for every template");
        for (name, data) in samples {
            let html = t
                .render(name, &data)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(html.starts_with("<!doctype html>"), "{name}");
            assert!(html.contains("href=\"/assets/sesame.css\""), "{name}");
            assert!(!html.contains(EVIL), "{name}: unescaped data");
            assert!(!html.contains("style="), "{name}: no inline styles");
            assert!(!html.contains("<style"), "{name}: no inline styles");
            if name != "form_post" {
                assert!(!html.contains("<script"), "{name}: no scripts");
            }
            if html.contains("alert(") {
                assert!(html.contains("&lt;script&gt;"), "{name}");
            }
        }
    }

    #[test]
    fn login_page_has_the_fields_handlers_and_tests_rely_on() {
        let t = Templates::load().unwrap();
        let html = t.render("login", &samples()[0].1).unwrap();
        for needle in [
            r#"method="post" action="/login""#,
            r#"name="request" value="req-123""#,
            r#"name="csrf_token" value="csrf-abc""#,
            r#"name="email" type="email" autocomplete="username""#,
            r#"name="password" type="password" autocomplete="current-password""#,
            r#"value="a@example.com""#,
            "Invalid email or password.",
            ">Sign in</button>",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        assert!(
            !html.contains("maxlength"),
            "no length cap below the policy's"
        );
        assert!(!html.contains("onpaste"), "paste allowed");
    }

    #[test]
    fn optional_login_fields_may_be_absent_values() {
        let t = Templates::load().unwrap();
        let html = t
            .render(
                "login",
                &json!({"request": "r", "csrf_token": "c", "email": null, "error": null, "client_name": null}),
            )
            .unwrap();
        assert!(!html.contains("role=\"alert\""));
        assert!(html.contains("autofocus"));
    }

    #[test]
    fn strict_mode_refuses_missing_fields() {
        let t = Templates::load().unwrap();
        assert!(t.render("consent", &json!({"request": "r"})).is_err());
    }

    #[test]
    fn consent_page_offers_allow_and_deny() {
        let t = Templates::load().unwrap();
        let html = t.render("consent", &samples()[1].1).unwrap();
        assert!(html.contains(r#"method="post" action="/consent""#));
        assert!(html.contains(r#"name="decision" value="allow""#));
        assert!(html.contains(r#"name="decision" value="deny""#));
        assert!(html.contains("<code class=\"scope-name\">openid</code>"));
    }

    #[test]
    fn form_post_page_submits_itself_under_the_nonce() {
        let t = Templates::load().unwrap();
        let html = t.render("form_post", &samples()[3].1).unwrap();
        assert!(html.contains(r#"<form method="post" action="https://rp.example/cb?x&#x3D;1&amp;y&#x3D;&quot;2&quot;">"#), "{html}");
        assert!(html.contains(r#"<input type="hidden" name="code" value="abc">"#));
        assert!(html.contains(r#"<script nonce="n0nce">document.forms[0].submit()</script>"#));
        assert!(
            html.contains(">Continue</button>"),
            "works without JavaScript"
        );
    }
}
