//! Getting rooms, participants and recordings from the deployment under test.
//!
//! Three ways, chosen from the command line:
//! - the REST API (`--api-url`, `--api-key`): rooms and participants are created for real, and
//!   recordings, removals and room ends go through the API;
//! - a token command (`--token-command`): a shell command prints a token for the room and
//!   participant named in its environment; a `--recording-command` does the same for recordings;
//! - a signing key (`--jwt-secret`, `--jwt-private-key`): the suite mints tokens itself.
//!
//! A signing key given next to REST or a command is used only to forge defective tokens.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

use crate::driver::rest::{RecordingAction, RestClient, RestError};
use crate::driver::tokens::{self, Identity, Minter, TokenError};

/// A new run id: `command` (two letters: `cc` the suite, `fz` fuzz, `ld` load) and six hex
/// digits. Every room and participant a run provisions is named after it, so that runs against
/// one server keep apart and a server's logs show which run made what.
pub fn run_id(command: &str) -> String {
    format!(
        "{command}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..6]
    )
}

/// How long a provisioning command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// Why something could not be provisioned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// A REST call failed.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// A token could not be minted.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A provisioning command failed.
    #[error("{which} failed: {reason}")]
    Command {
        /// `--token-command` or `--recording-command`.
        which: &'static str,
        /// What went wrong (exit status and the first line of stderr, or a timeout).
        reason: String,
    },
    /// The run has no way to do this.
    #[error("this run cannot {0}")]
    Unsupported(&'static str),
}

/// A participant's way in: its token and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The token.
    pub token: String,
    /// The participant id the token stands for.
    pub participant_id: String,
    /// The room it admits to.
    pub room_id: String,
    /// The display name it was provisioned with (as the REST API answered it recorded it,
    /// when the answer says).
    pub display_name: String,
    /// The role it was provisioned with (as the REST API answered it recorded it, when the
    /// answer says).
    pub role: String,
}

/// Where participant tokens come from.
#[derive(Debug, Clone)]
pub enum ParticipantSource {
    /// The REST API.
    Rest(RestClient),
    /// A shell command that prints a token.
    Command(String),
    /// Minted with the deployment's key.
    Mint(Arc<Minter>),
}

/// Provisions everything a scenario needs.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// How participants are made.
    pub participants: ParticipantSource,
    /// The REST API, when the run has one.
    pub rest: Option<RestClient>,
    /// The REST API of each node, the i-th for the i-th node, when the run was given one per
    /// node; empty when one API serves every node ([`Provisioner::via`]).
    pub node_apis: Vec<RestClient>,
    /// The recording command, when the run has one.
    pub recording_command: Option<String>,
    /// The deployment's signing key, when the run has one.
    pub minter: Option<Arc<Minter>>,
}

impl Provisioner {
    /// This provisioner with its REST calls going to the API of node `node` (counted modulo
    /// the nodes); itself when one API serves every node.
    pub fn via(&self, node: usize) -> Provisioner {
        let mut via = self.clone();
        if let Some(rest) = self.node_apis.get(node % self.node_apis.len().max(1)) {
            if let ParticipantSource::Rest(_) = via.participants {
                via.participants = ParticipantSource::Rest(rest.clone());
            }
            via.rest = Some(rest.clone());
        }
        via
    }

    /// A room to play in; `name` is used with REST, `local_id` otherwise.
    pub async fn create_room(&self, name: &str, local_id: &str) -> Result<String, ProvisionError> {
        match &self.participants {
            ParticipantSource::Rest(rest) => Ok(rest.create_room(name).await?),
            ParticipantSource::Command(_) | ParticipantSource::Mint(_) => Ok(local_id.to_owned()),
        }
    }

    /// A new participant of `room_id`; `local_id` is its id where the suite chooses ids.
    pub async fn add_participant(
        &self,
        room_id: &str,
        local_id: &str,
        display_name: &str,
        role: &str,
    ) -> Result<Credentials, ProvisionError> {
        let identity = Identity {
            room_id: room_id.to_owned(),
            participant_id: local_id.to_owned(),
            display_name: display_name.to_owned(),
            role: role.to_owned(),
        };
        // What the REST API answered it recorded, where it says; else what was asked for.
        let mut recorded = (display_name.to_owned(), role.to_owned());
        let (token, participant_id) = match &self.participants {
            ParticipantSource::Rest(rest) => {
                let created = rest.add_participant(room_id, display_name, role).await?;
                if let Some(name) = created.display_name {
                    recorded.0 = name;
                }
                if let Some(role) = created.role {
                    recorded.1 = role;
                }
                (created.token, created.participant_id)
            }
            ParticipantSource::Command(command) => {
                let token = run_command(
                    "--token-command",
                    command,
                    &[
                        ("CHALK_ROOM_ID", room_id),
                        ("CHALK_PARTICIPANT_ID", local_id),
                        ("CHALK_DISPLAY_NAME", display_name),
                        ("CHALK_ROLE", role),
                    ],
                )
                .await?;
                // The command may choose its own id; the token says which.
                let participant_id = tokens::claims_of(&token)
                    .and_then(|c| c.get("participant_id")?.as_str().map(str::to_owned))
                    .unwrap_or_else(|| local_id.to_owned());
                (token, participant_id)
            }
            ParticipantSource::Mint(minter) => (minter.mint(&identity)?, local_id.to_owned()),
        };
        Ok(Credentials {
            token,
            participant_id,
            room_id: room_id.to_owned(),
            display_name: recorded.0,
            role: recorded.1,
        })
    }

    /// Starts or stops the room's recording.
    pub async fn recording(
        &self,
        room_id: &str,
        action: RecordingAction,
    ) -> Result<(), ProvisionError> {
        if let Some(rest) = &self.rest {
            return Ok(rest.recording(room_id, action).await?);
        }
        if let Some(command) = &self.recording_command {
            run_command(
                "--recording-command",
                command,
                &[
                    ("CHALK_ROOM_ID", room_id),
                    ("CHALK_RECORDING_ACTION", action.as_str()),
                ],
            )
            .await?;
            return Ok(());
        }
        Err(ProvisionError::Unsupported(
            "start or stop recordings (give --api-url and --api-key, or --recording-command)",
        ))
    }

    /// Removes a participant from its room.
    pub async fn remove_participant(
        &self,
        room_id: &str,
        participant_id: &str,
    ) -> Result<(), ProvisionError> {
        match &self.rest {
            Some(rest) => Ok(rest.remove_participant(room_id, participant_id).await?),
            None => Err(ProvisionError::Unsupported(
                "remove participants (give --api-url and --api-key)",
            )),
        }
    }

    /// Ends a room.
    pub async fn end_room(&self, room_id: &str) -> Result<(), ProvisionError> {
        match &self.rest {
            Some(rest) => Ok(rest.end_room(room_id).await?),
            None => Err(ProvisionError::Unsupported(
                "end rooms (give --api-url and --api-key)",
            )),
        }
    }
}

/// Something an operator does to a room through the REST API, which a deployment may not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Start and stop a recording (`POST /rooms/{room_id}/recordings/start`, `/stop`).
    Recordings,
    /// Remove a participant (`DELETE /rooms/{room_id}/participants/{participant_id}`).
    ParticipantRemoval,
    /// End a room (`POST /rooms/{room_id}/end`).
    RoomEnd,
}

impl Operation {
    /// Every operation, in the order they are tried on one room (the room ends last).
    pub const ALL: [Operation; 3] = [
        Operation::Recordings,
        Operation::ParticipantRemoval,
        Operation::RoomEnd,
    ];

    /// The capability's name, as the catalogue's `needs` and `--without` say it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Recordings => "recordings",
            Operation::ParticipantRemoval => "participant-removal",
            Operation::RoomEnd => "room-end",
        }
    }

    /// The route, as the API documents it.
    fn route(self) -> &'static str {
        match self {
            Operation::Recordings => "POST /rooms/{room_id}/recordings/start",
            Operation::ParticipantRemoval => {
                "DELETE /rooms/{room_id}/participants/{participant_id}"
            }
            Operation::RoomEnd => "POST /rooms/{room_id}/end",
        }
    }
}

/// An operation the REST API does not offer, and what its route answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOffered {
    /// Which.
    pub operation: Operation,
    /// `POST /rooms/{room_id}/end answered 404`.
    pub answer: String,
}

impl Provisioner {
    /// Tries `operations` through the REST API on `room_id`, a room of the run's own with the
    /// participant `participant_id` in it (recordings are started and stopped, the participant
    /// removed, the room ended); the ones the API does not offer (404 or 405 on the route). Any
    /// other answer counts as offered: the scenarios judge it. Nothing is tried without REST.
    pub async fn unoffered(
        &self,
        room_id: &str,
        participant_id: &str,
        operations: &[Operation],
    ) -> Vec<NotOffered> {
        let Some(rest) = &self.rest else {
            return Vec::new();
        };
        let mut unoffered = Vec::new();
        for operation in Operation::ALL
            .into_iter()
            .filter(|o| operations.contains(o))
        {
            let tried = match operation {
                Operation::Recordings => {
                    match rest.recording(room_id, RecordingAction::Start).await {
                        Ok(()) => rest.recording(room_id, RecordingAction::Stop).await,
                        Err(e) => Err(e),
                    }
                }
                Operation::ParticipantRemoval => {
                    rest.remove_participant(room_id, participant_id).await
                }
                Operation::RoomEnd => rest.end_room(room_id).await,
            };
            if let Err(error) = tried
                && error.not_offered()
            {
                unoffered.push(NotOffered {
                    operation,
                    answer: format!(
                        "{} answered {}",
                        operation.route(),
                        error.status().unwrap_or_default()
                    ),
                });
            }
        }
        unoffered
    }
}

/// Runs `command`, the `--node-kill-command` or `--node-restart-command` named `which`, on the
/// node at `url`, number `index` (counted from 1, in the order of the `--url`s), given to it as
/// `CHALK_NODE_URL` and `CHALK_NODE_INDEX`.
pub async fn node_command(
    which: &'static str,
    command: &str,
    url: &str,
    index: usize,
) -> Result<(), ProvisionError> {
    let index = index.to_string();
    run_command(
        which,
        command,
        &[("CHALK_NODE_URL", url), ("CHALK_NODE_INDEX", &index)],
    )
    .await
    .map(drop)
}

/// Runs `sh -c command` with `env`; its trimmed standard output.
async fn run_command(
    which: &'static str,
    command: &str,
    env: &[(&str, &str)],
) -> Result<String, ProvisionError> {
    let failed = |reason: String| ProvisionError::Command { which, reason };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start sh: {e}")))?;
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let run = async {
        let mut out = String::new();
        let mut err = String::new();
        let (read_out, read_err, status) = tokio::join!(
            stdout.read_to_string(&mut out),
            stderr.read_to_string(&mut err),
            child.wait()
        );
        read_out.map_err(|e| failed(format!("unreadable output: {e}")))?;
        let _ = read_err;
        let status = status.map_err(|e| failed(e.to_string()))?;
        if !status.success() {
            let first = err.lines().next().unwrap_or("").trim().to_owned();
            return Err(failed(format!("{status}: {first}")));
        }
        Ok(out.trim().to_owned())
    };
    let output = tokio::time::timeout(COMMAND_TIMEOUT, run)
        .await
        .map_err(|_| {
            failed(format!(
                "still running after {}s",
                COMMAND_TIMEOUT.as_secs()
            ))
        })??;
    if output.is_empty() && which == "--token-command" {
        return Err(failed("printed no token".to_owned()));
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_command_gets_its_environment_and_prints_a_token() {
        let provisioner = Provisioner {
            participants: ParticipantSource::Command(
                "printf 'tok-%s-%s-%s' \"$CHALK_ROOM_ID\" \"$CHALK_PARTICIPANT_ID\" \"$CHALK_ROLE\"".into(),
            ),
            rest: None,
            node_apis: Vec::new(),
            recording_command: None,
            minter: None,
        };
        let creds = provisioner
            .add_participant("room-7", "p-7", "Alice", "participant")
            .await
            .unwrap();
        assert_eq!(creds.token, "tok-room-7-p-7-participant");
        assert_eq!(creds.participant_id, "p-7");
    }

    #[tokio::test]
    async fn a_failing_command_names_itself_and_its_stderr() {
        let error = run_command("--token-command", "echo nope >&2; exit 3", &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("--token-command failed"), "{error}");
        assert!(error.contains("nope"), "{error}");
    }
}
