//! The HTML report and the docs site in a real browser: headless Chromium opens the pages of a
//! failing run from `file://`, runs their scripts, and the tests read the DOM it dumps.
//!
//! A reference server whose JWT leeway is 30 000 s accepts expired tokens, so `AUTH-009` fails.
//! The tests check that the verdict, the failing scenario's Expected/Actual and its transcript
//! are on the page, that the filters work from the URL fragment, and — through Chromium's own
//! network log — that no page fetches anything. Each page is also kept as a screenshot under
//! `target/browser-artifacts/`.
//!
//! Chromium is required: without it these tests fail and say how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chalk_conformance::commands::exit::ExitStatus;
use chalk_conformance::driver::embedded::{SUITE_HEARTBEAT, SUITE_IDLE_TIMEOUT};
use chalk_reference_server::config::EPHEMERAL_ALLOWED_ORIGIN;
use chalk_reference_server::{Config, serve};
use chalk_tests::conformance;
use serde_json::Value;

/// How long one Chromium invocation may take.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// The command that installs what these tests need, for the failure message.
const INSTALL: &str = "apt-get update && apt-get install -y chromium";

/// The files of one failing run, made once for all the tests of this file.
struct FailingRun {
    report: PathBuf,
    site: PathBuf,
}

fn failing_run() -> &'static FailingRun {
    static RUN: OnceLock<FailingRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("browser-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("report.html");
        let results = dir.join("results.json");
        let site = dir.join("site");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let mut config = Config::ephemeral();
            config.jwt.leeway = Duration::from_secs(30_000);
            config.limits.idle_timeout = SUITE_IDLE_TIMEOUT;
            config.limits.heartbeat_interval = SUITE_HEARTBEAT;
            let idle = format!("{}ms", SUITE_IDLE_TIMEOUT.as_millis());
            let secret = config.jwt_secret().unwrap().to_owned();
            let api_key = config.api_key().unwrap().to_owned();
            let server = serve(config).await.expect("the reference server starts");
            let (status, output) = conformance(&[
                "--url",
                &server.ws_url(),
                "--jwt-secret",
                &secret,
                "--api-url",
                &server.api_url(),
                "--api-key",
                &api_key,
                "--origin",
                EPHEMERAL_ALLOWED_ORIGIN,
                "--idle-timeout",
                &idle,
                "--report",
                report.to_str().unwrap(),
                "--results-json",
                results.to_str().unwrap(),
            ])
            .await;
            server.shutdown().await;
            assert_eq!(status, ExitStatus::NonConformant, "{output}");
            let (status, output) = conformance(&[
                "docs",
                "--out",
                site.to_str().unwrap(),
                "--results",
                results.to_str().unwrap(),
            ])
            .await;
            assert_eq!(status, ExitStatus::Conformant, "{output}");
        });
        FailingRun { report, site }
    })
}

/// Where screenshots are kept: `target/browser-artifacts/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium, with the flags that keep it off the network on its own account.
struct Chromium {
    binary: PathBuf,
}

/// What Chromium did with one page.
struct Visit {
    /// The DOM after the page's scripts ran (`--dump-dom`), or empty for a screenshot.
    dom: String,
    /// Every URL the page itself asked for (Chromium's own housekeeping excluded).
    fetched: Vec<String>,
}

impl Chromium {
    /// The browser named by `CHALK_CHROMIUM`, or `chromium` / `chromium-browser` /
    /// `google-chrome` on the `PATH`. Fails the test when there is none.
    fn find() -> Self {
        let named = std::env::var_os("CHALK_CHROMIUM").map(PathBuf::from);
        let on_path = ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|name| {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|dir| dir.join(name))
                        .find(|candidate| candidate.is_file())
                })
            });
        match named.or(on_path) {
            Some(binary) => Self { binary },
            None => panic!(
                "chromium not found: the browser tests need it; install it with `{INSTALL}` (or set CHALK_CHROMIUM to its path)"
            ),
        }
    }

    /// Opens `url` with a fresh profile and a network log; `action` is `--dump-dom` or
    /// `--screenshot=FILE` with its window size.
    fn visit(&self, url: &str, action: &[String]) -> Visit {
        let profile = tempdir("chromium-profile");
        let net_log = profile.join("net-log.json");
        // The DOM goes to a file: a pipe that nobody reads while the browser writes a large
        // page into it would stall the browser.
        let dom_file = profile.join("dom.html");
        let mut child = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--log-net-log={}", net_log.display()))
            .args(action)
            .arg(url)
            .stdout(std::fs::File::create(&dom_file).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; install chromium with `{INSTALL}`",
                    self.binary.display()
                )
            });
        let started = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if started.elapsed() > BROWSER_DEADLINE {
                let _ = child.kill();
                panic!("chromium took more than {BROWSER_DEADLINE:?} on {url}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "chromium failed on {url}: {status:?}");
        let visit = Visit {
            dom: std::fs::read_to_string(&dom_file).unwrap_or_default(),
            fetched: page_requests(&net_log),
        };
        let _ = std::fs::remove_dir_all(profile);
        visit
    }

    fn dom(&self, url: &str) -> Visit {
        self.visit(url, &["--dump-dom".to_owned()])
    }

    /// Screenshots `url` into the artifacts directory; the PNG's path.
    fn screenshot(&self, url: &str, name: &str, height: u32) -> (PathBuf, Visit) {
        let file = artifacts().join(name);
        let _ = std::fs::remove_file(&file);
        let visit = self.visit(
            url,
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size=1280,{height}"),
            ],
        );
        let png = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("no screenshot {}: {e}", file.display()));
        assert!(
            png.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            file.display()
        );
        assert!(png.len() > 30_000, "{} looks blank", file.display());
        (file, visit)
    }
}

fn tempdir(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The URLs a page asked for, from Chromium's network log: every request whose initiator is an
/// origin (a page). Chromium's own requests (updates, sign-in) have no origin and are left out;
/// `file://` loads do not go through the network stack at all.
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log)
        .unwrap_or_else(|e| panic!("chromium wrote no network log {}: {e}", net_log.display()));
    // A log cut short by the browser's exit lacks its closing brackets.
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("the network log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the network log names its event types");
    log["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["type"].as_u64() == Some(start_job))
        .filter(|event| event["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|event| event["params"]["url"].as_str().map(str::to_owned))
        .collect()
}

fn file_url(path: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", path.display())
}

/// The opening tags of the elements with a `data-status`, with whether each is hidden.
fn filtered_items(dom: &str, tag_start: &str) -> Vec<(String, bool)> {
    dom.match_indices(tag_start)
        .map(|(at, _)| {
            let tag = &dom[at..at + dom[at..].find('>').unwrap()];
            let status = tag
                .split("data-status=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_default()
                .to_owned();
            (status, tag.contains(" hidden"))
        })
        .collect()
}

/// The failing scenario of `requirement`: its `<details>` element from after the class to its
/// end (so its attributes, such as `open`, come first).
fn failing_scenario<'a>(dom: &'a str, requirement: &str, name: &str) -> &'a str {
    let link = format!("href=\"#r-{requirement}\">{requirement}</a>");
    let name = format!("<span class=\"name\">{name}</span>");
    dom.split("<details class=\"scenario sc-fail\"")
        .skip(1)
        .map(|rest| rest.split("</details>").next().unwrap_or_default())
        .find(|block| block.contains(&link) && block.contains(&name))
        .unwrap_or_else(|| panic!("no failing scenario of {requirement} in the report: {name}"))
}

#[test]
fn the_report_shows_the_verdict_and_a_failure_with_its_expected_actual_and_transcript() {
    let chromium = Chromium::find();
    let run = failing_run();
    let visit = chromium.dom(&file_url(&run.report, ""));
    let dom = &visit.dom;
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the report's script did not run"
    );
    assert!(dom.contains("data-verdict=\"not-conformant\""));
    assert!(dom.contains("✘ Not conformant"));
    assert!(
        dom.contains("<a href=\"#r-AUTH-009\">AUTH-009</a>"),
        "the banner names AUTH-009"
    );
    let failure = failing_scenario(dom, "AUTH-009", "A token that expired two hours ago");
    assert!(
        failure[..failure.find('>').unwrap()].contains(" open"),
        "the failing scenario is not expanded"
    );
    assert!(failure.contains("<span class=\"label\">Expected</span><pre>the upgrade with a token that expired two hours ago refused before 101</pre>"), "{failure}");
    assert!(failure.contains("<span class=\"label\">Actual</span><pre>101 Switching Protocols: the connection was opened</pre>"), "{failure}");
    assert!(
        failure.contains("GET /api/v1/ws HTTP/1.1"),
        "no handshake request"
    );
    assert!(
        failure.contains("Sec-WebSocket-Protocol: chalk, token.[token:Mallory"),
        "no redacted token"
    );
    assert!(
        failure.contains("HTTP/1.1 101 Switching Protocols"),
        "no handshake response"
    );
    assert!(
        visit.fetched.is_empty(),
        "the report fetched {:?}",
        visit.fetched
    );
    let (shot, visit) = chromium.screenshot(&file_url(&run.report, ""), "report.png", 2400);
    assert!(
        visit.fetched.is_empty(),
        "the report fetched {:?}",
        visit.fetched
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn the_report_filters_by_status_area_and_text_from_the_url_fragment() {
    let chromium = Chromium::find();
    let run = failing_run();

    let failing = chromium.dom(&file_url(&run.report, "#status=fail")).dom;
    let scenarios = filtered_items(&failing, "<details class=\"scenario");
    assert!(scenarios.len() > 100, "{} scenarios", scenarios.len());
    assert!(scenarios.iter().any(|(s, hidden)| s == "fail" && !hidden));
    for (status, hidden) in &scenarios {
        assert_eq!(
            *hidden,
            status != "fail",
            "a {status} scenario is hidden={hidden}"
        );
    }
    let requirements = filtered_items(&failing, "<tr id=\"r-");
    assert!(
        requirements
            .iter()
            .any(|(s, hidden)| s == "fail" && !hidden)
    );
    assert!(
        requirements
            .iter()
            .all(|(s, hidden)| *hidden == (s != "fail"))
    );
    assert!(failing.contains("data-filtered=\"yes\""));

    let chat = chromium.dom(&file_url(&run.report, "#area=chat")).dom;
    let visible: Vec<&str> = chat
        .match_indices("<details class=\"scenario")
        .map(|(at, _)| &chat[at..at + chat[at..].find('>').unwrap()])
        .filter(|tag| !tag.contains(" hidden"))
        .collect();
    assert!(!visible.is_empty());
    assert!(
        visible.iter().all(|tag| tag.contains("data-area=\"chat\"")),
        "{visible:?}"
    );

    let none = chromium
        .dom(&file_url(&run.report, "#status=fail&area=chat"))
        .dom;
    assert!(
        filtered_items(&none, "<details class=\"scenario")
            .iter()
            .all(|(_, hidden)| *hidden),
        "no chat scenario fails, so none may show"
    );
    assert!(none.contains("class=\"empty visible\" data-empty-for=\"scenarios\""));

    let searched = chromium
        .dom(&file_url(&run.report, "#q=two%20hours%20ago"))
        .dom;
    let shown: Vec<&str> = searched
        .match_indices("<details class=\"scenario")
        .map(|(at, _)| searched[at..].split("</details>").next().unwrap())
        .filter(|block| !block[..block.find('>').unwrap()].contains(" hidden"))
        .collect();
    assert!(!shown.is_empty());
    assert!(
        shown
            .iter()
            .all(|block| block.to_lowercase().contains("two hours ago"))
    );

    let (shot, visit) = chromium.screenshot(
        &file_url(&run.report, "#status=fail,warn"),
        "report-failures.png",
        2400,
    );
    assert!(
        visit.fetched.is_empty(),
        "the report fetched {:?}",
        visit.fetched
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn the_docs_site_shows_requirements_with_their_latest_result_and_fetches_nothing() {
    let chromium = Chromium::find();
    let run = failing_run();
    let index = chromium.dom(&file_url(&run.site.join("index.html"), ""));
    assert!(index.dom.contains("The Chalk real-time WebSocket API"));
    assert!(
        index.dom.contains("not conformant"),
        "no latest result on the index"
    );
    assert!(
        index.fetched.is_empty(),
        "the index fetched {:?}",
        index.fetched
    );

    let area = chromium.dom(&file_url(&run.site.join("area-authentication.html"), ""));
    let section = area
        .dom
        .split("id=\"AUTH-009\"")
        .nth(1)
        .expect("an AUTH-009 anchor");
    let section = section.split("</section>").next().unwrap();
    assert!(
        section.contains("badge st-fail"),
        "AUTH-009 does not show its failure"
    );
    assert!(
        section.contains("A token that expired two hours ago"),
        "no scenario under AUTH-009"
    );
    assert!(
        area.fetched.is_empty(),
        "the area page fetched {:?}",
        area.fetched
    );

    let event = chromium.dom(&file_url(
        &run.site.join("event-participant-joined.html"),
        "",
    ));
    assert!(event.dom.contains("data.display_name"), "no schema table");
    assert!(event.dom.contains("href=\"area-presence.html#PRES-001\""));
    assert!(
        event.fetched.is_empty(),
        "the event page fetched {:?}",
        event.fetched
    );

    let coverage = chromium.dom(&file_url(&run.site.join("coverage.html"), "#status=fail"));
    assert!(
        coverage.dom.contains("data-ready=\"yes\""),
        "the matrix's script did not run"
    );
    let rows = filtered_items(&coverage.dom, "<tr data-status=");
    assert!(rows.len() > 80, "{} rows", rows.len());
    assert!(rows.iter().any(|(s, hidden)| s == "fail" && !hidden));
    assert!(rows.iter().all(|(s, hidden)| *hidden == (s != "fail")));
    assert!(
        coverage.fetched.is_empty(),
        "the matrix fetched {:?}",
        coverage.fetched
    );

    for (page, shot) in [
        ("index.html", "docs-index.png"),
        ("area-authentication.html", "docs-area.png"),
        ("event-participant-joined.html", "docs-event.png"),
        ("coverage.html", "docs-coverage.png"),
    ] {
        let (file, visit) = chromium.screenshot(&file_url(&run.site.join(page), ""), shot, 1800);
        assert!(
            visit.fetched.is_empty(),
            "{page} fetched {:?}",
            visit.fetched
        );
        eprintln!("screenshot: {}", file.display());
    }
}

/// The network check above would see a fetch: a page that loads an image from a loopback port
/// shows up in the list.
#[test]
fn the_network_check_sees_a_page_that_fetches() {
    let chromium = Chromium::find();
    let dir = tempdir("fetching-page");
    let page = dir.join("fetches.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/probe.png\"></body></html>",
    )
    .unwrap();
    let visit = chromium.dom(&file_url(&page, ""));
    assert_eq!(
        visit.fetched,
        vec!["http://127.0.0.1:9/probe.png".to_owned()]
    );
    std::fs::remove_dir_all(dir).unwrap();
}
