//! The long-lived session: a connection kept alive by `ping` events alone for longer than the
//! server's idle timeout (see [`crate::suite::keepalive`]).

use cucumber::when;
use tokio::time::Instant;

use crate::suite::failure::{Failed, Failure};
use crate::suite::keepalive::seconds;
use crate::suite::steps::parameters::Name;
use crate::suite::world::{ChalkWorld, Scene};

/// The `ping` event as the API page shows it.
const PING_EVENT: &str = r#"{"event":"ping"}"#;

#[when(
    expr = "{participant} and {participant} send nothing but ping events for longer than the server's idle timeout"
)]
async fn ping_past_the_idle_timeout(
    world: &mut ChalkWorld,
    first: Name,
    second: Name,
) -> Result<(), Failed> {
    world
        .judge(async |scene| {
            scene.begin_action();
            ping_for_a_long_session(scene, &[&first, &second]).await
        })
        .await
}

/// Sends `ping` from each of `who` every
/// [`ping_interval`](crate::suite::keepalive::IdleTimeout::ping_interval) until the
/// [`session_length`](crate::suite::keepalive::IdleTimeout::session_length) is over; fails as
/// soon as one of their connections ends (or a ping cannot be sent).
async fn ping_for_a_long_session(scene: &mut Scene, who: &[&str]) -> Result<(), Failure> {
    let idle = scene.run().idle_timeout;
    let (interval, length) = (idle.ping_interval(), idle.session_length());
    let started = Instant::now();
    let until = started + length;
    let cadence = format!(
        "a ping event every {} for {}; idle timeout {idle}",
        seconds(interval),
        seconds(length)
    );
    for name in who {
        scene.note(name, format!("sends nothing but {cadence}"));
    }
    let mut pings = 0_u32;
    loop {
        for name in who {
            let sent = scene.connection_mut(name)?.send_text(PING_EVENT).await;
            if let Err(e) = sent {
                let after = seconds(started.elapsed());
                return Err(scene.fail(
                    format!("{name}'s connection to stay open while it sends {cadence}"),
                    format!("sending ping #{} after {after} failed: {e}", pings + 1),
                ));
            }
        }
        pings += 1;
        let next = (Instant::now() + interval).min(until);
        for name in who {
            let inbox = scene.connection(name)?.inbox();
            if let Some(ending) = inbox.wait_for(next, |s| s.ending.clone()).await {
                let after = seconds(started.elapsed());
                return Err(scene.fail(
                    format!("{name}'s connection to stay open while it sends {cadence}"),
                    format!(
                        "{} after {after} and {pings} ping event(s), nothing else sent",
                        ending.describe()
                    ),
                ));
            }
        }
        if Instant::now() >= until {
            return Ok(());
        }
    }
}
