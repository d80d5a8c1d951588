//! Refusals on every way of presenting a token: the subprotocol header, and the deprecated
//! `token` query parameter with no subprotocol or with `chalk`.
//!
//! Each step makes the positive control of its refusal on the same channel (a valid token
//! presented the same way, from the allowed origin), so that a server refusing a channel as a
//! whole is not credited with refusing the defect.

use cucumber::when;

use crate::driver::handshake::{TokenChannel, UpgradeRequest};
use crate::suite::failure::{Failed, Failure};
use crate::suite::steps::connecting::{allowed, forged};
use crate::suite::steps::parameters::{Channel, Defect, Lookalike, Name};
use crate::suite::world::{ChalkWorld, ControlToken, RoomKey, Scene};

/// Provisions `name`, makes the control `control` on `channel`, and starts the action.
async fn prepare(
    scene: &mut Scene,
    name: &str,
    control: ControlToken,
    channel: TokenChannel,
) -> Result<(), Failure> {
    scene.provision(name, RoomKey::Main, None, None).await?;
    scene.control_on(control, channel).await?;
    scene.begin_action();
    Ok(())
}

/// Presents `token` (`name`'s own when `None`) on `channel` from `origin`; `what` says in
/// failure messages what was special about the attempt.
async fn present(
    scene: &mut Scene,
    name: &str,
    channel: TokenChannel,
    token: Option<String>,
    origin: Option<String>,
    what: &str,
) -> Result<(), Failure> {
    let token = match token {
        Some(token) => token,
        None => scene.participant(name)?.credentials.token.clone(),
    };
    let request = channel.request(&token, origin);
    scene
        .attempt(name, format!("{what} {channel}"), request, Some(token))
        .await;
    Ok(())
}

#[when(expr = "{participant} connects with a token that {defect}, {channel}")]
async fn defective_token_on(
    world: &mut ChalkWorld,
    name: Name,
    defect: Defect,
    channel: Channel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(
                scene,
                &name,
                ControlToken::WithoutDefect(defect.0),
                channel.0,
            )
            .await?;
            let token = forged(scene, &name, defect.0)?;
            let origin = scene.run().origin.clone();
            let what = format!("a token that {}", defect.0);
            present(scene, &name, channel.0, Some(token), origin, &what).await
        })
        .await
}

#[when(expr = "{participant} connects with an empty token, {channel}")]
async fn empty_token_on(
    world: &mut ChalkWorld,
    name: Name,
    channel: Channel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(scene, &name, ControlToken::AsProvisioned, channel.0).await?;
            let origin = scene.run().origin.clone();
            present(
                scene,
                &name,
                channel.0,
                Some(String::new()),
                origin,
                "an empty token",
            )
            .await
        })
        .await
}

#[when(expr = "{participant} connects offering no subprotocol and no token")]
async fn nothing_offered(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            // The control: the same bare upgrade, the token in the query string.
            prepare(
                scene,
                &name,
                ControlToken::AsProvisioned,
                TokenChannel::QueryNoProtocol,
            )
            .await?;
            let request = UpgradeRequest {
                origin: scene.run().origin.clone(),
                ..UpgradeRequest::default()
            };
            scene
                .attempt(&name, "no subprotocol and no token", request, None)
                .await;
            Ok(())
        })
        .await
}

#[when(expr = "{participant} connects {channel}")]
async fn connects_on(world: &mut ChalkWorld, name: Name, channel: Channel) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(scene, &name, ControlToken::AsProvisioned, channel.0).await?;
            let origin = scene.run().origin.clone();
            present(scene, &name, channel.0, None, origin, "its own token").await
        })
        .await
}

#[when(expr = "{participant} connects from a forbidden origin, {channel}")]
async fn forbidden_origin_on(
    world: &mut ChalkWorld,
    name: Name,
    channel: Channel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(scene, &name, ControlToken::AsProvisioned, channel.0).await?;
            let origin = scene.run().forbidden_origin.clone();
            let what = format!("a valid token from the forbidden origin {origin}");
            present(scene, &name, channel.0, None, Some(origin), &what).await
        })
        .await
}

#[when(expr = "{participant} connects from the null origin, {channel}")]
async fn null_origin_on(
    world: &mut ChalkWorld,
    name: Name,
    channel: Channel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(scene, &name, ControlToken::AsProvisioned, channel.0).await?;
            let what = "a valid token from Origin: null";
            present(scene, &name, channel.0, None, Some("null".to_owned()), what).await
        })
        .await
}

#[when(expr = "{participant} connects from the allowed origin {lookalike}, {channel}")]
async fn lookalike_origin_on(
    world: &mut ChalkWorld,
    name: Name,
    lookalike: Lookalike,
    channel: Channel,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            prepare(scene, &name, ControlToken::AsProvisioned, channel.0).await?;
            let origin = lookalike.of(&allowed(scene)?);
            let what = format!("a valid token from the look-alike origin {origin}");
            present(scene, &name, channel.0, None, Some(origin), &what).await
        })
        .await
}
