//! Helpers shared by the workspace's integration tests.

use std::path::PathBuf;

use chalk_conformance::commands::{self, exit::ExitStatus};
use chalk_conformance::report::console::Console;

/// Runs `chalk-conformance` with `args` in this process; its exit status and everything it
/// printed.
pub async fn conformance(args: &[&str]) -> (ExitStatus, String) {
    let (console, output) = Console::buffer();
    let argv = std::iter::once("chalk-conformance").chain(args.iter().copied());
    let status = commands::execute(argv, &console).await;
    (status, output.contents())
}

/// A directory of its own under the system's temporary directory, named after `name`, the
/// process and the time (tests of one binary share the process id).
pub fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("chalk-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// The start of the first JWT-shaped run in `text`: `eyJ` (base64url of `{"`), at least ten
/// more base64url characters, then the `.` that ends a compact JWT's header segment.
///
/// A bare `contains("eyJ")` is not a leak check: reports show the handshake's random
/// `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` values (hundreds of them in a full run), and
/// now and then one contains those three letters by chance. Those are standard base64, so the
/// dot never follows them.
pub fn jwt_shaped(text: &str) -> Option<&str> {
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    text.match_indices("eyJ").find_map(|(at, _)| {
        let rest = &text.as_bytes()[at..];
        let run = rest.iter().take_while(|b| base64url(**b)).count();
        (run >= 13 && rest.get(run) == Some(&b'.')).then(|| &text[at..at + run.min(24)])
    })
}

#[cfg(test)]
mod tests {
    use super::jwt_shaped;

    #[test]
    fn tokens_are_found_wherever_they_are() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tX2lkIjoiciJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
        let line = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(jwt_shaped(&line), Some("eyJhbGciOiJIUzI1NiJ9"));
        // A header segment alone, as a truncated line might show it, still counts.
        assert!(jwt_shaped("token=eyJhbGciOiJub25lIn0.").is_some());
        assert!(jwt_shaped(&format!("?token={token}&x=1")).is_some());
    }

    #[test]
    fn handshake_nonces_that_happen_to_contain_eyj_are_not_tokens() {
        assert_eq!(
            jwt_shaped("Sec-WebSocket-Accept: zfVeyJbW669AhkwHf6lNwUiF12o=\r\n"),
            None
        );
        assert_eq!(
            jwt_shaped("Sec-WebSocket-Key: ze+EjZUeyJ21jmxAyBsyRg==\r\n"),
            None
        );
        assert_eq!(jwt_shaped("[token:Alice] eyJ. [jwt]"), None);
    }
}
