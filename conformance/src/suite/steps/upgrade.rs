//! Judging the server's answer to an upgrade: accepted or refused, the selected subprotocol,
//! the handshake headers, the refusal body, and that the token is never echoed. A refusal is
//! credited only when the scenario's positive control was accepted (`Scene::controlled`).

use cucumber::then;

use crate::driver::handshake::HttpResponse;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::{self, upgrade};
use crate::suite::world::{ChalkWorld, Scene};

/// The answer of the latest attempt, which must be a `101`.
fn switched(scene: &Scene, expected: &str) -> Result<HttpResponse, Failure> {
    let attempt = scene.last_attempt()?;
    scene
        .check(upgrade::switched(&attempt.handshake, expected))
        .cloned()
}

#[then(expr = "the upgrade is accepted")]
async fn accepted(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| switched(scene, "101 Switching Protocols").map(drop))
        .await
}

#[then(expr = "the upgrade is refused")]
async fn refused(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempt = scene.last_attempt()?;
            scene.check(upgrade::refused(&attempt.handshake, &attempt.what))?;
            scene.controlled()
        })
        .await
}

#[then(expr = "the upgrade is refused with status {int}")]
async fn refused_with(world: &mut ChalkWorld, status: u16) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempt = scene.last_attempt()?;
            scene.check(upgrade::refused_with(
                &attempt.handshake,
                &attempt.what,
                status,
            ))?;
            scene.controlled()
        })
        .await
}

#[then(expr = "every attempt is refused with the same status and body")]
async fn identical_refusals(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempts: Vec<(String, &crate::driver::handshake::Handshake)> = scene
                .action_attempts()
                .iter()
                .map(|a| (a.what.clone(), &a.handshake))
                .collect();
            scene.check(matchers::identical_refusals(&attempts))?;
            scene.controlled()
        })
        .await
}

#[then(expr = "the response selects the subprotocol {string}")]
async fn selects(world: &mut ChalkWorld, protocol: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let response = switched(
                scene,
                &format!("101 with Sec-WebSocket-Protocol: {protocol}"),
            )?;
            scene.check(matchers::selects_protocol(&response, &protocol))
        })
        .await
}

#[then(expr = "the response does not select the token")]
async fn selects_no_token(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let response = switched(scene, "101 selecting a subprotocol other than the token")?;
            scene.check(matchers::selects_no_token(&response))
        })
        .await
}

#[then(expr = "the response selects exactly one subprotocol, one that was offered")]
async fn selects_one_offered(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let response = switched(scene, "101 selecting one offered subprotocol")?;
            let offered = scene.last_attempt()?.handshake.offered.clone();
            scene.check(matchers::selects_one_offered(&response, &offered))
        })
        .await
}

#[then(expr = "the response has no Sec-WebSocket-Protocol header")]
async fn selects_nothing(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let response = switched(scene, "101 without a Sec-WebSocket-Protocol header")?;
            scene.check(matchers::selects_nothing(&response))
        })
        .await
}

#[then(expr = "the response is a valid WebSocket opening handshake")]
async fn valid_handshake(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let response = switched(scene, "a valid 101 opening handshake")?;
            let key = scene.last_attempt()?.handshake.key.clone();
            scene.check(matchers::valid_opening_handshake(&response, &key))
        })
        .await
}

#[then(expr = "the handshake response does not contain the token")]
async fn not_reflected(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempt = scene.last_attempt()?;
            let Some(token) = &attempt.token else {
                return Err(scene.fail(
                    "an attempt that offered a token",
                    "the attempt offered none",
                ));
            };
            scene.check(matchers::token_not_reflected(&attempt.handshake, token))
        })
        .await
}

#[then(expr = "the response body is a JSON object with an {string} string")]
async fn json_error_body(world: &mut ChalkWorld, member: String) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let attempt = scene.last_attempt()?;
            scene.check(upgrade::refusal_with_json_body(&attempt.handshake, &member))
        })
        .await
}
