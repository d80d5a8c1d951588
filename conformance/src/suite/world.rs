//! The state of one scenario: its rooms, its participants and their connections, its attempts.
//!
//! Each scenario gets a fresh [`ChalkWorld`]. The run's context (target, provisioning, timeouts,
//! the frame judge, the redactor) is handed to it by the runner's `before` hook, since cucumber
//! builds worlds without arguments. Steps do their work through the [`Scene`] methods here, which
//! keep every scenario isolated: its own rooms, its own participants (named with the run id), and
//! assertions that only ever look at events about participants the scenario created. A scenario's
//! failures reach the report through its [`FailureLog`], filed with the report beside its
//! transcript when the scenario starts.
//!
//! A refusal counts only next to its positive control ([`Scene::control`], [`Scene::controlled`]):
//! before it provokes a refusal, a scenario connects a participant of its own control room with
//! the same kind of upgrade, the defect left out (a token made the same way, signed with the
//! same key; the allowed origin). A server that refuses the control too has refused for another
//! reason than the defect, and the refusal is not credited.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::contract::catalogue::Catalogue;
use crate::contract::judge::{FrameJudge, RequirementRef};
use crate::driver::connection::{Connection, Ending, Received};
use crate::driver::deployment::{Node, OriginMode};
use crate::driver::handshake::{self, Extras, Handshake, TokenChannel, UpgradeRequest};
use crate::driver::provision::{self, Credentials, Provisioner};
use crate::driver::redact::Redactor;
use crate::driver::tokens::{self, TokenDefect};
use crate::driver::transcript::{Direction, Transcript};
use crate::driver::transport::{Connector, Target};
use crate::suite::failure::{Failed, Failure, FailureLog, Mismatch};
use crate::suite::keepalive::IdleTimeout;
use crate::suite::matchers;

/// The requirement a refused valid token breaks (used when a scenario's setup cannot connect).
const SETUP_CONNECT_REQUIREMENT: &str = "AUTH-001";
/// The requirement a refused positive control breaks: the one that says a valid token presented
/// that way opens a connection. A server that refuses the query string altogether fails AUTH-003
/// or AUTH-004 once per refusal it cannot be credited with, never AUTH-001 (which is about the
/// header) and never the refusal's own requirement.
pub fn control_requirement(channel: TokenChannel) -> &'static str {
    match channel {
        TokenChannel::Header => SETUP_CONNECT_REQUIREMENT,
        TokenChannel::QueryNoProtocol => "AUTH-003",
        TokenChannel::QueryWithChalk => "AUTH-004",
    }
}
/// The requirement a room that never announces a newcomer breaks.
const SETUP_PRESENCE_REQUIREMENT: &str = "PRES-001";
/// The participant, in the control room, that makes a scenario's positive controls.
const CONTROL_PARTICIPANT: &str = "Control";
/// How long after the last expected event a scenario keeps listening for late duplicates of
/// the events it expected (see [`Scene::expect_once`]).
pub const QUIET_PERIOD: Duration = Duration::from_millis(200);

/// Everything a scenario needs from its run.
#[derive(Debug)]
pub struct RunContext {
    /// The WebSocket endpoint of the first node (the preflight's).
    pub target: Target,
    /// Every node of the deployment, in order (never empty); the scenarios' participants are
    /// spread over them ([`Scene::provision`]).
    pub nodes: Vec<Node>,
    /// Opens connections to it.
    pub connector: Connector,
    /// Makes rooms, participants and recordings.
    pub provisioner: Provisioner,
    /// Judges every received frame.
    pub judge: Arc<FrameJudge>,
    /// The requirement catalogue.
    pub catalogue: Arc<Catalogue>,
    /// Knows every secret of the run.
    pub redactor: Arc<Redactor>,
    /// The Origin header of connections meant to succeed.
    pub origin: Option<String>,
    /// An origin the deployment must refuse.
    pub forbidden_origin: String,
    /// How the deployment validates origins (`--origin-mode`).
    pub origin_mode: OriginMode,
    /// How long to wait for an expected event.
    pub event_timeout: Duration,
    /// How long "receives nothing" waits.
    pub quiet_window: Duration,
    /// The server's clock leeway for `exp`/`nbf` (token-expiry extension).
    pub token_leeway: Duration,
    /// The server's idle timeout, which the keepalive scenario outlasts.
    pub idle_timeout: IdleTimeout,
    /// A short id that prefixes everything the run creates.
    pub run_id: String,
    /// Numbers scenarios within the run.
    pub scenario_counter: AtomicUsize,
    /// How nodes are lost and brought back, for the failover scenarios.
    pub failover: Failover,
}

/// How the failover scenarios lose a node and bring it back.
#[derive(Debug, Default)]
pub struct Failover {
    /// `--node-kill-command`.
    pub kill_command: Option<String>,
    /// `--node-restart-command`.
    pub restart_command: Option<String>,
    /// `--failover-bound`: how long after a node's loss its members must be reported gone.
    pub bound: Duration,
    /// How many nodes the failover scenarios took to lose, the last node first.
    pub victims: AtomicUsize,
    /// The nodes killed and not brought back (index in [`RunContext::nodes`]): nothing later
    /// goes to them, their REST APIs included.
    pub dead: std::sync::Mutex<std::collections::BTreeSet<usize>>,
}

impl RunContext {
    /// The catalogue entry `id` as a failure names it.
    pub fn requirement(&self, id: &str) -> RequirementRef {
        RequirementRef::lookup(&self.catalogue, id, "(not in the catalogue)")
    }

    /// Whether the deployment has several nodes.
    pub fn several_nodes(&self) -> bool {
        self.nodes.len() > 1
    }

    /// The node at `index`, counted modulo the nodes.
    fn node(&self, index: usize) -> &Node {
        &self.nodes[index % self.nodes.len().max(1)]
    }
}

/// Which of a scenario's rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoomKey {
    /// "the room".
    Main,
    /// "another room".
    Other,
    /// Where the scenario's positive controls connect, out of its other participants' sight.
    Control,
    /// One of the rooms whose id the scenario made resemble the room's ("a room whose id is the
    /// room's id in upper case"), numbered in order of use.
    Lookalike(u8),
}

impl RoomKey {
    fn slug(self) -> &'static str {
        match self {
            RoomKey::Main => "room",
            RoomKey::Other => "other-room",
            RoomKey::Control => "control-room",
            RoomKey::Lookalike(_) => "lookalike-room",
        }
    }
}

/// An expected event a step found, for the exactly-once check at the scenario's end.
#[derive(Debug, Clone)]
struct Found {
    /// Who received it.
    listener: String,
    /// Which of its connections (index in [`Participant::connections`]).
    connection: usize,
    /// Where in that connection's frames.
    position: usize,
}

/// How the token of a positive control is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlToken {
    /// The control participant's token, as provisioned: the control of an upgrade refused for
    /// its origin, its offer, or a token that is not a valid one at all.
    AsProvisioned,
    /// Made as the forgery with this defect is made (signed again with the run's key where the
    /// forgery is), without the defect.
    WithoutDefect(TokenDefect),
}

/// A positive control the scenario made.
#[derive(Debug, Clone)]
pub struct Control {
    /// What it offered, for messages.
    pub what: String,
    /// The token it offered.
    pub token: String,
    /// Where it presented the token.
    pub channel: TokenChannel,
    /// Whether the server accepted it.
    pub accepted: bool,
    /// The server's answer, in short.
    pub answer: String,
}

/// A participant the scenario created.
#[derive(Debug)]
pub struct Participant {
    /// The name the feature calls it by.
    pub name: String,
    /// Its room.
    pub room: RoomKey,
    /// Its token and identity.
    pub credentials: Credentials,
    /// The node it connects to (index in [`RunContext::nodes`]).
    pub node: usize,
    /// Its connections, oldest first.
    pub connections: Vec<Connection>,
}

/// One upgrade attempt of the scenario.
#[derive(Debug)]
pub struct Attempt {
    /// Who tried.
    pub who: String,
    /// What was special about it (a token defect, an origin), for messages.
    pub what: String,
    /// The token offered, if any.
    pub token: Option<String>,
    /// The handshake.
    pub handshake: Handshake,
}

/// The world of one scenario.
#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct ChalkWorld {
    scene: Option<Scene>,
}

impl fmt::Debug for ChalkWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scene {
            Some(scene) => write!(f, "scenario #{} ({})", scene.number, scene.requirement.id),
            None => f.write_str("scenario (not started)"),
        }
    }
}

impl ChalkWorld {
    fn new() -> Self {
        Self { scene: None }
    }

    /// Starts the scenario (called by the runner's `before` hook).
    pub fn begin(&mut self, run: Arc<RunContext>, requirement: RequirementRef) {
        let number = run.scenario_counter.fetch_add(1, Ordering::Relaxed) + 1;
        self.scene = Some(Scene {
            run,
            requirement,
            number,
            transcript: Arc::new(Transcript::new()),
            failures: FailureLog::default(),
            rooms: BTreeMap::new(),
            participants: BTreeMap::new(),
            attempts: Vec::new(),
            action_started: None,
            action_attempts: 0,
            sent_texts: Vec::new(),
            last_sent: None,
            recordings: Vec::new(),
            second_start: None,
            controls: Vec::new(),
            probes: 0,
            deadline_extra: Duration::ZERO,
            found: std::sync::Mutex::default(),
            minted_rooms: false,
            introduced: 0,
            room_calls: 0,
            placements: BTreeMap::new(),
            fixed_deadline: None,
            lost: None,
        });
    }

    /// The scenario's state.
    pub fn scene(&mut self) -> &mut Scene {
        self.scene
            .as_mut()
            .expect("the runner's before hook starts every scenario")
    }

    /// The scenario's state, if it was started.
    pub fn scene_ref(&self) -> Option<&Scene> {
        self.scene.as_ref()
    }

    /// The *must* tier: a step's verdict becomes the scenario's. A failure is recorded in the
    /// scenario's [`FailureLog`], for the report, and the step gets [`Failed`] to fail with.
    pub fn must(&mut self, verdict: Result<(), Failure>) -> Result<(), Failed> {
        verdict.map_err(|failure| {
            self.scene().failures.record(failure);
            Failed
        })
    }

    /// Runs a step's `work` on the scene, then makes its verdict the scenario's (see
    /// [`Self::must`]): how every step is written.
    pub async fn judge(
        &mut self,
        work: impl AsyncFnOnce(&mut Scene) -> Result<(), Failure>,
    ) -> Result<(), Failed> {
        let verdict = work(self.scene()).await;
        self.must(verdict)
    }

    /// Ends the scenario: judges what every connection received, then closes them. A frame that
    /// broke the contract fails the scenario through its [`FailureLog`].
    pub async fn finish(&mut self) {
        let Some(scene) = self.scene.as_mut() else {
            return;
        };
        if let Err(failure) = scene.frame_violations() {
            scene.failures.record_at_end(failure);
        } else if let Err(failure) = scene.expected_events_once().await {
            scene.failures.record_at_end(failure);
        }
        for participant in scene.participants.values_mut() {
            for connection in &mut participant.connections {
                connection.shut().await;
            }
        }
    }
}

/// The state of a started scenario.
#[derive(Debug)]
pub struct Scene {
    run: Arc<RunContext>,
    requirement: RequirementRef,
    number: usize,
    transcript: Arc<Transcript>,
    failures: FailureLog,
    rooms: BTreeMap<RoomKey, String>,
    participants: BTreeMap<String, Participant>,
    attempts: Vec<Attempt>,
    action_started: Option<Instant>,
    action_attempts: usize,
    /// Texts sent as chat messages by the action, in order.
    pub sent_texts: Vec<String>,
    /// The last JSON frame sent by the action.
    pub last_sent: Option<Value>,
    /// The recording ids announced by `recording.started`, oldest first.
    pub recordings: Vec<String>,
    /// How the API answered a start of the recording while one ran (the status, or why there
    /// was no answer), once the scenario tried it.
    pub second_start: Option<Result<u16, String>>,
    controls: Vec<Control>,
    probes: usize,
    deadline_extra: Duration,
    /// The expected events the scenario's steps found, for [`Scene::expected_events_once`].
    found: std::sync::Mutex<Vec<Found>>,
    /// Whether the scenario chooses its room ids and mints every token itself.
    minted_rooms: bool,
    /// How many participants the scenario has introduced (its control participant aside).
    introduced: usize,
    /// How many REST calls about a whole room the scenario has made.
    room_calls: usize,
    /// The nodes the scenario put participants on before they were provisioned (index in
    /// [`RunContext::nodes`]).
    placements: BTreeMap<String, usize>,
    /// A deadline the waits keep to instead of the event timeout, and the window it stands for
    /// (the failover bound, counted from a node's loss).
    fixed_deadline: Option<(Instant, Duration)>,
    /// The node the scenario was given to lose (index in [`RunContext::nodes`]), and when it was
    /// killed, once it was.
    lost: Option<(usize, Option<Instant>)>,
}

impl Scene {
    /// The run's context.
    pub fn run(&self) -> &RunContext {
        &self.run
    }

    /// The scenario's transcript.
    pub fn transcript(&self) -> &Transcript {
        &self.transcript
    }

    /// A handle on the scenario's transcript that outlives the scenario (for the report).
    pub fn transcript_handle(&self) -> Arc<Transcript> {
        Arc::clone(&self.transcript)
    }

    /// A handle on the scenario's failure log that outlives the scenario (for the report).
    pub fn failure_log(&self) -> FailureLog {
        self.failures.clone()
    }

    /// The requirement the scenario checks.
    pub fn requirement(&self) -> &RequirementRef {
        &self.requirement
    }

    /// A failure of the scenario's requirement.
    pub fn fail(&self, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
        Mismatch::new(expected, actual).against(self.requirement.clone())
    }

    /// A matcher's verdict as the scenario's verdict.
    pub fn check<T>(&self, verdict: matchers::Match<T>) -> Result<T, Failure> {
        verdict.map_err(|m| m.against(self.requirement.clone()))
    }

    /// A matcher's verdict charged to another requirement.
    pub fn check_other<T>(&self, id: &str, verdict: matchers::Match<T>) -> Result<T, Failure> {
        verdict.map_err(|m| m.against(self.run.requirement(id)))
    }

    /// A note in the transcript.
    pub fn note(&self, actor: &str, text: impl Into<String>) {
        self.transcript.record(actor, Direction::Note, text);
    }

    /// Marks the start of the scenario's action (`When`): Then steps look at what follows.
    pub fn begin_action(&mut self) {
        self.action_started = Some(Instant::now());
        self.action_attempts = self.attempts.len();
        self.sent_texts.clear();
        self.last_sent = None;
        for participant in self.participants.values_mut() {
            for connection in &mut participant.connections {
                connection.set_mark();
            }
        }
    }

    /// The deadline for an expected event, from now.
    pub fn deadline(&self) -> Instant {
        match self.fixed_deadline {
            Some((at, _)) => at,
            None => Instant::now() + self.run.event_timeout + self.deadline_extra,
        }
    }

    /// Makes the waits keep to `at`, which is `window` after the event they wait on, instead of
    /// the event timeout; `None` goes back to the event timeout.
    pub fn fix_deadline(&mut self, fixed: Option<(Instant, Duration)>) {
        self.fixed_deadline = fixed;
    }

    /// Gives later waits of the scenario `extra` time (for events that are due later by design).
    pub fn extend_deadlines(&mut self, extra: Duration) {
        self.deadline_extra = extra;
    }

    /// Waits out the quiet window, counted from the start of the action.
    pub async fn quiet(&self) {
        let start = self.action_started.unwrap_or_else(Instant::now);
        tokio::time::sleep_until(start + self.run.quiet_window).await;
    }

    /// The id of a room, created on first use.
    pub async fn room_id(&mut self, key: RoomKey) -> Result<String, Failure> {
        if let Some(id) = self.rooms.get(&key) {
            return Ok(id.clone());
        }
        let name = format!(
            "chalk-conformance {} #{} {}",
            self.run.run_id,
            self.number,
            key.slug()
        );
        let local_id = format!("{}-{:03}-{}", self.run.run_id, self.number, key.slug());
        if self.minted_rooms {
            self.note("setup", format!("room {:?} is {local_id}", key.slug()));
            self.rooms.insert(key, local_id.clone());
            return Ok(local_id);
        }
        let (api, through) = self.room_api();
        let id = api
            .create_room(&name, &local_id)
            .await
            .map_err(|e| self.fail("the scenario's room to be created (setup)", e.to_string()))?;
        self.note("setup", format!("room {:?} is {id}{through}", key.slug()));
        self.rooms.insert(key, id.clone());
        Ok(id)
    }

    /// Provisions `name` in `room` unless it already exists.
    pub async fn provision(
        &mut self,
        name: &str,
        room: RoomKey,
        display_name: Option<&str>,
        role: Option<&str>,
    ) -> Result<(), Failure> {
        if self.participants.contains_key(name) {
            return Ok(());
        }
        let room_id = self.room_id(room).await?;
        let local_id = format!(
            "{}-{:03}-{}",
            self.run.run_id,
            self.number,
            name.to_lowercase()
        );
        let default_name = format!("{name} [{}]", self.run.run_id);
        let display_name = display_name.unwrap_or(&default_name);
        let role = role.unwrap_or("participant");
        // Participants go to the nodes in turn, in the order the scenario introduces them; the
        // control participant stays on the first node, where the preflight checked the way in.
        let node = if name == CONTROL_PARTICIPANT {
            0
        } else if let Some(node) = self.placements.get(name) {
            *node
        } else {
            self.introduced += 1;
            (self.introduced - 1) % self.run.nodes.len().max(1)
        };
        let (credentials, through) = if self.minted_rooms {
            let minted = self.mint_participant(&room_id, &local_id, display_name, role)?;
            (minted, String::new())
        } else {
            let api = self.api_node(node + 1);
            let provisioned = self
                .run
                .provisioner
                .via(api)
                .add_participant(&room_id, &local_id, display_name, role)
                .await
                .map_err(|e| self.refused_provisioning(name, role, e.to_string()))?;
            (provisioned, self.through(api))
        };
        self.run.redactor.register_token(&credentials.token, name);
        let on_node = if self.run.several_nodes() && name != CONTROL_PARTICIPANT {
            format!(", connecting to {}", self.run.node(node).alias)
        } else {
            String::new()
        };
        self.note(
            "setup",
            format!(
                "{name} is participant {}{on_node}{through}",
                credentials.participant_id
            ),
        );
        self.participants.insert(
            name.to_owned(),
            Participant {
                name: name.to_owned(),
                room,
                credentials,
                node,
                connections: Vec::new(),
            },
        );
        Ok(())
    }

    /// The node this scenario may lose: one of its own, never the first, taken from the run's
    /// [`Failover::victims`] the first time it is asked for.
    pub fn node_to_lose(&mut self) -> Result<usize, Failure> {
        if let Some((node, _)) = self.lost {
            return Ok(node);
        }
        let taken = self.run.failover.victims.fetch_add(1, Ordering::Relaxed);
        let nodes = self.run.nodes.len();
        // The last node first; the first node is never lost, so it is the last one standing.
        let Some(node) = nodes.checked_sub(1 + taken).filter(|n| *n > 0) else {
            return Err(self.fail(
                "a node of the scenario's own to lose, not the first (setup)",
                format!(
                    "the deployment has {nodes} node(s), all but the first already given to \
                     other failover scenarios (a mistake in the suite's plan)"
                ),
            ));
        };
        self.lost = Some((node, None));
        Ok(node)
    }

    /// The node the scenario lost (or is to lose), and when it was killed.
    pub fn lost_node(&self) -> Result<(usize, Option<Instant>), Failure> {
        self.lost.ok_or_else(|| {
            self.fail(
                "a node the scenario was given to lose",
                "the scenario was given none (a mistake in the feature)",
            )
        })
    }

    /// Kills the scenario's node to lose with the run's `--node-kill-command`, and, when
    /// `restart`, brings it back with `--node-restart-command`; notes when it was killed.
    pub async fn lose_node(&mut self, restart: bool) -> Result<(), Failure> {
        let (node, _) = self.lost_node()?;
        let failover = &self.run.failover;
        let (kill, revive) = (
            failover.kill_command.clone(),
            failover.restart_command.clone(),
        );
        // Down from now until it is back (for good if the kill or the restart fails): nothing
        // later goes to it, its REST API included.
        self.mark_dead(node, true);
        self.node_command(node, "--node-kill-command", "killed", kill)
            .await?;
        self.lost = Some((node, Some(Instant::now())));
        if restart {
            self.node_command(node, "--node-restart-command", "restarted", revive)
                .await?;
            self.mark_dead(node, false);
        }
        Ok(())
    }

    /// Records that `node` is down (`dead`) or back.
    fn mark_dead(&self, node: usize, dead: bool) {
        let mut down = self
            .run
            .failover
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dead {
            down.insert(node);
        } else {
            down.remove(&node);
        }
    }

    /// Runs `command`, the run's `which`, on `node`, which it leaves `done` (for messages).
    async fn node_command(
        &self,
        node: usize,
        which: &'static str,
        done: &str,
        command: Option<String>,
    ) -> Result<(), Failure> {
        let Node { alias, target } = self.run.node(node).clone();
        let expected = format!("{alias} to be {done} by {which} (setup)");
        let Some(command) = command else {
            return Err(self.fail(expected, "it was not given (a mistake in the suite's plan)"));
        };
        self.note("operator", format!("{which} on {alias} ({})", target.url));
        provision::node_command(which, &command, &target.url, node + 1)
            .await
            .map_err(|e| self.fail(expected, e.to_string()))
    }

    /// Puts `name` on node `number` (counted from 1, in the order of the options): its
    /// connections from now on go there. A scenario that names a node the deployment does not
    /// have is planned for deployments of several nodes only; here it fails as a mistake.
    pub fn place(&mut self, name: &str, number: usize) -> Result<(), Failure> {
        let nodes = self.run.nodes.len();
        if number == 0 || number > nodes {
            return Err(self.fail(
                format!("a node {number} to put {name} on (setup)"),
                format!("the deployment has {nodes} node(s) (a mistake in the suite's plan)"),
            ));
        }
        let node = number - 1;
        match self.participants.get_mut(name) {
            Some(participant) => participant.node = node,
            None => {
                self.placements.insert(name.to_owned(), node);
            }
        }
        Ok(())
    }

    /// The provisioner for the scenario's next REST call about a whole room (creating it,
    /// recording it, ending it), with what the operator's note says of it ([`Self::through`]):
    /// the scenario's calls of this kind go to the nodes' APIs in turn, starting with the
    /// second node's (participants start on the first).
    pub fn room_api(&mut self) -> (Provisioner, String) {
        self.room_calls += 1;
        let node = self.api_node(self.room_calls);
        (self.run.provisioner.via(node), self.through(node))
    }

    /// The provisioner for a REST call about `name` (removing it), with what the operator's
    /// note says of it: the API of the node after the one its connections go to.
    pub fn participant_api(&self, name: &str) -> Result<(Provisioner, String), Failure> {
        let node = self.api_node(self.participant(name)?.node + 1);
        Ok((self.run.provisioner.via(node), self.through(node)))
    }

    /// The node whose REST API takes a call meant for node `node` (counted modulo the nodes):
    /// that node, or the next one still alive when a failover scenario killed it (the first
    /// node is never killed).
    fn api_node(&self, node: usize) -> usize {
        let nodes = self.run.nodes.len().max(1);
        let dead = self
            .run
            .failover
            .dead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (0..nodes)
            .map(|i| (node + i) % nodes)
            .find(|n| !dead.contains(n))
            .unwrap_or(0)
    }

    /// `" (through node2's REST API)"` for the API of node `node` (modulo the nodes) when each
    /// node has its own API; nothing otherwise.
    fn through(&self, node: usize) -> String {
        if self.run.provisioner.node_apis.is_empty() {
            return String::new();
        }
        format!(" (through {}'s REST API)", self.run.node(node).alias)
    }

    /// The failure of provisioning `name`; a participant with a role other than the default
    /// one says that the deployment may not offer the role, which the scenario needs.
    fn refused_provisioning(&self, name: &str, role: &str, error: String) -> Failure {
        if role == "participant" {
            return self.fail(format!("{name} to be provisioned (setup)"), error);
        }
        self.fail(
            format!(
                "{name} to be provisioned with the role {role:?} (setup, not a WebSocket check)"
            ),
            format!(
                "provisioning refused it: {error}. If the deployment has no role {role:?}, this \
                 scenario cannot be run against it: say so with --without custom-roles"
            ),
        )
    }

    /// From now on the scenario chooses its rooms' ids (the room's is made of the run id and
    /// the scenario's number) and mints every token of its participants with the run's key,
    /// instead of provisioning them. Rooms whose ids resemble each other need this.
    pub fn choose_room_ids(&mut self) -> Result<(), Failure> {
        if self.run.provisioner.minter.is_none() {
            return Err(self.fail(
                "a signing key to mint tokens for rooms the scenario names (setup)",
                "the run has none (give --jwt-secret or --jwt-private-key)",
            ));
        }
        self.minted_rooms = true;
        Ok(())
    }

    /// The key of the next look-alike room of the scenario.
    pub fn next_lookalike_room(&self) -> RoomKey {
        let used = self
            .rooms
            .keys()
            .filter(|k| matches!(k, RoomKey::Lookalike(_)))
            .count();
        RoomKey::Lookalike(u8::try_from(used).unwrap_or(u8::MAX))
    }

    /// Names a room of the scenario `id` (its participants' tokens are minted for it).
    pub fn name_room(&mut self, key: RoomKey, id: String) {
        self.note("setup", format!("room {:?} is {id}", key.slug()));
        self.rooms.insert(key, id);
    }

    fn mint_participant(
        &self,
        room_id: &str,
        participant_id: &str,
        display_name: &str,
        role: &str,
    ) -> Result<Credentials, Failure> {
        let identity = tokens::Identity {
            room_id: room_id.to_owned(),
            participant_id: participant_id.to_owned(),
            display_name: display_name.to_owned(),
            role: role.to_owned(),
        };
        let minter = self.run.provisioner.minter.as_deref();
        let token = minter
            .map(|m| m.mint(&identity))
            .transpose()
            .map_err(|e| self.fail("a token minted with the run's key (setup)", e.to_string()))?
            .ok_or_else(|| {
                self.fail(
                    "a token minted with the run's key (setup)",
                    "the run has no signing key",
                )
            })?;
        Ok(Credentials {
            token,
            participant_id: participant_id.to_owned(),
            room_id: room_id.to_owned(),
            display_name: display_name.to_owned(),
            role: role.to_owned(),
        })
    }

    /// A participant the scenario created.
    pub fn participant(&self, name: &str) -> Result<&Participant, Failure> {
        self.participants.get(name).ok_or_else(|| {
            self.fail(
                format!("{name} to be part of the scenario"),
                format!("the scenario has no participant called {name} (a mistake in the feature)"),
            )
        })
    }

    /// The participant id of `name`.
    pub fn participant_id(&self, name: &str) -> Result<String, Failure> {
        Ok(self.participant(name)?.credentials.participant_id.clone())
    }

    /// Participant ids mapped to the scenario's names, for readable messages.
    pub fn names_by_id(&self) -> BTreeMap<String, String> {
        self.participants
            .values()
            .map(|p| (p.credentials.participant_id.clone(), p.name.clone()))
            .collect()
    }

    /// Whether an id belongs to a participant of this scenario.
    pub fn is_ours(&self, id: &str) -> bool {
        self.participants
            .values()
            .any(|p| p.credentials.participant_id == id)
    }

    /// The participants of `room` whose latest connection is open, by name.
    pub fn connected_in(&self, room: RoomKey) -> Vec<String> {
        self.participants
            .values()
            .filter(|p| {
                p.room == room
                    && p.connections
                        .last()
                        .is_some_and(|c| !c.is_dropped() && c.inbox().lock().ending.is_none())
            })
            .map(|p| p.name.clone())
            .collect()
    }

    /// The latest connection of `name`.
    pub fn connection(&self, name: &str) -> Result<&Connection, Failure> {
        self.participant(name)?.connections.last().ok_or_else(|| {
            self.fail(
                format!("{name} to have an open connection"),
                format!("{name} never connected successfully"),
            )
        })
    }

    /// The latest connection of `name`, to send on.
    pub fn connection_mut(&mut self, name: &str) -> Result<&mut Connection, Failure> {
        let missing = self.fail(
            format!("{name} to have an open connection"),
            format!("{name} never connected successfully"),
        );
        self.participants
            .get_mut(name)
            .and_then(|p| p.connections.last_mut())
            .ok_or(missing)
    }

    /// The connection of `name` before its latest one.
    pub fn earlier_connection(&self, name: &str) -> Result<&Connection, Failure> {
        let connections = &self.participant(name)?.connections;
        connections
            .len()
            .checked_sub(2)
            .map(|i| &connections[i])
            .ok_or_else(|| {
                self.fail(
                    format!("{name} to have connected twice"),
                    format!("{name} has {} connection(s)", connections.len()),
                )
            })
    }

    /// The standard upgrade request for `name`: `chalk` then `token.<jwt>`, the run's origin.
    pub fn standard_request(&self, name: &str) -> Result<UpgradeRequest, Failure> {
        let token = self.participant(name)?.credentials.token.clone();
        Ok(UpgradeRequest {
            query_token: None,
            protocols: vec!["chalk".to_owned(), format!("token.{token}")],
            origin: self.run.origin.clone(),
        })
    }

    /// Attempts an upgrade as `who`; keeps the connection when it is accepted.
    pub async fn attempt(
        &mut self,
        who: &str,
        what: impl Into<String>,
        request: UpgradeRequest,
        token: Option<String>,
    ) -> bool {
        self.attempt_with(who, what, request, &Extras::default(), token)
            .await
    }

    /// [`Self::attempt`], with query parameters and headers added to the request.
    pub async fn attempt_with(
        &mut self,
        who: &str,
        what: impl Into<String>,
        request: UpgradeRequest,
        extras: &Extras,
        token: Option<String>,
    ) -> bool {
        let tries = self.attempts.iter().filter(|a| a.who == who).count();
        let label = format!("{who}#{}", tries + 1);
        let node = self.participants.get(who).map_or(0, |p| p.node);
        let node = self.run.node(node).clone();
        let (handshake, ws) = handshake::open_with_extras(
            &self.run.connector,
            &node.target,
            &request,
            extras,
            self.run.event_timeout,
        )
        .await;
        self.transcript
            .record(&label, Direction::Out, handshake.describe_request());
        self.transcript
            .record(&label, Direction::In, handshake.describe_outcome());
        if self.run.several_nodes() {
            self.transcript
                .record(&label, Direction::Note, reached(&node, &handshake));
        }
        let accepted = ws.is_some();
        if let Some(ws) = ws {
            let connection = Connection::start(
                label,
                ws,
                Arc::clone(&self.run.judge),
                Arc::clone(&self.transcript),
            );
            if let Some(participant) = self.participants.get_mut(who) {
                participant.connections.push(connection);
            }
        }
        self.attempts.push(Attempt {
            who: who.to_owned(),
            what: what.into(),
            token,
            handshake,
        });
        accepted
    }

    /// Makes the positive control of a refusal the scenario is about to provoke: the control
    /// participant, in the control room, connects offering `chalk` and a token made as `token`
    /// says, from the run's allowed origin (without one when the run has none). A control with
    /// the same token is made once. Made before the action, it is never one of its attempts.
    pub async fn control(&mut self, token: ControlToken) -> Result<(), Failure> {
        self.control_on(token, TokenChannel::Header).await
    }

    /// [`Self::control`], presenting the token on `channel`: the control of a refusal provoked
    /// on that channel, so that a server refusing the channel itself is not credited with the
    /// refusal. A control with the same token on the same channel is made once.
    pub async fn control_on(
        &mut self,
        token: ControlToken,
        channel: TokenChannel,
    ) -> Result<(), Failure> {
        self.provision(CONTROL_PARTICIPANT, RoomKey::Control, None, None)
            .await?;
        let provisioned = self
            .participant(CONTROL_PARTICIPANT)?
            .credentials
            .token
            .clone();
        let (token, what) = match token {
            ControlToken::AsProvisioned => (provisioned.clone(), "a valid token".to_owned()),
            ControlToken::WithoutDefect(defect) => {
                let minter = self.run.provisioner.minter.as_deref();
                let token = tokens::control_of(&provisioned, defect, minter).map_err(|e| {
                    self.fail(
                        format!("the control of a token that {defect} (setup)"),
                        e.to_string(),
                    )
                })?;
                (
                    token,
                    format!("a valid token made as the one that {defect}, without the defect"),
                )
            }
        };
        if self
            .controls
            .iter()
            .any(|c| c.token == token && c.channel == channel)
        {
            return Ok(());
        }
        if token != provisioned {
            self.run
                .redactor
                .register_token(&token, "Control, signed again with the run's key");
        }
        let what = match channel {
            TokenChannel::Header => what,
            other => format!("{what} {other}"),
        };
        let request = channel.request(&token, self.run.origin.clone());
        let accepted = self
            .attempt(
                CONTROL_PARTICIPANT,
                what.clone(),
                request,
                Some(token.clone()),
            )
            .await;
        let answer = self.last_attempt()?.handshake.summary();
        if accepted
            && let Some(connection) = self
                .participants
                .get_mut(CONTROL_PARTICIPANT)
                .and_then(|p| p.connections.last_mut())
        {
            connection.shut().await;
        }
        self.controls.push(Control {
            what,
            token,
            channel,
            accepted,
            answer,
        });
        Ok(())
    }

    /// Whether the scenario's refusals can be credited to what was wrong with them: it made a
    /// positive control, and the server accepted every one. A refused control fails the
    /// requirement that a valid token presented its way opens a connection
    /// ([`control_requirement`]: AUTH-001 for the header, AUTH-003 or AUTH-004 for the query
    /// string), never passes the refusal.
    pub fn controlled(&self) -> Result<(), Failure> {
        if self.controls.is_empty() {
            return Err(self.fail(
                "a positive control before a refusal is judged (the same upgrade without its \
                 defect, accepted)",
                "the scenario made none (a mistake in the suite)",
            ));
        }
        match self.controls.iter().find(|c| !c.accepted) {
            None => Ok(()),
            Some(control) => Err(Mismatch::new(
                format!(
                    "the positive control of the refusal accepted: {} from the run's origin, \
                     so that the refusal can be credited to the defect alone",
                    control.what
                ),
                format!("{}: the server refused the control too", control.answer),
            )
            .against(self.run.requirement(control_requirement(control.channel)))),
        }
    }

    /// The latest attempt.
    pub fn last_attempt(&self) -> Result<&Attempt, Failure> {
        self.attempts.last().ok_or_else(|| {
            self.fail(
                "an upgrade attempt",
                "the scenario made none (a mistake in the feature)",
            )
        })
    }

    /// Every attempt of the scenario, setup and controls included, oldest first.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// The attempts made by the action.
    pub fn action_attempts(&self) -> &[Attempt] {
        &self.attempts[self.action_attempts.min(self.attempts.len())..]
    }

    /// Connects `name` for a scenario's setup: accepted, settled, and announced to the room.
    pub async fn connect_for_setup(&mut self, name: &str, room: RoomKey) -> Result<(), Failure> {
        self.provision(name, room, None, None).await?;
        let request = self.standard_request(name)?;
        let token = self.participant(name)?.credentials.token.clone();
        self.attempt(name, "setup", request, Some(token)).await;
        self.check_other(
            SETUP_CONNECT_REQUIREMENT,
            matchers::upgrade::accepted(
                &self.last_attempt()?.handshake,
                &format!("{name} connects with a valid token (scenario setup)"),
            ),
        )?;
        self.settle(name).await;
        self.await_announcement(name).await
    }

    /// Connects `name` for a scenario's setup as [`Self::connect_for_setup`] does, but skips
    /// the Ping round trip when someone is already connected to the room: its hearing `name`
    /// join proves as much, and a room of tens is set up without tens of round trips (or, from
    /// a server that answers no Ping, tens of timeouts).
    pub async fn join_for_setup(&mut self, name: &str, room: RoomKey) -> Result<(), Failure> {
        if self.connected_in(room).is_empty() {
            return self.connect_for_setup(name, room).await;
        }
        self.provision(name, room, None, None).await?;
        let request = self.standard_request(name)?;
        let token = self.participant(name)?.credentials.token.clone();
        self.attempt(name, "setup", request, Some(token)).await;
        self.check_other(
            SETUP_CONNECT_REQUIREMENT,
            matchers::upgrade::accepted(
                &self.last_attempt()?.handshake,
                &format!("{name} connects with a valid token (scenario setup)"),
            ),
        )?;
        self.await_announcement(name).await
    }

    /// Round-trips a Ping frame, so that the server has certainly started serving the
    /// connection before the scenario goes on. A server that never answers is noted, not failed
    /// here: PING-002 judges that.
    pub async fn settle(&mut self, name: &str) {
        let payload = format!("settle-{name}");
        let deadline = self.deadline();
        let Ok(connection) = self.connection_mut(name) else {
            return;
        };
        let ping = Message::Ping(payload.clone().into_bytes().into());
        if connection
            .send_raw(
                ping,
                &format!("(ping frame {})", crate::driver::visible::quoted(&payload)),
            )
            .await
            .is_err()
        {
            return;
        }
        let answered = connection
            .inbox()
            .wait_for(deadline, |state| {
                matchers::frames::pong_received(&state.frames, &payload).ok()
            })
            .await;
        if answered.is_none() {
            self.note(name, "no pong frame came back; going on without it");
        }
    }

    /// Waits until everyone else connected to `name`'s room has heard `name` join.
    async fn await_announcement(&self, name: &str) -> Result<(), Failure> {
        let newcomer = self.participant(name)?;
        let id = newcomer.credentials.participant_id.clone();
        let deadline = self.deadline();
        for listener in self.connected_in(newcomer.room) {
            if listener == name {
                continue;
            }
            let connection = self.connection(&listener)?;
            let heard = connection
                .inbox()
                .wait_for(deadline, |state| {
                    (!matchers::about(&state.frames, "participant.joined", &id).is_empty())
                        .then_some(())
                })
                .await;
            if heard.is_none() {
                return Err(matchers::presence::not_announced(
                    &connection.inbox().lock().frames,
                    (&listener, name),
                    self.run.event_timeout,
                    &self.names_by_id(),
                )
                .against(self.run.requirement(SETUP_PRESENCE_REQUIREMENT)));
            }
        }
        Ok(())
    }

    /// Waits until `check` finds something in what `name` received since the action.
    ///
    /// On timeout the error is a description of what did arrive, for the failure's "Actual".
    pub async fn await_frames<T>(
        &self,
        name: &str,
        mut check: impl FnMut(&[Received]) -> Option<T>,
    ) -> Result<Result<T, String>, Failure> {
        self.frame_violations()?;
        let connection = self.connection(name)?;
        let mark = connection.mark();
        let found = connection
            .inbox()
            .wait_for(self.deadline(), |state| {
                check(state.frames.get(mark..).unwrap_or_default())
            })
            .await;
        self.frame_violations()?;
        Ok(found.ok_or_else(|| self.describe_since_action(connection)))
    }

    /// Waits until `matcher` passes on what `name` received since the action; what it found.
    ///
    /// On timeout the failure has the matcher's last Expected, and what did arrive as Actual.
    pub async fn await_match<T>(
        &self,
        name: &str,
        mut matcher: impl FnMut(&[Received]) -> matchers::Match<T>,
    ) -> Result<T, Failure> {
        let mut expected = String::new();
        let found = self
            .await_frames(name, |frames| match matcher(frames) {
                Ok(found) => Some(found),
                Err(mismatch) => {
                    expected = mismatch.expected;
                    None
                }
            })
            .await?;
        found.map_err(|actual| self.fail(expected, actual))
    }

    /// Waits until `matcher` finds an expected event among what `name` received since the
    /// action (as [`Self::await_match`]), and notes the frame it found as one that must come
    /// exactly once ([`Self::expect_once`]).
    pub async fn await_expected(
        &self,
        name: &str,
        matcher: impl FnMut(&[Received]) -> matchers::Match<Value>,
    ) -> Result<Value, Failure> {
        let frame = self.await_match(name, matcher).await?;
        self.expect_once(name, &frame)?;
        Ok(frame)
    }

    /// Notes that `frame`, which `name` received since the action, is an event the scenario
    /// expects exactly once: when the scenario ends, after [`QUIET_PERIOD`] without it, no
    /// second copy of it (the same event about the same subject) may have followed
    /// ([`matchers::once`]).
    pub fn expect_once(&self, name: &str, frame: &Value) -> Result<(), Failure> {
        let participant = self.participant(name)?;
        let Some(index) = participant.connections.len().checked_sub(1) else {
            return Ok(());
        };
        let connection = &participant.connections[index];
        let state = connection.inbox().lock();
        let position = state
            .frames
            .iter()
            .enumerate()
            .skip(connection.mark())
            .find(|(_, f)| f.json() == Some(frame))
            .map(|(i, _)| i);
        if let Some(position) = position {
            let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
            found.push(Found {
                listener: name.to_owned(),
                connection: index,
                position,
            });
        }
        Ok(())
    }

    /// The end-of-scenario check of every event the scenario expected: each came exactly once.
    /// Waits until [`QUIET_PERIOD`] has passed since the last of them arrived, then looks for a
    /// second copy of each on the connection that received it.
    pub async fn expected_events_once(&self) -> Result<(), Failure> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let located: Vec<(&Found, &Connection)> = found
            .iter()
            .filter_map(|f| {
                let connection = self
                    .participants
                    .get(&f.listener)?
                    .connections
                    .get(f.connection)?;
                Some((f, connection))
            })
            .collect();
        let last = located
            .iter()
            .filter_map(|(f, c)| c.inbox().lock().frames.get(f.position).map(|r| r.at))
            .max();
        let Some(last) = last else {
            return Ok(());
        };
        let elapsed = self.transcript.elapsed();
        if elapsed < last + QUIET_PERIOD {
            tokio::time::sleep(last + QUIET_PERIOD - elapsed).await;
        }
        let names = self.names_by_id();
        for (found, connection) in located {
            let state = connection.inbox().lock();
            if let Err((requirement, mismatch)) = matchers::once::no_second_copy(
                &state.frames,
                found.position,
                &found.listener,
                &names,
            ) {
                return Err(mismatch.against(self.run.requirement(requirement)));
            }
        }
        Ok(())
    }

    /// What a connection received since the action, after the quiet window.
    pub async fn quiet_frames(&self, name: &str) -> Result<Vec<Received>, Failure> {
        self.quiet().await;
        self.frames_since_action(name)
    }

    /// What a connection received since the action, after a further full quiet window from now:
    /// for "exactly once" checks, which must give a duplicate time to arrive after the original.
    pub async fn frames_after_a_quiet_window(&self, name: &str) -> Result<Vec<Received>, Failure> {
        tokio::time::sleep(self.run.quiet_window).await;
        self.frames_since_action(name)
    }

    /// What a connection received since the action, now.
    pub fn frames_since(&self, name: &str) -> Result<Vec<Received>, Failure> {
        self.frames_since_action(name)
    }

    fn frames_since_action(&self, name: &str) -> Result<Vec<Received>, Failure> {
        self.frame_violations()?;
        let connection = self.connection(name)?;
        let state = connection.inbox().lock();
        Ok(state
            .frames
            .get(connection.mark()..)
            .unwrap_or_default()
            .to_vec())
    }

    /// Waits until a connection has ended.
    pub async fn await_ending(&self, connection: &Connection) -> Option<Ending> {
        connection
            .inbox()
            .wait_for(self.deadline(), |state| state.ending.clone())
            .await
    }

    /// "what arrived within the timeout", for a failure's Actual.
    pub fn describe_since_action(&self, connection: &Connection) -> String {
        let state = connection.inbox().lock();
        let frames = state.frames.get(connection.mark()..).unwrap_or_default();
        let mut text = format!(
            "within {:?}: {}",
            self.fixed_deadline
                .map_or(self.run.event_timeout, |(_, window)| window),
            matchers::summarize(frames, &self.names_by_id())
        );
        if let Some(ending) = &state.ending {
            text.push_str(&format!("; the connection was {}", ending.describe()));
        }
        text
    }

    /// The first frame that broke the contract, on any connection of the scenario.
    pub fn frame_violations(&self) -> Result<(), Failure> {
        for participant in self.participants.values() {
            for connection in &participant.connections {
                let state = connection.inbox().lock();
                matchers::schema::contract_kept(connection.label(), &state.violations)?;
            }
        }
        Ok(())
    }

    /// A fresh probe text, unique within the scenario.
    pub fn next_probe(&mut self, from: &str) -> String {
        self.probes += 1;
        format!("probe {} from {from} ({})", self.probes, self.run.run_id)
    }
}

/// The node an upgrade reached, for the transcript: what its `Chalk-Node` header says, when
/// the answer has one, else the alias of the node asked, with its endpoint.
fn reached(node: &Node, handshake: &Handshake) -> String {
    let named = handshake
        .response()
        .and_then(|r| r.header_values(NODE_HEADER).first().map(|v| v.to_string()));
    match named {
        Some(id) => format!(
            "reached node {} ({NODE_HEADER}; asked {} at {})",
            crate::driver::visible::quoted(&id),
            node.alias,
            node.target.url
        ),
        None => format!("reached {} at {}", node.alias, node.target.url),
    }
}

/// The response header in which a node of a deployment may name itself.
pub const NODE_HEADER: &str = "Chalk-Node";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_reached_is_the_one_the_chalk_node_header_names_else_the_one_asked() {
        use crate::driver::handshake::{HttpResponse, Outcome};
        let node = Node {
            alias: "node2".to_owned(),
            target: Target::parse("ws://127.0.0.1:9/ws").unwrap(),
        };
        let answered = |headers: Vec<(String, String)>| Handshake {
            request_target: "/ws".to_owned(),
            request_headers: Vec::new(),
            key: String::new(),
            offered: Vec::new(),
            outcome: Outcome::Answered(HttpResponse {
                status: 101,
                reason: "Switching Protocols".to_owned(),
                headers,
                body: Vec::new(),
            }),
        };
        let named = answered(vec![("chalk-node".to_owned(), "n-7f3a".to_owned())]);
        assert_eq!(
            reached(&node, &named),
            "reached node \"n-7f3a\" (Chalk-Node; asked node2 at ws://127.0.0.1:9/ws)"
        );
        assert_eq!(
            reached(&node, &answered(Vec::new())),
            "reached node2 at ws://127.0.0.1:9/ws"
        );
    }

    #[test]
    fn a_refused_control_is_charged_to_its_own_channel() {
        assert_eq!(control_requirement(TokenChannel::Header), "AUTH-001");
        assert_eq!(
            control_requirement(TokenChannel::QueryNoProtocol),
            "AUTH-003"
        );
        assert_eq!(
            control_requirement(TokenChannel::QueryWithChalk),
            "AUTH-004"
        );
    }
}
