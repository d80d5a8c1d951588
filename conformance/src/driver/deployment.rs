//! The deployment under test: where its endpoints are, how participants get in, and how it is
//! started and stopped, built once from the options and handed to every command that talks to a
//! server (the suite, `fuzz` and `load`), as matrix-org/complement's `Deployment` is.
//!
//! Two kinds: an external deployment the options name (one `--url` per node and the
//! provisioning options, checked into an [`Access`]), and the embedded reference server
//! ([`crate::driver::embedded`]), which the commands ask for with an [`EmbeddedSetup`] and which
//! the deployment starts only when the options name no target. A deployment is a list of nodes,
//! each a WebSocket endpoint behind an alias: one node is [`DEFAULT_NODE`], several are `node1`,
//! `node2`, … in the order of the `--url`s. The commands take the first endpoint from
//! [`Deployment::target`], every node from [`Deployment::nodes`], and the provisioning from
//! [`Deployment::provisioner`] (whose [`Provisioner::via`] reaches the REST API of one node when
//! each has its own) whatever the kind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::ClientConfig;

use crate::contract::catalogue::KNOWN_EXTENSIONS;
use crate::driver::embedded::{EmbeddedServer, StartError, Tuning};
use crate::driver::provision::{ParticipantSource, Provisioner};
use crate::driver::redact::Redactor;
use crate::driver::rest::RestClient;
use crate::driver::tokens::Minter;
use crate::driver::transport::{Connector, Target};

/// The alias of the one node of a single-server deployment.
pub const DEFAULT_NODE: &str = "default";

/// What the reports call the embedded reference server.
pub const EMBEDDED_LABEL: &str = "embedded reference server";

/// The REST API of a run.
#[derive(Debug, Clone)]
pub struct Api {
    /// Its base URLs: one for every node, or one per node (the i-th for the i-th node).
    pub urls: Vec<String>,
    /// The tenant key.
    pub key: String,
}

/// The provisioning options, checked: the target and the ways into it.
#[derive(Debug)]
pub struct Access {
    /// The endpoints of the deployment's nodes, in order; none for the embedded reference
    /// server.
    pub targets: Vec<Target>,
    /// The REST API.
    pub api: Option<Api>,
    /// The token command.
    pub token_command: Option<String>,
    /// The deployment's signing key.
    pub minter: Option<Minter>,
    /// The secrets given (value, label), for the redactor.
    pub secrets: Vec<(String, &'static str)>,
    /// The Origin of connections meant to succeed.
    pub origin: Option<String>,
    /// TLS client configuration.
    pub tls: Arc<ClientConfig>,
}

impl Access {
    /// Points the access at the embedded reference `server`: its signing key (and, for
    /// [`EmbeddedProvisioning::Rest`], its REST API) and, unless one was given, its allowed
    /// origin.
    fn enter_embedded(&mut self, server: &EmbeddedServer, provisioning: EmbeddedProvisioning) {
        self.api = None;
        if provisioning == EmbeddedProvisioning::Rest
            && let Some(key) = &server.api_key
        {
            self.secrets.push((key.clone(), "api-key"));
            self.api = Some(Api {
                urls: vec![server.api_url.clone()],
                key: key.clone(),
            });
        }
        if let Some(secret) = &server.jwt_secret {
            self.secrets.push((secret.clone(), "jwt-secret"));
            self.minter = Some(Minter::hs256(secret));
        }
        if self.origin.is_none() {
            self.origin = server.allowed_origin.clone();
        }
    }

    /// The provisioner of a run, chosen as the suite chooses it: the REST API, else the token
    /// command, else minted tokens. The signing key moves into it (to forge defective tokens
    /// too). The problem, as one line (not redacted), when there is none.
    fn provisioner(&mut self, recording_command: Option<String>) -> Result<Provisioner, String> {
        let apis = match &self.api {
            Some(Api { urls, key }) => urls
                .iter()
                .map(|url| RestClient::new(url, key, Arc::clone(&self.tls)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?,
            None => Vec::new(),
        };
        let rest = apis.first().cloned();
        let node_apis = if apis.len() > 1 { apis } else { Vec::new() };
        let minter = self.minter.take().map(Arc::new);
        let participants = match (&rest, &self.token_command, &minter) {
            (Some(rest), _, _) => ParticipantSource::Rest(rest.clone()),
            (None, Some(command), _) => ParticipantSource::Command(command.clone()),
            (None, None, Some(minter)) => ParticipantSource::Mint(Arc::clone(minter)),
            (None, None, None) => return Err("no way to get participants".to_owned()),
        };
        Ok(Provisioner {
            participants,
            rest,
            node_apis,
            recording_command,
            minter,
        })
    }
}

/// What a command asks of the embedded reference server, used when the options name no target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedSetup {
    /// How its participants are provisioned.
    pub provisioning: EmbeddedProvisioning,
    /// How it runs.
    pub tuning: Tuning,
}

/// How the participants of the embedded reference server are provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddedProvisioning {
    /// Through its REST API, which also drives recordings and removals (the suite); its key
    /// forges defective tokens.
    Rest,
    /// Tokens minted with its key: no HTTP round trip per participant (`fuzz`, `load`).
    Minted,
}

/// What the deployment's tenant has to validate origins with, as the API page's Origin
/// Validation tells the two apart: an explicit `allowed_origins` list, or no list and the
/// server's own patterns. It decides how a look-alike of the allowed origin is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OriginMode {
    /// The tenant has an explicit allow-list: an origin not on it must be refused (ORIGIN-006).
    Exact,
    /// No tenant list; the server's patterns apply, and may admit what a list would not, such as
    /// a subdomain: look-alikes are refused at `should` level (ORIGIN-005).
    #[default]
    Patterns,
}

impl OriginMode {
    /// The name used by `--origin-mode`, tags (`@origins.exact`) and reports.
    pub fn name(self) -> &'static str {
        match self {
            OriginMode::Exact => "exact",
            OriginMode::Patterns => "patterns",
        }
    }
}

impl std::fmt::Display for OriginMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What is known of a deployment beyond what the options say (of the embedded reference
/// server: everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The extensions it implements, when known.
    pub extensions: Option<BTreeSet<String>>,
    /// Its clock leeway for `exp`/`nbf`, when known.
    pub token_leeway: Option<Duration>,
    /// How its tenant's origins are validated, when known.
    pub origin_mode: Option<OriginMode>,
    /// How long it keeps a connection it hears nothing from, when known.
    pub idle_timeout: Option<Duration>,
}

/// Why a deployment cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeploymentError {
    /// The embedded reference server could not start (the target is unreachable).
    #[error("{0}")]
    Start(String),
    /// The options name no target and this binary was built without the embedded reference
    /// server (a usage error: pass `--url`).
    #[error("{}", StartError::NotBuilt)]
    NoEmbeddedServer,
    /// The options give no usable way to get participants (a usage error); the message is
    /// already redacted.
    #[error("{0}")]
    Provisioning(String),
}

/// One server of a deployment: a WebSocket endpoint behind an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What reports call it: [`DEFAULT_NODE`] alone, else `node1`, `node2`, … in order.
    pub alias: String,
    /// Its WebSocket endpoint.
    pub target: Target,
}

impl Node {
    /// The nodes of `targets`, named as [`Node::alias`] says.
    pub fn named(targets: Vec<Target>) -> Vec<Node> {
        let several = targets.len() > 1;
        targets
            .into_iter()
            .enumerate()
            .map(|(i, target)| Node {
                alias: if several {
                    format!("node{}", i + 1)
                } else {
                    DEFAULT_NODE.to_owned()
                },
                target,
            })
            .collect()
    }
}

/// The deployment under test (see the module documentation).
#[derive(Debug)]
pub struct Deployment {
    /// Never empty; the first is [`Deployment::target`].
    nodes: Vec<Node>,
    connector: Connector,
    provisioner: Option<Provisioner>,
    origin: Option<String>,
    secrets: Vec<(String, &'static str)>,
    known: Known,
    server: Option<EmbeddedServer>,
}

impl Deployment {
    /// The deployment `access` names, or, when it names no target, the embedded reference server
    /// started as `embedded` asks, with its URL, keys and allowed origin (unless `access` gives
    /// one). Participants come from the REST API, else the token command, else minted tokens;
    /// recordings from the REST API or `recording_command`.
    pub async fn start(
        mut access: Access,
        recording_command: Option<String>,
        embedded: EmbeddedSetup,
    ) -> Result<Deployment, DeploymentError> {
        let mut known = Known::default();
        let (targets, server) = match std::mem::take(&mut access.targets) {
            targets if !targets.is_empty() => (targets, None),
            _ => {
                let server = EmbeddedServer::start(embedded.tuning)
                    .await
                    .map_err(|e| match e {
                        StartError::NotBuilt => DeploymentError::NoEmbeddedServer,
                        StartError::Failed(e) => DeploymentError::Start(e),
                    })?;
                let target = match Target::parse(&server.ws_url) {
                    Ok(target) => target,
                    Err(e) => {
                        server.stop().await;
                        return Err(DeploymentError::Start(format!(
                            "the embedded server's URL is unusable: {e}"
                        )));
                    }
                };
                access.enter_embedded(&server, embedded.provisioning);
                known = Known {
                    extensions: Some(KNOWN_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect()),
                    token_leeway: Some(server.token_leeway),
                    // Its default tenant has an explicit list (the allowed origin comes from it).
                    origin_mode: Some(OriginMode::Exact),
                    idle_timeout: Some(server.idle_timeout),
                };
                (vec![target], Some(server))
            }
        };
        let provisioner = match access.provisioner(recording_command) {
            Ok(provisioner) => provisioner,
            Err(e) => {
                let redactor = Redactor::new();
                for (secret, label) in &access.secrets {
                    redactor.register(secret, label);
                }
                if let Some(server) = server {
                    server.stop().await;
                }
                return Err(DeploymentError::Provisioning(redactor.redact(&e)));
            }
        };
        Ok(Deployment {
            nodes: Node::named(targets),
            connector: Connector::new(Arc::clone(&access.tls)),
            provisioner: Some(provisioner),
            origin: access.origin,
            secrets: access.secrets,
            known,
            server,
        })
    }

    /// A server that takes connections without credentials (a plain broadcast server, for
    /// `load --raw`): nobody is provisioned.
    pub fn unprovisioned(target: Target, tls: Arc<ClientConfig>, origin: Option<String>) -> Self {
        Deployment {
            nodes: vec![Node {
                alias: DEFAULT_NODE.to_owned(),
                target,
            }],
            connector: Connector::new(tls),
            provisioner: None,
            origin,
            secrets: Vec::new(),
            known: Known::default(),
            server: None,
        }
    }

    /// The endpoint connections go to (the first node).
    pub fn target(&self) -> &Target {
        &self.nodes[0].target
    }

    /// Every node, in the order of the options (never empty).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The endpoint of the node called `alias`.
    pub fn node(&self, alias: &str) -> Option<&Target> {
        self.nodes
            .iter()
            .find(|node| node.alias == alias)
            .map(|node| &node.target)
    }

    /// Opens connections to the endpoints (TCP, TLS with the trusted roots).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// How rooms, participants, recordings and removals are provisioned; `None` when nobody
    /// is ([`Deployment::unprovisioned`]).
    pub fn provisioner(&self) -> Option<&Provisioner> {
        self.provisioner.as_ref()
    }

    /// The Origin of connections meant to succeed.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// A redactor that knows every secret of the deployment (keys given or the embedded
    /// server's own).
    pub fn redactor(&self) -> Redactor {
        let redactor = Redactor::new();
        for (secret, label) in &self.secrets {
            redactor.register(secret, label);
        }
        redactor
    }

    /// What is known of the server beyond the options.
    pub fn known(&self) -> &Known {
        &self.known
    }

    /// Whether this is the embedded reference server.
    pub fn embedded(&self) -> bool {
        self.server.is_some()
    }

    /// Stops the embedded reference server, if this is it.
    pub async fn shutdown(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{embedded, transport};

    fn access(target: Option<&str>) -> Access {
        Access {
            targets: target
                .iter()
                .map(|url| Target::parse(url).unwrap())
                .collect(),
            api: None,
            token_command: None,
            minter: Some(Minter::hs256("a-secret-of-the-deployment")),
            secrets: vec![("a-secret-of-the-deployment".to_owned(), "jwt-secret")],
            origin: None,
            tls: Arc::new(transport::tls_config(None).unwrap()),
        }
    }

    const SUITE: EmbeddedSetup = EmbeddedSetup {
        provisioning: EmbeddedProvisioning::Rest,
        tuning: Tuning::Suite,
    };

    #[tokio::test]
    async fn an_external_server_is_one_node_reached_as_the_options_say() {
        let deployment = Deployment::start(access(Some("ws://127.0.0.1:9/ws")), None, SUITE)
            .await
            .unwrap();
        assert!(!deployment.embedded());
        assert_eq!(deployment.target().url, "ws://127.0.0.1:9/ws");
        assert_eq!(
            deployment.node(DEFAULT_NODE).map(|t| &t.url),
            Some(&deployment.target().url)
        );
        assert!(deployment.node("b").is_none());
        let provisioner = deployment.provisioner().unwrap();
        assert!(matches!(
            provisioner.participants,
            ParticipantSource::Mint(_)
        ));
        assert_eq!(deployment.known(), &Known::default());
        let shown = deployment.redactor().redact("a-secret-of-the-deployment");
        assert!(!shown.contains("a-secret"), "{shown}");
    }

    #[tokio::test]
    async fn several_urls_are_nodes_named_in_order_each_with_its_own_api_when_given() {
        let mut access = access(Some("ws://127.0.0.1:9/ws"));
        access
            .targets
            .push(Target::parse("ws://127.0.0.1:10/ws").unwrap());
        access.api = Some(Api {
            urls: vec![
                "http://127.0.0.1:9/api".into(),
                "http://127.0.0.1:10/api".into(),
            ],
            key: "key".into(),
        });
        let deployment = Deployment::start(access, None, SUITE).await.unwrap();
        let aliases: Vec<&str> = deployment
            .nodes()
            .iter()
            .map(|n| n.alias.as_str())
            .collect();
        assert_eq!(aliases, ["node1", "node2"]);
        assert_eq!(deployment.target().url, "ws://127.0.0.1:9/ws");
        assert_eq!(
            deployment.node("node2").map(|t| t.url.as_str()),
            Some("ws://127.0.0.1:10/ws")
        );
        let provisioner = deployment.provisioner().unwrap();
        let api_of = |node| provisioner.via(node).rest.unwrap().url().to_owned();
        assert_eq!(api_of(0), "http://127.0.0.1:9/api");
        assert_eq!(api_of(1), "http://127.0.0.1:10/api");
        assert_eq!(api_of(2), "http://127.0.0.1:9/api");
        let ParticipantSource::Rest(rest) = provisioner.via(1).participants else {
            panic!("participants come from the REST API");
        };
        assert_eq!(rest.url(), "http://127.0.0.1:10/api");
    }

    #[tokio::test]
    async fn the_embedded_server_brings_its_own_keys_origin_and_extensions() {
        for (provisioning, rest) in [
            (EmbeddedProvisioning::Rest, true),
            (EmbeddedProvisioning::Minted, false),
        ] {
            let mut access = access(None);
            access.minter = None;
            access.secrets.clear();
            let setup = EmbeddedSetup {
                provisioning,
                tuning: Tuning::AsShipped,
            };
            let deployment = match Deployment::start(access, None, setup).await {
                Err(DeploymentError::NoEmbeddedServer) if !embedded::AVAILABLE => return,
                started => started.unwrap(),
            };
            assert!(deployment.embedded());
            assert!(deployment.origin().is_some());
            let provisioner = deployment.provisioner().unwrap();
            assert_eq!(provisioner.rest.is_some(), rest);
            assert!(provisioner.minter.is_some());
            let known = deployment.known();
            assert_eq!(
                known.extensions.as_ref().map(BTreeSet::len),
                Some(KNOWN_EXTENSIONS.len())
            );
            assert!(known.token_leeway.is_some());
            assert!(known.idle_timeout.is_some());
            deployment.shutdown().await;
        }
    }
}
