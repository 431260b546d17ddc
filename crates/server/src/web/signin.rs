//! Signing in and out, and passkeys: sign-in with a passkey (discoverable
//! credentials, with conditional UI where the browser offers it), with an
//! OpenID provider (authorization code flow with PKCE and `nonce`), the
//! first passkey through a single-use enrolment link, and more passkeys
//! from the account page.

use super::Form;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use countersign_domain::policy::{signature_aal, PasskeyProof};
use countersign_ledger::{SignIn, WebChallenge};
use countersign_proto::model::{Credential, Identity};
use countersign_proto::ErrorCode;
use countersign_webauthn::{
    AssertionCheck, AuthenticationResponseJson, RegistrationResponseJson, RequestOptions,
    UserVerification,
};
use serde::Deserialize;
use serde_json::json;

use super::ceremony::{self, challenge_bytes};
use super::session::{self, safe_next, set_cookie, urlencode, MaybeViewer, Viewer};
use super::{render, see_other, Chrome, PageError};
use crate::extract::{Json, Path};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    chrome: Chrome,
    message: Option<String>,
    providers: Vec<(usize, String)>,
    next_encoded: String,
}

/// The sign-in page; a signed-in visitor goes on to where they wanted.
pub async fn page(
    State(s): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if viewer.is_some() {
        return see_other(&next);
    }
    let message = match q.reason.as_deref() {
        Some("ended") => Some("Your session ended. Please sign in again.".to_string()),
        Some("signed-out") => Some("You are signed out.".to_string()),
        _ => None,
    };
    render(&SignInPage {
        chrome: Chrome::new("Sign in", "", None),
        message,
        providers: s
            .web
            .oidc
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.display_name().to_string()))
            .collect(),
        next_encoded: urlencode(&next),
    })
}

/// Where to go after signing in, with the new session's cookie.
fn signed_in(s: &AppState, token: &str, next: &str) -> Response {
    with_session(
        s,
        axum::Json(json!({ "next": next })).into_response(),
        token,
    )
}

/// `r` with the cookie of the new session `token`.
fn with_session(s: &AppState, mut r: Response, token: &str) -> Response {
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            session::cookie_name(s.web.secure_cookies),
            token,
            s.web.secure_cookies,
            Some(s.ledger.web().session_max.whole_seconds()),
        ),
    );
    r
}

/// Options for a passkey sign-in: a fresh challenge, no credential list
/// (the authenticator offers the passkeys it holds for this site).
pub async fn passkey_options(State(s): State<AppState>) -> Result<Response, ApiError> {
    let c = s
        .run(|l, now| l.issue_challenge("sign_in", None, json!({}), now))
        .await?;
    let options = RequestOptions::new(
        s.ledger.web().rp_id.clone(),
        challenge_bytes(&c.id)?,
        Vec::new(),
        UserVerification::Preferred,
    );
    Ok(axum::Json(json!({ "challenge": c.id, "options": options })).into_response())
}

#[derive(Deserialize)]
pub struct PasskeyAnswer {
    challenge: String,
    credential: AuthenticationResponseJson,
    #[serde(default)]
    next: Option<String>,
}

/// Finish a passkey sign-in: verify the assertion with the enrolled
/// passkey, check its counter, and start a session whose AAL is what the
/// passkey proved (AAL2 for a synced passkey with user verification).
pub async fn passkey_finish(
    State(s): State<AppState>,
    Json(answer): Json<PasskeyAnswer>,
) -> Result<Response, ApiError> {
    let rp = ceremony::relying_party(&s)?;
    let next = safe_next(answer.next.as_deref());
    let token = s
        .run(move |l, now| {
            let challenge = l.take_challenge(&answer.challenge, "sign_in", now)?;
            let raw_id = answer.credential.raw_id.as_slice().to_vec();
            let key_id = countersign_domain::identity::passkey_key_id(&raw_id);
            let credential = l.passkey(&key_id)?.ok_or_else(|| {
                countersign_ledger::LedgerError::refused(
                    ErrorCode::CredentialUnknown,
                    "this passkey is not registered here; use your enrolment link, or ask your administrator for one",
                )
            })?;
            let key = countersign_attest::passkey::enrolled_key(&credential)
                .map_err(|e| countersign_ledger::LedgerError::Integrity(format!("stored passkey: {e}")))?;
            let challenge_id = challenge.id.clone();
            let verified = countersign_webauthn::verify_assertion_response(
                &answer.credential,
                &AssertionCheck {
                    challenge: &challenge_bytes(&challenge_id)?,
                    relying_party: &rp,
                    require_user_verification: false,
                },
                &raw_id,
                &key,
            )
            .map_err(ceremony::failed)?;
            let user_handle = answer.credential.response.user_handle.as_ref().map(|h| h.as_slice());
            let (credential, who) = l.passkey_sign_in(&key_id, user_handle, verified.sign_count, now)?;
            let uv = verified.flags.user_verified;
            let aal = signature_aal(&credential, Some(&PasskeyProof { user_verified: uv }));
            let (token, _) = l.start_session(
                SignIn {
                    identity: who.handle.clone(),
                    method: "passkey".into(),
                    credential: Some(credential.key_id.clone()),
                    aal,
                    auth_time: uv.then_some(now),
                },
                now,
            )?;
            Ok(token)
        })
        .await?;
    Ok(signed_in(&s, &token, &next))
}

/// Sign out: end the session and clear the cookie.
pub async fn sign_out(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(form): Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let id = viewer.session.id.clone();
    s.run(move |l, _| l.end_session(&id)).await?;
    let mut r = see_other("/sign-in?reason=signed-out");
    r.headers_mut().insert(
        SET_COOKIE,
        set_cookie(
            session::cookie_name(s.web.secure_cookies),
            "",
            s.web.secure_cookies,
            Some(0),
        ),
    );
    Ok(r)
}

// ------------------------------------------------------------- enrolment

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    chrome: Chrome,
    name: String,
    token: String,
    expires: String,
}

/// The enrolment link's page: who it is for, and the button that creates
/// the first passkey.
pub async fn enrol_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let t = token.clone();
    let (inv, who) = s.run(move |l, now| l.invitation(&t, now)).await?;
    let mut r = render(&EnrolPage {
        chrome: Chrome::new("Create your passkey", "", None),
        name: who.display_name,
        token,
        expires: countersign_domain::describe::when(inv.expires_at),
    });
    // The link's secret is in the path: never send it on as a referrer,
    // and never keep the page in a cache.
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(r)
}

/// Creation options for the invited identity's first passkey.
pub async fn enrol_options(
    State(s): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (who, existing, challenge) = s
        .run(move |l, now| {
            let (_, who) = l.invitation(&token, now)?;
            let (existing, c) = register_challenge(l, &who.handle, now)?;
            Ok((who, existing, c))
        })
        .await?;
    creation_answer(&s, &who, &existing, &challenge)
}

/// A registration challenge for `handle`, with the credentials they
/// already hold (the browser must not make one of those again).
fn register_challenge(
    l: &countersign_ledger::Ledger,
    handle: &str,
    now: time::OffsetDateTime,
) -> Result<(Vec<Credential>, WebChallenge), countersign_ledger::LedgerError> {
    let existing = l.store().read()?.credentials_of(handle)?;
    let c = l.issue_challenge("register", Some(handle), json!({}), now)?;
    Ok((existing, c))
}

/// The creation options the page's script hands to the browser.
fn creation_answer(
    s: &AppState,
    who: &Identity,
    existing: &[Credential],
    challenge: &WebChallenge,
) -> Result<Response, ApiError> {
    let options = ceremony::creation_options(s, who, existing, challenge_bytes(&challenge.id)?);
    Ok(axum::Json(json!({ "challenge": challenge.id, "options": options })).into_response())
}

#[derive(Deserialize)]
pub struct RegistrationAnswer {
    challenge: String,
    credential: RegistrationResponseJson,
    #[serde(default)]
    label: Option<String>,
}

/// Take a registration challenge issued to `handle` and verify the
/// browser's answer to it: the enrolment to record, with its counter.
fn registered(
    state: &AppState,
    l: &countersign_ledger::Ledger,
    handle: &str,
    answer: &RegistrationAnswer,
    now: time::OffsetDateTime,
) -> Result<(countersign_domain::identity::PasskeyEnrolment, u32), countersign_ledger::LedgerError>
{
    let challenge = l.take_challenge(&answer.challenge, "register", now)?;
    if challenge.identity.as_deref() != Some(handle) {
        return Err(countersign_ledger::LedgerError::refused(
            ErrorCode::WebauthnFailed,
            "the challenge was issued for someone else",
        ));
    }
    ceremony::verify_registration(
        state,
        &challenge_bytes(&challenge.id)?,
        &answer.credential,
        now,
    )
}

/// Finish the enrolment: verify the registration, enrol the passkey (the
/// link is used up in the same transaction) and sign the person in.
pub async fn enrol_finish(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Json(answer): Json<RegistrationAnswer>,
) -> Result<Response, ApiError> {
    let state = s.clone();
    let session = s
        .run(move |l, now| {
            let (_, who) = l.invitation(&token, now)?;
            let (enrolment, count) = registered(&state, l, &who.handle, &answer, now)?;
            let label = answer.label.filter(|l| !l.trim().is_empty());
            let c = l.enroll_passkey(&who.handle, &enrolment, count, label, Some(&token), now)?;
            let aal = signature_aal(
                &c.value,
                Some(&PasskeyProof {
                    user_verified: true,
                }),
            );
            let (token, _) = l.start_session(
                SignIn {
                    identity: who.handle.clone(),
                    method: "passkey".into(),
                    credential: Some(c.value.key_id.clone()),
                    aal,
                    auth_time: Some(now),
                },
                now,
            )?;
            Ok(token)
        })
        .await?;
    let answer =
        json!({ "next": "/inbox", "message": "Your passkey is ready. You are signed in." });
    Ok(with_session(
        &s,
        axum::Json(answer).into_response(),
        &session,
    ))
}

/// Creation options for another passkey of the signed-in person.
pub async fn add_passkey_options(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let who = viewer.identity.clone();
    let handle = who.handle.clone();
    let (existing, challenge) = s
        .run(move |l, now| register_challenge(l, &handle, now))
        .await?;
    creation_answer(&s, &who, &existing, &challenge)
}

/// Enrol another passkey for the signed-in person (they hold their own
/// credentials; no administrator is involved).
pub async fn add_passkey_finish(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Json(answer): Json<RegistrationAnswer>,
) -> Result<Response, ApiError> {
    viewer.check_csrf_header(&headers)?;
    let handle = viewer.identity.handle.clone();
    let state = s.clone();
    let c = s
        .run(move |l, now| {
            let (enrolment, count) = registered(&state, l, &handle, &answer, now)?;
            let label = answer.label.filter(|l| !l.trim().is_empty());
            l.enroll_passkey(&handle, &enrolment, count, label, None, now)
        })
        .await?;
    Ok(axum::Json(json!({
        "next": "/account",
        "message": format!("Passkey added (log index {}).", c.log_index),
    }))
    .into_response())
}

// ------------------------------------------------------------- OpenID Connect

/// Start an OpenID sign-in with provider `n`: remember state, nonce and
/// PKCE verifier server-side under a random id, put the id in a cookie
/// bound to this browser, and send the browser to the provider.
pub async fn oidc_start(
    State(s): State<AppState>,
    Path(n): Path<usize>,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let provider = s
        .web
        .oidc
        .get(n)
        .cloned()
        .ok_or_else(|| ApiError::new(ErrorCode::RouteNotFound, "no such sign-in provider"))?;
    let redirect = format!("{}/auth/oidc/callback", s.web.public_url);
    let auth = provider
        .begin(&redirect, &countersign_oidc::SignInOptions::default())
        .map_err(|e| ApiError::new(ErrorCode::OidcFailed, e.to_string()))?;
    let next = safe_next(q.next.as_deref());
    let data = json!({
        "provider": n,
        "state": auth.state,
        "nonce": auth.nonce,
        "verifier": auth.code_verifier,
        "next": next,
    });
    let challenge = s
        .run(move |l, now| l.issue_challenge("oidc", None, data, now))
        .await?;
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(
        LOCATION,
        HeaderValue::from_str(auth.url.as_str()).map_err(|_| {
            ApiError::internal("the provider's authorization URL is not a header value")
        })?,
    );
    r.headers_mut().insert(
        SET_COOKIE,
        set_cookie(
            session::oidc_cookie_name(s.web.secure_cookies),
            &challenge.id,
            s.web.secure_cookies,
            Some(600),
        ),
    );
    Ok(r)
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The provider's redirect back: check the state against the cookie's
/// record, exchange the code (with the PKCE verifier), verify the ID token
/// and its nonce, map it to an identity and start a session carrying the
/// token's AAL (`acr`/`amr`) and `auth_time`.
pub async fn oidc_callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> Result<Response, PageError> {
    let failed = |why: String| PageError(ApiError::new(ErrorCode::OidcFailed, why));
    if let Some(e) = cb.error {
        return Err(failed(format!(
            "the sign-in provider refused: {e}{}",
            cb.error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )));
    }
    let id = session::cookie(&headers, session::oidc_cookie_name(s.web.secure_cookies))
        .ok_or_else(|| failed("this browser did not start the sign-in (its sign-in cookie is missing); start again from the sign-in page".into()))?;
    let (Some(code), Some(state_param)) = (cb.code, cb.state) else {
        return Err(failed("the provider's answer has no code or state".into()));
    };
    let record = s
        .run(move |l, now| l.take_challenge(&id, "oidc", now))
        .await?;
    let data = record.data;
    if data["state"].as_str() != Some(state_param.as_str()) {
        return Err(failed(
            "the sign-in's state does not match; start again from the sign-in page".into(),
        ));
    }
    let n = data["provider"].as_u64().unwrap_or(u64::MAX) as usize;
    let provider = s
        .web
        .oidc
        .get(n)
        .cloned()
        .ok_or_else(|| failed("the sign-in provider is gone".into()))?;
    let verifier = s
        .auth
        .oidc
        .clone()
        .ok_or_else(|| failed("OpenID Connect is not configured".into()))?;
    let redirect = format!("{}/auth/oidc/callback", s.web.public_url);
    let code_verifier = data["verifier"].as_str().unwrap_or_default().to_string();
    let nonce = data["nonce"].as_str().unwrap_or_default().to_string();
    let next = safe_next(data["next"].as_str());
    let token = s
        .run(move |l, now| {
            let expected = countersign_oidc::Expected {
                code_verifier: &code_verifier,
                nonce: &nonce,
                redirect_uri: &redirect,
                max_age_seconds: None,
            };
            let verified = provider
                .finish(&verifier, &code, &expected, now)
                .map_err(|e| {
                    countersign_ledger::LedgerError::refused(ErrorCode::OidcFailed, e.to_string())
                })?;
            let tx = l.store().read()?;
            let who = if verified.identity.contains('@') {
                countersign_ledger::identity_for_email(&*tx, &verified.identity)?
            } else {
                tx.identity(&verified.identity)?
            };
            drop(tx);
            let who = who.ok_or_else(|| {
                countersign_ledger::LedgerError::refused(
                    ErrorCode::IdentityUnmapped,
                    format!(
                        "you signed in as {} at {}, but no Countersign identity has that {}",
                        verified.identity,
                        verified.issuer,
                        if verified.identity.contains('@') {
                            "e-mail address"
                        } else {
                            "name"
                        }
                    ),
                )
            })?;
            let (token, _) = l.start_session(
                SignIn {
                    identity: who.handle,
                    method: format!("oidc:{}", verified.issuer),
                    credential: None,
                    aal: verified.aal,
                    auth_time: verified.auth_time,
                },
                now,
            )?;
            Ok(token)
        })
        .await?;
    let mut r = with_session(&s, see_other(&next), &token);
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(
            session::oidc_cookie_name(s.web.secure_cookies),
            "",
            s.web.secure_cookies,
            Some(0),
        ),
    );
    Ok(r)
}
