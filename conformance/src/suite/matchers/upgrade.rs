//! Matchers for the answer to an upgrade: accepted, refused, refused with a status.

use super::{Match, json_error_body};
use crate::driver::handshake::{Handshake, HttpResponse};
use crate::suite::failure::Mismatch;

/// The upgrade was accepted with `101`; the response. `expected` says what was asked for.
pub fn switched<'a>(handshake: &'a Handshake, expected: &str) -> Match<&'a HttpResponse> {
    match handshake.response() {
        Some(response) if response.status == 101 => Ok(response),
        _ => Err(Mismatch::new(expected, handshake.summary())),
    }
}

/// The upgrade was accepted (a connection opened); `expected` says who connected and why.
pub fn accepted(handshake: &Handshake, expected: &str) -> Match {
    if handshake.accepted() {
        Ok(())
    } else {
        Err(Mismatch::new(expected, handshake.summary()))
    }
}

/// AUTH-*: the upgrade offering `what` was refused before `101`.
pub fn refused(handshake: &Handshake, what: &str) -> Match {
    if !handshake.accepted() {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("the upgrade with {what} refused before 101"),
        "101 Switching Protocols: the connection was opened",
    ))
}

/// AUTH-*: the upgrade offering `what` was refused with `status`.
pub fn refused_with(handshake: &Handshake, what: &str, status: u16) -> Match {
    if handshake.status() == Some(status) {
        return Ok(());
    }
    Err(Mismatch::new(
        format!("the upgrade with {what} refused with status {status}"),
        handshake.summary(),
    ))
}

/// ROBUST-016: the upgrade was refused over HTTP with a JSON body holding a string `member`.
pub fn refusal_with_json_body(handshake: &Handshake, member: &str) -> Match {
    let Some(response) = handshake.response() else {
        return Err(Mismatch::new(
            "an HTTP refusal with a JSON body",
            handshake.summary(),
        ));
    };
    json_error_body(response, member)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::handshake::Outcome;

    fn answered(status: u16, reason: &str, body: &str) -> Handshake {
        handshake(Outcome::Answered(HttpResponse {
            status,
            reason: reason.into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }))
    }

    fn handshake(outcome: Outcome) -> Handshake {
        Handshake {
            request_target: "/api/v1/ws".into(),
            request_headers: Vec::new(),
            key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
            offered: vec!["chalk".into()],
            outcome,
        }
    }

    #[test]
    fn a_switch_is_a_101_and_anything_else_is_told_by_its_summary() {
        let switched_ = answered(101, "Switching Protocols", "");
        assert_eq!(switched(&switched_, "101").unwrap().status, 101);
        assert!(accepted(&switched_, "Ann connects").is_ok());
        let refused_ = answered(401, "Unauthorized", "");
        let mismatch = switched(&refused_, "101 Switching Protocols").unwrap_err();
        assert_eq!(mismatch.expected, "101 Switching Protocols");
        assert_eq!(mismatch.actual, "401 Unauthorized");
        let unanswered = handshake(Outcome::Unanswered("reset".into()));
        assert_eq!(
            accepted(&unanswered, "Ann connects").unwrap_err().actual,
            "no HTTP response (reset)"
        );
    }

    #[test]
    fn a_refusal_must_come_before_101_and_with_the_status_asked_for() {
        let opened = answered(101, "Switching Protocols", "");
        let mismatch = refused(&opened, "an expired token").unwrap_err();
        assert_eq!(
            mismatch.expected,
            "the upgrade with an expired token refused before 101"
        );
        assert_eq!(
            mismatch.actual,
            "101 Switching Protocols: the connection was opened"
        );
        let forbidden = answered(403, "Forbidden", "");
        assert!(refused(&forbidden, "a bad origin").is_ok());
        assert!(refused_with(&forbidden, "a bad origin", 403).is_ok());
        let wrong = refused_with(&forbidden, "a bad origin", 401).unwrap_err();
        assert_eq!(
            wrong.expected,
            "the upgrade with a bad origin refused with status 401"
        );
        assert_eq!(wrong.actual, "403 Forbidden");
    }

    #[test]
    fn a_refusal_body_needs_an_http_answer_first() {
        assert!(
            refusal_with_json_body(&answered(401, "Unauthorized", r#"{"error":"no"}"#), "error")
                .is_ok()
        );
        let unanswered = handshake(Outcome::Unanswered("timeout".into()));
        let mismatch = refusal_with_json_body(&unanswered, "error").unwrap_err();
        assert_eq!(mismatch.expected, "an HTTP refusal with a JSON body");
    }
}
