//! The typed parameters of the step vocabulary: `{participant}`, `{event}`, `{defect}`,
//! `{lookalike}`, `{channel}`, `{steer}`.

use std::fmt;
use std::str::FromStr;

use cucumber::Parameter;

use crate::driver::handshake::TokenChannel;
use crate::driver::tokens::TokenDefect;

/// A participant, by the name the feature gives it (`Alice`, `Bob`, `Mallory`).
#[derive(Debug, Clone, PartialEq, Eq, Parameter)]
#[param(name = "participant", regex = "[A-Z][a-z]+")]
pub struct Name(pub String);

impl FromStr for Name {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// An event name such as `participant.joined` or `pong`.
#[derive(Debug, Clone, PartialEq, Eq, Parameter)]
#[param(name = "event", regex = "[a-z]+(?:\\.[a-z]+)*")]
pub struct EventName(pub String);

impl FromStr for EventName {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for EventName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// What is wrong with a token: the phrase after "a token that".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "defect",
    regex = "expired two hours ago|becomes valid only in two hours|expired ten minutes ago|becomes valid only in ten minutes|is signed with another key|was altered after signing|declares the algorithm none|has no room_id claim|has no participant_id claim|has an empty room_id|has an empty participant_id|has a numeric participant_id|has only two segments|has segments that are not base64url|has a payload that is not JSON|is not a JWT at all"
)]
pub struct Defect(pub TokenDefect);

impl FromStr for Defect {
    type Err = crate::driver::tokens::UnknownDefect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// How an origin is made to resemble the allowed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "lookalike",
    regex = "with another site's domain appended|with another scheme|with another port|with its host lengthened|with a subdomain added"
)]
pub enum Lookalike {
    /// `https://app.example` → `https://app.example.attacker.invalid`.
    DomainAppended,
    /// `https://` ↔ `http://`.
    OtherScheme,
    /// Another port.
    OtherPort,
    /// A longer host that starts with the allowed one: `https://app.example-attacker.invalid`.
    HostLengthened,
    /// A subdomain of the allowed host: `https://attacker.app.example`.
    Subdomain,
}

impl FromStr for Lookalike {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "with another site's domain appended" => Ok(Self::DomainAppended),
            "with another scheme" => Ok(Self::OtherScheme),
            "with another port" => Ok(Self::OtherPort),
            "with its host lengthened" => Ok(Self::HostLengthened),
            "with a subdomain added" => Ok(Self::Subdomain),
            other => Err(format!("unknown look-alike {other:?}")),
        }
    }
}

impl Lookalike {
    /// The look-alike of `allowed` (an origin `scheme://host[:port]`).
    pub fn of(self, allowed: &str) -> String {
        let (scheme, rest) = allowed.split_once("://").unwrap_or(("https", allowed));
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if port.parse::<u16>().is_ok() => {
                (host, Some(port.parse::<u16>().unwrap_or(0)))
            }
            _ => (rest, None),
        };
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        match self {
            Lookalike::DomainAppended => format!("{scheme}://{host}.attacker.invalid{port_text}"),
            Lookalike::HostLengthened => format!("{scheme}://{host}-attacker.invalid{port_text}"),
            Lookalike::Subdomain => format!("{scheme}://attacker.{host}{port_text}"),
            Lookalike::OtherScheme => {
                let other = if scheme == "https" { "http" } else { "https" };
                format!("{other}://{host}{port_text}")
            }
            Lookalike::OtherPort => {
                let other = match port {
                    Some(p) => p.wrapping_add(1).max(1),
                    None if scheme == "https" => 8443,
                    None => 8080,
                };
                format!("{scheme}://{host}:{other}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn the_defect_regex_knows_every_phrase() {
        let regex = Regex::new(&format!(
            "^(?:{})$",
            <Defect as cucumber::codegen::Parameter>::REGEX
        ))
        .unwrap();
        for defect in TokenDefect::ALL {
            assert!(regex.is_match(defect.phrase()), "{}", defect.phrase());
        }
    }

    #[test]
    fn lookalikes_change_one_part_of_the_origin() {
        let allowed = "https://app.chalk.test";
        assert_eq!(
            Lookalike::DomainAppended.of(allowed),
            "https://app.chalk.test.attacker.invalid"
        );
        assert_eq!(Lookalike::OtherScheme.of(allowed), "http://app.chalk.test");
        assert_eq!(
            Lookalike::OtherPort.of(allowed),
            "https://app.chalk.test:8443"
        );
        assert_eq!(
            Lookalike::OtherPort.of("http://localhost:3000"),
            "http://localhost:3001"
        );
        assert_eq!(
            Lookalike::HostLengthened.of(allowed),
            "https://app.chalk.test-attacker.invalid"
        );
        assert_eq!(
            Lookalike::Subdomain.of("http://localhost:3000"),
            "http://attacker.localhost:3000"
        );
    }
}

/// Where a token is presented: the phrase of a [`TokenChannel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Parameter)]
#[param(
    name = "channel",
    regex = "in the subprotocol header|in the query string, offering no subprotocol|in the query string, offering chalk"
)]
pub struct Channel(pub TokenChannel);

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// What a client names when it tries to steer its connection: `the other room` (the scenario's
/// other room) or a participant of the scenario (`Carol`, by its participant id).
#[derive(Debug, Clone, PartialEq, Eq, Parameter)]
#[param(name = "steer", regex = "the other room|[A-Z][a-z]+")]
pub enum Steer {
    /// The scenario's other room.
    OtherRoom,
    /// A participant of the scenario.
    Participant(String),
}

impl FromStr for Steer {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "the other room" => Self::OtherRoom,
            name => Self::Participant(name.to_owned()),
        })
    }
}
