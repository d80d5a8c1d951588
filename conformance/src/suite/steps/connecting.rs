//! Opening connections: where the token goes, what is wrong with it, which origin is claimed.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, when};

use crate::driver::handshake::UpgradeRequest;
use crate::driver::tokens;
use crate::suite::failure::{Failed, Failure};
use crate::suite::steps::parameters::{Defect, Lookalike, Name};
use crate::suite::world::{ChalkWorld, ControlToken, RoomKey, Scene};

/// How long after the upgrade an about-to-expire token runs out. `exp` is whole seconds, so the
/// upgrade gets between two and three seconds: room for a slow target and a little clock skew.
const EXPIRY_MARGIN: Duration = Duration::from_secs(3);

/// Where the token goes and what is offered as subprotocols.
#[derive(Debug, Clone, Copy)]
enum Offer {
    ChalkThenToken,
    TokenThenChalk,
    TokenOnly,
    QueryNoProtocol,
    QueryWithChalk,
    ChalkNoToken,
}

impl Offer {
    fn request(self, token: &str, origin: Option<String>) -> UpgradeRequest {
        let header = format!("token.{token}");
        let (query_token, protocols) = match self {
            Offer::ChalkThenToken => (None, vec!["chalk".to_owned(), header]),
            Offer::TokenThenChalk => (None, vec![header, "chalk".to_owned()]),
            Offer::TokenOnly => (None, vec![header]),
            Offer::QueryNoProtocol => (Some(token.to_owned()), vec![]),
            Offer::QueryWithChalk => (Some(token.to_owned()), vec!["chalk".to_owned()]),
            Offer::ChalkNoToken => (None, vec!["chalk".to_owned()]),
        };
        UpgradeRequest {
            query_token,
            protocols,
            origin,
        }
    }
}

/// The action of connecting `name` to the room with `token` (its own when `None`).
async fn connect(
    scene: &mut Scene,
    name: &str,
    offer: Offer,
    token: Option<String>,
    origin: Option<String>,
    what: &str,
) -> Result<(), Failure> {
    let token = match token {
        Some(token) => token,
        None => scene.participant(name)?.credentials.token.clone(),
    };
    let request = offer.request(&token, origin);
    let offered = (!matches!(offer, Offer::ChalkNoToken)).then_some(token);
    scene.attempt(name, what, request, offered).await;
    Ok(())
}

/// Makes sure `name` exists in the room, makes the positive `controls` of the refusals the
/// action provokes, then starts the action.
///
/// Provisioning comes first so that whatever a server does when a participant is merely added
/// (through REST, say) is not mistaken for a reaction to the connection attempt that follows.
pub(super) async fn act_as(
    scene: &mut Scene,
    name: &str,
    controls: &[ControlToken],
) -> Result<(), Failure> {
    scene.provision(name, RoomKey::Main, None, None).await?;
    for control in controls {
        scene.control(*control).await?;
    }
    scene.begin_action();
    Ok(())
}

/// A token of `name` with `defect`, registered with the redactor.
pub(super) fn forged(
    scene: &Scene,
    name: &str,
    defect: tokens::TokenDefect,
) -> Result<String, Failure> {
    let valid = &scene.participant(name)?.credentials.token;
    let minter = scene.run().provisioner.minter.as_deref();
    let token = tokens::forge(valid, defect, minter)
        .map_err(|e| scene.fail(format!("a token that {defect} (setup)"), e.to_string()))?;
    scene
        .run()
        .redactor
        .register_token(&token, &format!("{name}, {defect}"));
    Ok(token)
}

#[given(expr = "{participant} is connected")]
async fn is_connected(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| scene.connect_for_setup(&name, RoomKey::Main).await)
        .await
}

#[given(expr = "{participant} and {participant} are connected")]
async fn two_are_connected(
    world: &mut ChalkWorld,
    first: Name,
    second: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for name in [first, second] {
                scene.connect_for_setup(&name, RoomKey::Main).await?;
            }
            Ok(())
        })
        .await
}

#[given(expr = "{participant}, {participant} and {participant} are connected")]
async fn three_are_connected(
    world: &mut ChalkWorld,
    first: Name,
    second: Name,
    third: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            for name in [first, second, third] {
                scene.connect_for_setup(&name, RoomKey::Main).await?;
            }
            Ok(())
        })
        .await
}

#[given(expr = "{participant} is connected to another room")]
async fn is_connected_elsewhere(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| scene.connect_for_setup(&name, RoomKey::Other).await)
        .await
}

#[given(expr = "{participant} has a token for the room")]
async fn has_a_token(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| scene.provision(&name, RoomKey::Main, None, None).await)
        .await
}

#[when(expr = "{participant} connects")]
pub(super) async fn connects(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            // The action starts before provisioning: a server may announce a participant as soon as it
            // is added, and an announcement is what the scenarios of this step look for.
            scene.begin_action();
            scene.provision(&name, RoomKey::Main, None, None).await?;
            let origin = scene.run().origin.clone();
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                origin,
                "a valid token",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects again")]
async fn connects_again(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    connects(world, name).await
}

#[when(expr = "{participant} connects as {string} with the role {string}")]
async fn connects_as(
    world: &mut ChalkWorld,
    name: Name,
    display_name: String,
    role: String,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            scene
                .provision(&name, RoomKey::Main, Some(&display_name), Some(&role))
                .await?;
            let origin = scene.run().origin.clone();
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                origin,
                "a valid token",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects offering chalk and then the token")]
async fn chalk_then_token(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(
                scene,
                &name,
                Offer::ChalkThenToken,
                "a valid token offered after chalk",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects offering the token and then chalk")]
async fn token_then_chalk(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(
                scene,
                &name,
                Offer::TokenThenChalk,
                "a valid token offered before chalk",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects offering only the token")]
async fn token_only(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(
                scene,
                &name,
                Offer::TokenOnly,
                "a valid token offered without chalk",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects with the token in the query string, offering no subprotocol")]
async fn query_token(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(
                scene,
                &name,
                Offer::QueryNoProtocol,
                "a valid query-string token and no subprotocol",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects with the token in the query string, offering chalk")]
async fn query_token_with_chalk(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(
                scene,
                &name,
                Offer::QueryWithChalk,
                "a valid query-string token and chalk",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects offering chalk but no token")]
async fn no_token(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            connect_from_allowed_origin(scene, &name, Offer::ChalkNoToken, "no token").await
        })
        .await
}

#[when(expr = "{participant} connects with a token that {defect}")]
async fn defective_token(world: &mut ChalkWorld, name: Name, defect: Defect) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[ControlToken::WithoutDefect(defect.0)]).await?;
            let token = forged(scene, &name, defect.0)?;
            let origin = scene.run().origin.clone();
            let what = format!("a token that {}", defect.0);
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                Some(token),
                origin,
                &what,
            )
            .await
        })
        .await
}

#[when(expr = "{participant} tries to connect with each of these tokens:")]
async fn each_defect(world: &mut ChalkWorld, step: &Step, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let rows = step
                .table
                .as_ref()
                .map(|t| t.rows.clone())
                .unwrap_or_default();
            let mut defects = Vec::new();
            for row in rows.iter().skip(1) {
                let phrase = row.first().map(String::as_str).unwrap_or_default();
                let defect: tokens::TokenDefect = phrase.parse().map_err(|e| {
                    scene.fail(
                        "a known token defect",
                        format!("{e} (a mistake in the feature)"),
                    )
                })?;
                defects.push(defect);
            }
            let controls: Vec<ControlToken> = defects
                .iter()
                .map(|d| ControlToken::WithoutDefect(*d))
                .collect();
            act_as(scene, &name, &controls).await?;
            for defect in defects {
                let token = forged(scene, &name, defect)?;
                let origin = scene.run().origin.clone();
                let what = format!("a token that {defect}");
                connect(
                    scene,
                    &name,
                    Offer::ChalkThenToken,
                    Some(token),
                    origin,
                    &what,
                )
                .await?;
            }
            Ok(())
        })
        .await
}

#[when(expr = "{participant} connects with a token that is about to expire")]
async fn expiring_token(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[]).await?;
            let valid = scene.participant(&name)?.credentials.token.clone();
            let Some(minter) = scene.run().provisioner.minter.clone() else {
                return Err(scene.fail(
                    "a token that expires during the session (setup)",
                    "the run has no signing key (give --jwt-secret or --jwt-private-key)",
                ));
            };
            let leeway = scene.run().token_leeway.as_secs();
            let token = tokens::about_to_expire(&valid, leeway, EXPIRY_MARGIN.as_secs(), &minter)
                .map_err(|e| {
                scene.fail(
                    "a token that expires during the session (setup)",
                    e.to_string(),
                )
            })?;
            scene
                .run()
                .redactor
                .register_token(&token, &format!("{name}, about to expire"));
            scene.extend_deadlines(EXPIRY_MARGIN);
            let origin = scene.run().origin.clone();
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                Some(token),
                origin,
                "a token about to expire",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects from a forbidden origin")]
async fn forbidden_origin(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[ControlToken::AsProvisioned]).await?;
            let origin = scene.run().forbidden_origin.clone();
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                Some(origin),
                "a valid token from a forbidden origin",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects from the null origin")]
async fn null_origin(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[ControlToken::AsProvisioned]).await?;
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                Some("null".to_owned()),
                "a valid token from Origin: null",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects from the allowed origin")]
async fn allowed_origin(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[]).await?;
            let origin = allowed(scene)?;
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                Some(origin),
                "a valid token from the allowed origin",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects from the allowed origin {lookalike}")]
async fn lookalike_origin(
    world: &mut ChalkWorld,
    name: Name,
    lookalike: Lookalike,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            act_as(scene, &name, &[ControlToken::AsProvisioned]).await?;
            let origin = lookalike.of(&allowed(scene)?);
            let what = format!("a valid token from the look-alike origin {origin}");
            connect(
                scene,
                &name,
                Offer::ChalkThenToken,
                None,
                Some(origin),
                &what,
            )
            .await
        })
        .await
}

/// The run's allowed origin.
pub(super) fn allowed(scene: &Scene) -> Result<String, Failure> {
    scene.run().origin.clone().ok_or_else(|| {
        scene.fail(
            "an allowed origin to connect from (setup)",
            "the run has none (give --origin)",
        )
    })
}

/// Connects `name` from the run's allowed origin (if any) with the token placed as `offer`;
/// `attempt` says in failure messages what was offered. An offer the server must refuse (no
/// token, no `chalk`) is preceded by its positive control, the standard offer.
async fn connect_from_allowed_origin(
    scene: &mut Scene,
    name: &Name,
    offer: Offer,
    attempt: &str,
) -> Result<(), Failure> {
    let controls: &[ControlToken] = match offer {
        Offer::ChalkNoToken | Offer::TokenOnly => &[ControlToken::AsProvisioned],
        _ => &[],
    };
    act_as(scene, name, controls).await?;
    let origin = scene.run().origin.clone();
    connect(scene, name, offer, None, origin, attempt).await
}
