//! What a load run measured: one [`Summary`], printed as a table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Percentiles;

/// Everything a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// A name for the target (`--label`, or what it is).
    pub label: String,
    /// The WebSocket URL loaded.
    pub target: String,
    /// `chalk` (tokens, subprotocol, origin, Chalk events) or `raw` (plain broadcast).
    pub mode: &'static str,
    /// The shape of the load.
    pub shape: Shape,
    /// Opening the connections.
    pub connections: Connections,
    /// Whether the server sends a message back to its sender (seen in the probe).
    pub echo: bool,
    /// Measured messages sent, all rooms.
    pub messages_sent: u64,
    /// Deliveries expected: every message times its recipients.
    pub deliveries_expected: u64,
    /// Deliveries received (first copies).
    pub deliveries: u64,
    /// Seconds from the first measured send to the last delivery (or the end of the drain).
    pub measured_seconds: f64,
    /// Deliveries per second over `measured_seconds`.
    pub deliveries_per_second: f64,
    /// Messages sent per second over the sending time.
    pub messages_per_second: f64,
    /// Send to receive, every delivery.
    pub fan_out_latency: Percentiles,
    /// With several `--url`s: the nodes, and deliveries and latency split by route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeSplit>,
    /// Rate mode: largest delay of a send behind its schedule, in milliseconds.
    pub schedule_lag_max_ms: f64,
    /// Rate mode: sends more than 1 ms behind schedule.
    pub late_sends: u64,
    /// Deliveries that never came.
    pub lost: u64,
    /// Deliveries that came twice or more (extra copies).
    pub duplicated: u64,
    /// Deliveries that came after a later message of the same sender.
    pub reordered: u64,
    /// Load messages that reached a connection outside their room.
    pub misrouted: u64,
    /// Frames without a load message (presence, `room.state`, errors of the server, ...).
    pub other_frames: u64,
    /// What went wrong, with counts.
    pub errors: BTreeMap<String, u64>,
    /// Close codes the server sent, with counts (`none`: no close frame).
    pub close_codes: BTreeMap<String, u64>,
    /// Memory of the server process.
    pub server_rss: Option<Memory>,
    /// CPU time of the server during the measured part.
    pub server_cpu: Option<Cpu>,
    /// CPU time of the load generator during the measured part.
    pub generator_cpu: Option<Cpu>,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run started and ended.
    pub load_average: LoadAverage,
    /// Caveats the numbers come with.
    pub notes: Vec<String>,
    /// `ok`, or `failed` when anything was lost, duplicated, misrouted or went wrong.
    pub verdict: &'static str,
}

/// The shape of a load.
#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    /// Rooms.
    pub rooms: u32,
    /// Participants per room.
    pub participants: u32,
    /// Senders per room.
    pub senders: u32,
    /// `window W` or `rate N/s per room`.
    pub pace: String,
    /// Size of each message text.
    pub payload_bytes: usize,
    /// Sending time, in seconds.
    pub duration_seconds: f64,
    /// Connections only held.
    pub idle_connections: u32,
}

impl Shape {
    /// One line: rooms, participants, pace, text size, duration, idle connections.
    pub fn describe(&self) -> String {
        let idle = format!("{} idle connections", self.idle_connections);
        if self.rooms == 0 {
            return format!("{idle} held for {}s", self.duration_seconds);
        }
        format!(
            "{} room(s) × {} participants, {} sender(s) per room, {}, {}-byte text, {}s{}",
            self.rooms,
            self.participants,
            self.senders,
            self.pace,
            self.payload_bytes,
            self.duration_seconds,
            if self.idle_connections > 0 {
                format!(", {idle}")
            } else {
                String::new()
            }
        )
    }
}

/// A run over several nodes (`--url`s): where the connections went, and the deliveries whose
/// sender and receiver were on the same node apart from those that crossed nodes.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSplit {
    /// The URL of each node, in the order given (without credentials).
    pub urls: Vec<String>,
    /// Connections established to each node, in the same order.
    pub connections: Vec<u64>,
    /// Deliveries whose sender and receiver connected to the same URL.
    pub same_node: RouteFigures,
    /// Deliveries whose sender and receiver connected to different URLs.
    pub cross_node: RouteFigures,
}

/// The deliveries of one route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteFigures {
    /// Deliveries received (first copies).
    pub deliveries: u64,
    /// Deliveries per second over the run's `measured_seconds`.
    pub deliveries_per_second: f64,
    /// Send to receive.
    pub fan_out_latency: Percentiles,
}

/// Opening the connections.
#[derive(Debug, Clone, Serialize)]
pub struct Connections {
    /// Attempted.
    pub attempted: u64,
    /// Upgraded (101).
    pub established: u64,
    /// Attempts at once.
    pub concurrency: usize,
    /// Established per second, over the connecting phase.
    pub per_second: f64,
    /// TCP connect + HTTP upgrade (+ token verification by the server), per connection.
    pub connect_latency: Percentiles,
}

/// Resident memory of the server process.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Before any load connection.
    pub baseline_bytes: u64,
    /// With every connection open (after the probe, before the measured messages).
    pub connected_bytes: u64,
    /// After the measured messages.
    pub after_load_bytes: u64,
    /// (connected − baseline) ÷ connections.
    pub per_connection_bytes: f64,
    /// The process also runs the load generator (embedded server).
    pub includes_generator: bool,
}

/// CPU time over the measured part.
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    /// Seconds of CPU.
    pub seconds: f64,
    /// Of one core, in percent.
    pub percent_of_one_core: f64,
    /// Microseconds of CPU per delivery.
    pub us_per_delivery: f64,
}

/// The system load average at the start and the end of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadAverage {
    /// At the start.
    pub start: String,
    /// At the end.
    pub end: String,
}

/// `/proc/loadavg`'s first three fields, or empty.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `n` rounded, with thousands separators: `1,234,567`.
pub fn thousands(n: f64) -> String {
    let whole = n.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn latency(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".to_owned();
    }
    format!(
        "{:.3} / {:.3} / {:.3} / {:.3} ms (max {:.3})",
        p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
    )
}

fn tally(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Summary {
    /// Whether nothing was lost, duplicated, misrouted or went wrong.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.misrouted == 0
            && self.errors.is_empty()
            && self.connections.established == self.connections.attempted
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let shape = &self.shape;
        let mut rows: Vec<(&str, String)> = vec![
            ("target", format!("{} ({})", self.label, self.target)),
            ("mode", self.mode.to_owned()),
        ];
        if let Some(split) = &self.nodes {
            let spread = split
                .connections
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" / ");
            rows.push((
                "nodes",
                format!(
                    "{}, connections {spread} (members take the URLs in turn)",
                    split.urls.len()
                ),
            ));
        }
        rows.extend([
            ("shape", shape.describe()),
            (
                "connections",
                format!(
                    "{} of {} established, {}/s ({} at once)",
                    self.connections.established,
                    self.connections.attempted,
                    thousands(self.connections.per_second),
                    self.connections.concurrency
                ),
            ),
            (
                "connect+upgrade p50/p90/p99/p99.9",
                latency(&self.connections.connect_latency),
            ),
        ]);
        if shape.rooms > 0 {
            rows.extend([
                (
                    "messages sent",
                    format!(
                        "{} ({}/s)",
                        thousands(self.messages_sent as f64),
                        thousands(self.messages_per_second)
                    ),
                ),
                (
                    "deliveries",
                    format!(
                        "{} of {} expected, {}/s over {:.2}s{}",
                        thousands(self.deliveries as f64),
                        thousands(self.deliveries_expected as f64),
                        thousands(self.deliveries_per_second),
                        self.measured_seconds,
                        if self.echo {
                            ""
                        } else {
                            " (no echo to the sender)"
                        }
                    ),
                ),
                (
                    "fan-out latency p50/p90/p99/p99.9",
                    latency(&self.fan_out_latency),
                ),
            ]);
            if let Some(split) = &self.nodes {
                for (name, route) in [
                    ("same-node deliveries", &split.same_node),
                    ("cross-node deliveries", &split.cross_node),
                ] {
                    rows.push((
                        name,
                        format!(
                            "{} ({}/s), p50/p90/p99/p99.9 {}",
                            thousands(route.deliveries as f64),
                            thousands(route.deliveries_per_second),
                            latency(&route.fan_out_latency)
                        ),
                    ));
                }
            }
            if shape.pace.starts_with("rate") {
                rows.push((
                    "sender schedule lag",
                    format!(
                        "max {:.3} ms, {} sends >1 ms late",
                        self.schedule_lag_max_ms, self.late_sends
                    ),
                ));
            }
            rows.push((
                "lost / duplicated",
                format!(
                    "{} / {} (reordered {}, misrouted {})",
                    self.lost, self.duplicated, self.reordered, self.misrouted
                ),
            ));
        }
        rows.push(("errors", tally(&self.errors)));
        rows.push(("close codes", tally(&self.close_codes)));
        if let Some(rss) = &self.server_rss {
            rows.push((
                "server RSS",
                format!(
                    "{} before, {} connected, {} after load; {:.1} KiB per connection{}",
                    mib(rss.baseline_bytes),
                    mib(rss.connected_bytes),
                    mib(rss.after_load_bytes),
                    rss.per_connection_bytes / 1024.0,
                    if rss.includes_generator {
                        " (generator included: same process)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for (name, cpu) in [
            ("server CPU", &self.server_cpu),
            ("generator CPU", &self.generator_cpu),
        ] {
            if let Some(cpu) = cpu {
                let per_delivery = if self.deliveries > 0 {
                    format!(", {:.2} µs per delivery", cpu.us_per_delivery)
                } else {
                    String::new()
                };
                rows.push((
                    name,
                    format!("{:.0}% of a core{per_delivery}", cpu.percent_of_one_core),
                ));
            }
        }
        rows.push((
            "load average",
            format!("{} → {}", self.load_average.start, self.load_average.end),
        ));
        rows.push(("verdict", self.verdict.to_owned()));
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let _ = writeln!(out, "{key:<width$}  {value}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_with_thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
