//! Ending connections: a clean close, a dropped network, and how the server ends them.

use cucumber::{then, when};

use crate::driver::connection::Connection;
use crate::suite::failure::{Failed, Failure};
use crate::suite::matchers::closing;
use crate::suite::steps::parameters::Name;
use crate::suite::world::{ChalkWorld, Scene};

/// Judges how `connection` ended against the close `code` expected.
async fn expect_close_code(
    scene: &Scene,
    connection: &Connection,
    whose: &str,
    code: u16,
) -> Result<(), Failure> {
    let ending = scene.await_ending(connection).await;
    scene.check(closing::closed_with_code(
        whose,
        code,
        ending.as_ref(),
        scene.run().event_timeout,
    ))
}

#[when(expr = "{participant} closes the connection")]
async fn closes(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let result = scene.connection_mut(&who)?.close(1000).await;
            result.map_err(|e| scene.fail(format!("{who} to send a Close frame"), e.to_string()))
        })
        .await
}

#[when(expr = "{participant} closes the connection with code {int}")]
async fn closes_with(world: &mut ChalkWorld, who: Name, code: u16) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let result = scene.connection_mut(&who)?.close(code).await;
            result.map_err(|e| scene.fail(format!("{who} to send a Close frame"), e.to_string()))
        })
        .await
}

#[when(expr = "{participant} closes the connection without a status code")]
async fn closes_without_code(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            let result = scene.connection_mut(&who)?.close_without_code().await;
            result.map_err(|e| scene.fail(format!("{who} to send a Close frame"), e.to_string()))
        })
        .await
}

#[when(expr = "{participant}'s connection drops without a close handshake")]
async fn drops(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            scene.connection_mut(&who)?.drop_abruptly();
            Ok(())
        })
        .await
}

#[then(expr = "{participant}'s connection is closed with code {int}")]
async fn closed_with(world: &mut ChalkWorld, who: Name, code: u16) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let connection = scene.connection(&who)?;
            expect_close_code(scene, connection, &format!("{who}'s connection"), code).await
        })
        .await
}

#[then(expr = "{participant}'s earlier connection is closed with code {int}")]
async fn earlier_closed_with(world: &mut ChalkWorld, who: Name, code: u16) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let connection = scene.earlier_connection(&who)?;
            expect_close_code(
                scene,
                connection,
                &format!("{who}'s earlier connection"),
                code,
            )
            .await
        })
        .await
}

#[then(expr = "{participant}'s connection is closed by the server")]
async fn closed_by_server(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let connection = scene.connection(&who)?;
            let ending = scene.await_ending(connection).await;
            scene.check(closing::ended_by_server(
                &who,
                ending.as_ref(),
                scene.run().event_timeout,
            ))
        })
        .await
}

#[then(expr = "{participant} receives a close frame in reply")]
async fn close_reply(world: &mut ChalkWorld, who: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let connection = scene.connection(&who)?;
            let ending = scene.await_ending(connection).await;
            scene.check(closing::close_answered(
                ending.as_ref(),
                scene.run().event_timeout,
            ))
        })
        .await
}
