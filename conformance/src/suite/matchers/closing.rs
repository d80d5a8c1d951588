//! Matchers for how a connection ended: a close code, a Close frame in reply, any ending.

use std::time::Duration;

use super::Match;
use crate::driver::connection::Ending;
use crate::suite::failure::Mismatch;

/// CLOSE-*: `whose` connection was closed by the server with `code`; `ending` is how it ended,
/// `None` when it was still open after `waited`.
pub fn closed_with_code(
    whose: &str,
    code: u16,
    ending: Option<&Ending>,
    waited: Duration,
) -> Match {
    let expected = format!("{whose} closed by the server with code {code}");
    match ending {
        Some(Ending::CloseFrame {
            code: Some(got), ..
        }) if *got == code => Ok(()),
        Some(ending) => Err(Mismatch::new(
            expected,
            format!("the connection was {}", ending.describe()),
        )),
        None => Err(Mismatch::new(
            expected,
            format!("still open after {waited:?}"),
        )),
    }
}

/// The server ended `who`'s connection, one way or another.
pub fn ended_by_server(who: &str, ending: Option<&Ending>, waited: Duration) -> Match {
    match ending {
        Some(_) => Ok(()),
        None => Err(Mismatch::new(
            format!("the server to fail {who}'s connection"),
            format!("still open after {waited:?}"),
        )),
    }
}

/// CLOSE-001: the server answered the client's Close frame with one of its own.
pub fn close_answered(ending: Option<&Ending>, waited: Duration) -> Match {
    let expected = "a Close frame answering the client's";
    match ending {
        Some(Ending::CloseFrame { .. }) => Ok(()),
        Some(ending) => Err(Mismatch::new(
            expected,
            format!("the connection {}", ending.describe()),
        )),
        None => Err(Mismatch::new(
            expected,
            format!("nothing within {waited:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAITED: Duration = Duration::from_secs(2);

    fn close(code: Option<u16>) -> Ending {
        Ending::CloseFrame {
            code,
            reason: String::new(),
            at: Duration::ZERO,
        }
    }

    fn dropped() -> Ending {
        Ending::Dropped {
            detail: "reset".into(),
            at: Duration::ZERO,
        }
    }

    #[test]
    fn only_the_expected_close_code_passes() {
        assert!(
            closed_with_code("Ann's connection", 1008, Some(&close(Some(1008))), WAITED).is_ok()
        );
        let other = closed_with_code("Ann's connection", 1008, Some(&close(Some(1000))), WAITED)
            .unwrap_err();
        assert_eq!(
            other.expected,
            "Ann's connection closed by the server with code 1008"
        );
        assert_eq!(
            other.actual,
            "the connection was closed by the server with code 1000"
        );
        let open = closed_with_code("Ann's connection", 1008, None, WAITED).unwrap_err();
        assert_eq!(open.actual, "still open after 2s");
    }

    #[test]
    fn any_ending_counts_as_the_server_failing_the_connection() {
        assert!(ended_by_server("Ann", Some(&dropped()), WAITED).is_ok());
        let open = ended_by_server("Ann", None, WAITED).unwrap_err();
        assert_eq!(open.expected, "the server to fail Ann's connection");
    }

    #[test]
    fn a_close_is_answered_only_by_a_close_frame() {
        assert!(close_answered(Some(&close(None)), WAITED).is_ok());
        let dropped = close_answered(Some(&dropped()), WAITED).unwrap_err();
        assert_eq!(
            dropped.actual,
            "the connection ended without a Close frame: reset"
        );
        let open = close_answered(None, WAITED).unwrap_err();
        assert_eq!(open.actual, "nothing within 2s");
    }
}
