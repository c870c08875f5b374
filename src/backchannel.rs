//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a session ends, every
//! client that took part in it and registered a `backchannel_logout_uri` is told so, server to
//! server, with a signed logout token.
//!
//! The notices go through the durable outbox (DESIGN.md §2 `outbox/`) as items of kind
//! [`KIND`]: [`enqueue_session_logout`] queues one per client before the session ends, and the
//! [`BackchannelDeliverer`] signs the logout token at delivery time (with the key active then,
//! and fresh `iat`/`exp`) and POSTs it. A 2xx answer is delivered; a 5xx answer, a timeout or
//! a connection error is retried with the outbox's backoff until its deadline; a 4xx (or a
//! redirect, which is never followed) fails at once. The person's logout never waits for a
//! relying party.

use crate::clock::UnixTime;
use crate::keys::{KeyError, KeyManager};
use crate::model::{OutboxItem, Session};
use crate::outbox::{Deliverer, DeliveryError, PayloadSeal};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The outbox kind of logout-token deliveries.
pub const KIND: &str = "backchannel_logout";

/// The JWT `typ` of a logout token (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid after it is signed: long enough for clock skew, short
/// enough that a captured one is soon useless (§2.4 recommends at most two minutes).
const TOKEN_LIFETIME: i64 = 120;

/// How long one POST may take, connection included; well inside the outbox lease.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why back-channel notices could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum BackchannelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing the payload: {0}")]
    Seal(#[from] KeyError),
}

/// What a queued notice holds (sealed at rest like every outbox payload). The client's URI is
/// looked up at delivery, so a client deleted meanwhile is not notified.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    client_id: String,
    sid: String,
    sub: String,
}

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4); never a `nonce`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogoutTokenClaims {
    pub iss: String,
    pub aud: String,
    pub iat: UnixTime,
    pub exp: UnixTime,
    pub jti: String,
    pub sid: String,
    pub sub: String,
    pub events: serde_json::Value,
}

impl LogoutTokenClaims {
    /// The claims of a token for `client_id` about session `sid` of `sub`, signed at `now`.
    pub fn new(issuer: &str, client_id: &str, sid: &str, sub: &str, now: UnixTime) -> Self {
        LogoutTokenClaims {
            iss: issuer.to_string(),
            aud: client_id.to_string(),
            iat: now,
            exp: now.saturating_add(TOKEN_LIFETIME),
            jti: crate::secret::random_id(),
            sid: sid.to_string(),
            sub: sub.to_string(),
            events: serde_json::json!({ LOGOUT_EVENT: {} }),
        }
    }
}

/// Queues a logout notice for every client that took part in `session` (redeemed a code or
/// holds a refresh family in it) and registered a `backchannel_logout_uri`, due at once and
/// retried until `now + deadline`. Returns how many were queued.
///
/// Called before the session is deleted, as its own writes: the stores have no transaction
/// spanning the outbox and the session on MongoDB, and queuing first means a crash between
/// the two leaves a notice for a session that still exists (the person signs out again, and a
/// relying party that already ended its local session loses nothing) rather than an ended
/// session no relying party hears of.
pub async fn enqueue_session_logout(
    store: &dyn Store,
    seal: &PayloadSeal,
    session: &Session,
    now: UnixTime,
    deadline: i64,
) -> Result<usize, BackchannelError> {
    let mut queued = 0;
    for client_id in store.session_clients(&session.sid).await? {
        let Some(client) = store.client(&client_id).await? else {
            continue;
        };
        if client.backchannel_logout_uri.is_none() {
            continue;
        }
        let payload = serde_json::to_string(&Payload {
            client_id: client_id.clone(),
            sid: session.sid.clone(),
            sub: session.user_id.0.clone(),
        })
        .map_err(|e| KeyError::Crypto(format!("payload does not serialize: {e}")))?;
        let mut item = OutboxItem::new(
            KIND,
            format!("logout token for client {client_id}"),
            "",
            now,
            now.saturating_add(deadline),
        );
        item.payload = seal.seal(&item.id, &payload)?;
        store.enqueue(&item).await?;
        queued += 1;
    }
    Ok(queued)
}

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Signs and POSTs logout tokens: the outbox deliverer of [`KIND`].
pub struct BackchannelDeliverer {
    store: Arc<dyn Store>,
    keys: Arc<KeyManager>,
    issuer: String,
    /// https (system CA roots) and http; `None` when the system has no CA roots, in which
    /// case only http (loopback) URIs can be reached.
    https: Option<HttpClient<Connector, Full<Bytes>>>,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

impl BackchannelDeliverer {
    /// The deliverer signing with `keys` as `issuer`, reading clients from `store`.
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyManager>, issuer: String) -> Self {
        let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(builder) => Some(
                HttpClient::builder(TokioExecutor::new())
                    .build(builder.https_or_http().enable_http1().build()),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "no system CA roots: back-channel logout can reach only http URIs");
                None
            }
        };
        let http = HttpClient::builder(TokioExecutor::new()).build(HttpConnector::new());
        BackchannelDeliverer {
            store,
            keys,
            issuer,
            https,
            http,
        }
    }

    /// POSTs `logout_token=token` to `uri` within the timeout; the answer's status.
    async fn post(&self, uri: &str, token: &str) -> Result<hyper::StatusCode, DeliveryError> {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("logout_token", token)
            .finish();
        let request = hyper::Request::post(uri)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::Permanent(format!("bad request to {uri}: {e}")))?;
        let sent = async {
            match &self.https {
                Some(client) => client.request(request).await,
                None if uri.starts_with("http:") => self.http.request(request).await,
                None => {
                    return Err(DeliveryError::Transient(
                        "no CA roots on this system to reach an https URI".into(),
                    ));
                }
            }
            .map_err(|e| DeliveryError::Transient(format!("POST {uri}: {e}")))
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, sent)
            .await
            .map_err(|_| DeliveryError::Transient(format!("POST {uri}: timed out")))??;
        Ok(response.status())
    }
}

/// What an answer means for the notice (Back-Channel Logout 1.0 §2.8: 200 on success, 400
/// when the logout token or the logout was refused).
fn outcome(status: hyper::StatusCode) -> Result<(), DeliveryError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() {
        Err(DeliveryError::Transient(format!("answered {status}")))
    } else {
        // 4xx: refused; 3xx: redirects are not followed; 1xx cannot end a response.
        Err(DeliveryError::Permanent(format!("answered {status}")))
    }
}

#[async_trait]
impl Deliverer for BackchannelDeliverer {
    fn kind(&self) -> &str {
        KIND
    }

    async fn deliver(&self, item: &OutboxItem, now: UnixTime) -> Result<(), DeliveryError> {
        let payload: Payload = serde_json::from_str(&item.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable payload: {e}")))?;
        let client = self
            .store
            .client(&payload.client_id)
            .await
            .map_err(|e| DeliveryError::Transient(format!("store: {e}")))?
            .ok_or_else(|| DeliveryError::Permanent("the client was deleted".into()))?;
        let uri = client.backchannel_logout_uri.ok_or_else(|| {
            DeliveryError::Permanent("the client no longer has a backchannel_logout_uri".into())
        })?;
        let claims = LogoutTokenClaims::new(
            &self.issuer,
            &payload.client_id,
            &payload.sid,
            &payload.sub,
            now,
        );
        let token = self
            .keys
            .sign(LOGOUT_TOKEN_TYP, &claims)
            .map_err(|e| DeliveryError::Transient(format!("signing: {e}")))?;
        outcome(self.post(&uri, &token).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_sent_retry_or_failure() {
        assert_eq!(outcome(hyper::StatusCode::OK), Ok(()));
        assert_eq!(outcome(hyper::StatusCode::NO_CONTENT), Ok(()));
        assert!(matches!(
            outcome(hyper::StatusCode::SERVICE_UNAVAILABLE),
            Err(DeliveryError::Transient(_))
        ));
        assert!(matches!(
            outcome(hyper::StatusCode::BAD_REQUEST),
            Err(DeliveryError::Permanent(_))
        ));
        assert!(matches!(
            outcome(hyper::StatusCode::FOUND),
            Err(DeliveryError::Permanent(_))
        ));
    }

    #[test]
    fn logout_token_claims_have_the_event_and_no_nonce() {
        let claims = LogoutTokenClaims::new("https://idp.example", "c1", "s1", "u1", 1000);
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["events"], serde_json::json!({ LOGOUT_EVENT: {} }));
        assert_eq!(json["exp"], 1120);
        assert!(json.get("nonce").is_none());
        assert_eq!(json["aud"], "c1");
    }
}
