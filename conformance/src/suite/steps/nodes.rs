//! Which node of a deployment of several a participant connects to. Without these steps the
//! participants of a scenario go to the nodes in turn, in the order it introduces them; the
//! cluster scenarios (`features/cluster/`) say where each one is, so that a reader sees which
//! events have to cross from node to node. They are planned only for deployments of two nodes
//! or more, and name nodes 1 and 2 only. The failover scenarios are given a node of their own to
//! lose ([`Scene::node_to_lose`](crate::suite::world::Scene::node_to_lose)), which the run's
//! `--node-kill-command` kills (and `--node-restart-command` brings back).

use cucumber::{given, then, when};
use tokio::time::Instant;

use crate::suite::failure::Failed;
use crate::suite::matchers::upgrade;
use crate::suite::steps::connecting::connects;
use crate::suite::steps::parameters::Name;
use crate::suite::steps::presence::await_about;
use crate::suite::world::{ChalkWorld, RoomKey};

#[given(expr = "{participant} is connected to node {int}")]
async fn is_connected_to(world: &mut ChalkWorld, name: Name, node: usize) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.place(&name, node)?;
            scene.connect_for_setup(&name, RoomKey::Main).await
        })
        .await
}

#[given(expr = "{participant} is to connect to node {int}")]
async fn is_to_connect_to(world: &mut ChalkWorld, name: Name, node: usize) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.place(&name, node)?;
            scene.provision(&name, RoomKey::Main, None, None).await
        })
        .await
}

#[when(expr = "{participant} connects to node {int}")]
async fn connects_to(world: &mut ChalkWorld, name: Name, node: usize) -> Result<(), Failed> {
    world.judge(async |scene| scene.place(&name, node)).await?;
    connects(world, name).await
}

#[when(expr = "{participant} connects again, to node {int}")]
async fn connects_again_to(world: &mut ChalkWorld, name: Name, node: usize) -> Result<(), Failed> {
    world.judge(async |scene| scene.place(&name, node)).await?;
    connects(world, name).await
}

#[given(expr = "{participant} is connected to a node that will be lost")]
async fn is_connected_to_a_node_to_lose(world: &mut ChalkWorld, name: Name) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let node = scene.node_to_lose()?;
            scene.place(&name, node + 1)?;
            scene.connect_for_setup(&name, RoomKey::Main).await
        })
        .await
}

#[when(expr = "that node is killed")]
async fn node_is_killed(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            scene.lose_node(false).await
        })
        .await
}

#[when(expr = "that node is killed and restarted")]
async fn node_is_killed_and_restarted(world: &mut ChalkWorld) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            scene.lose_node(true).await
        })
        .await
}

#[then(
    expr = "{participant} receives participant.left about {participant} within the failover bound"
)]
async fn left_within_the_bound(
    world: &mut ChalkWorld,
    listener: Name,
    subject: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let bound = scene.run().failover.bound;
            let killed = scene.lost_node()?.1.unwrap_or_else(Instant::now);
            scene.fix_deadline(Some((killed + bound, bound)));
            let heard = await_about(scene, &listener, "participant.left", &subject).await;
            scene.fix_deadline(None);
            heard.map(drop)
        })
        .await
}

#[then(expr = "{participant} can join the room on that node and {participant} hears of it")]
async fn joins_on_that_node(
    world: &mut ChalkWorld,
    newcomer: Name,
    listener: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            let (node, _) = scene.lost_node()?;
            scene.place(&newcomer, node + 1)?;
            scene
                .provision(&newcomer, RoomKey::Main, None, None)
                .await?;
            let request = scene.standard_request(&newcomer)?;
            let token = scene.participant(&newcomer)?.credentials.token.clone();
            scene
                .attempt(&newcomer, "a valid token", request, Some(token))
                .await;
            scene.check(upgrade::accepted(
                &scene.last_attempt()?.handshake,
                &format!("{newcomer} can connect to the restarted node"),
            ))?;
            await_about(scene, &listener, "participant.joined", &newcomer)
                .await
                .map(drop)
        })
        .await
}
