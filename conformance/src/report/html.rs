//! HTML building blocks shared by the run report ([`crate::report::html_report`]) and the docs site
//! ([`crate::commands::docs`]): escaping, one page shell, the stylesheet and the filter script.
//!
//! Every page is self-contained and fetches nothing: its CSS and JavaScript are inline, and a
//! Content-Security-Policy `<meta>` allows exactly those two blocks (by their SHA-256 hashes)
//! and nothing else — no network, no other script, no frame, no form target. A page therefore
//! works from a CI artifact, from `file://`, or from any static host, and a frame that a broken
//! server sent with markup in it can never run as script.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::report::results::Status;

/// Text as HTML content or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text in which `` `code` `` spans become `<code>` (catalogue statements, feature
/// descriptions and schema descriptions are written that way).
pub fn inline_markup(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        // Odd parts sit between backticks; an unmatched last backtick leaves its part as text.
        if i % 2 == 1 && i < text.split('`').count() - 1 {
            out.push_str("<code>");
            out.push_str(&escape(part));
            out.push_str("</code>");
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(&escape(part));
        }
    }
    out
}

/// A string usable as an `id` and in a file name: lower case, `[a-z0-9-]` only.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// A status as a coloured badge.
pub fn badge(status: Status) -> String {
    format!(
        "<span class=\"badge st-{}\">{}</span>",
        status.as_str(),
        escape(status.label())
    )
}

/// The CSP source expression of an inline block: `'sha256-…'`.
fn hash_source(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// A whole page: the shell, the stylesheet, the body, and the filter script when the page has
/// filters. `title` is plain text; `body` is HTML.
pub fn page(title: &str, body: &str, with_filters: bool) -> String {
    let mut policy = format!(
        "default-src 'none'; style-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        hash_source(STYLE)
    );
    if with_filters {
        policy.push_str(&format!("; script-src {}", hash_source(FILTER_SCRIPT)));
    } else {
        policy.push_str("; script-src 'none'");
    }
    let script = if with_filters {
        format!("<script>{FILTER_SCRIPT}</script>\n")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n{script}</body>\n</html>\n",
        escape(title)
    )
}

/// The stylesheet of every page: system fonts, status colours, the transcript timeline.
pub const STYLE: &str = r#"
:root {
  --ink: #1d2430; --muted: #5b6472; --faint: #8a93a1; --line: #dfe3e8; --paper: #ffffff;
  --wash: #f5f7f9; --accent: #2952cc;
  --fail: #b42318; --fail-bg: #fef3f2; --fail-line: #f4b8b2;
  --pass: #0b7a4b; --pass-bg: #ecfbf3; --pass-line: #a6e3c4;
  --warn: #a15c07; --warn-bg: #fff8e6; --warn-line: #f5d38c;
  --xfail: #5b3fc4; --xfail-bg: #f3f1ff; --xfail-line: #cfc6f7;
  --skip: #4b5563; --skip-bg: #f1f3f5; --skip-line: #d6dbe1;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: var(--wash);
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  line-height: 1.5; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: var(--mono); font-size: 0.9em; }
code { background: #eef1f5; padding: 0.05em 0.3em; border-radius: 3px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-word; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.4em 0 0.5em; }
h1 { font-size: 1.7rem; } h2 { font-size: 1.3rem; } h3 { font-size: 1.1rem; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 24px 48px; }
.topbar { background: #1d2430; color: #fff; }
.topbar .wrap { display: flex; gap: 20px; align-items: center; padding-top: 10px; padding-bottom: 10px; flex-wrap: wrap; }
.topbar a { color: #cfd8ff; } .topbar .brand { color: #fff; font-weight: 700; margin-right: 8px; }
.topbar a[aria-current] { color: #fff; text-decoration: underline; text-underline-offset: 4px; }
.topbar .subnav { display: flex; flex-wrap: wrap; gap: 4px 16px; padding-top: 0; padding-bottom: 8px; font-size: 0.85rem; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
.card > h2:first-child, .card > h3:first-child { margin-top: 0; }
.card > :last-child, .req > :last-child { margin-bottom: 0; }
.nowrap { white-space: nowrap; }
.muted { color: var(--muted); } .small { font-size: 0.87rem; }
table { border-collapse: collapse; width: 100%; background: var(--paper); }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th { font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); background: var(--wash); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
.table-wrap table { border: 0; }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 700; letter-spacing: 0.03em;
  text-transform: uppercase; padding: 0.1em 0.55em; border-radius: 999px; border: 1px solid; white-space: nowrap; }
.st-fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail-line); }
.st-pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass-line); }
.st-warn { color: var(--warn); background: var(--warn-bg); border-color: var(--warn-line); }
.st-xfail { color: var(--xfail); background: var(--xfail-bg); border-color: var(--xfail-line); }
.st-skipped, .st-not_declared, .st-not_run { color: var(--skip); background: var(--skip-bg); border-color: var(--skip-line); }
.st-not_run { opacity: 0.75; }
.level { font-size: 0.75rem; font-weight: 600; padding: 0.05em 0.45em; border-radius: 4px; background: #e8ecf6; color: #33416b; white-space: nowrap; }
.level.must { background: #1d2430; color: #fff; } .level.should { background: #dfe6f7; color: #23356b; }
.level.extension { background: #f1ecfa; color: #4a2f83; }
.reqid { font-family: var(--mono); font-weight: 700; white-space: nowrap; }
.tag { display: inline-block; font-family: var(--mono); font-size: 0.78rem; color: #4a5568; background: #eef1f5; border-radius: 4px; padding: 0 0.4em; margin-right: 4px; }

/* Verdict banner */
.banner { color: #fff; }
.banner.ok { background: linear-gradient(135deg, #0b7a4b, #0f9960); }
.banner.bad { background: linear-gradient(135deg, #a11a12, #c9321f); }
.banner .wrap { padding-top: 22px; padding-bottom: 22px; }
.banner h1 { margin: 0; font-size: 2rem; }
.banner .why { font-size: 1.1rem; margin-top: 4px; opacity: 0.95; }
.banner .why a { color: #fff; text-decoration: underline; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 6px 24px; margin: 14px 0 0; }
.facts div { min-width: 0; } .facts dt { font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.06em; opacity: 0.8; }
.facts dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }

/* Counts */
.counts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.25fr); gap: 16px; }
.counts th, .counts td { padding: 5px 8px; }
@media (max-width: 900px) { .counts { grid-template-columns: 1fr; } }
.zero { color: #c0c6cf; }
td.hot { color: var(--fail); font-weight: 700; } td.warm { color: var(--warn); font-weight: 700; }

/* What failed first */
.failure-list { list-style: none; padding: 0; margin: 0; }
.failure-list li { background: var(--paper); border: 1px solid var(--fail-line); border-left: 5px solid var(--fail); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.failure-list li.warn { border-color: var(--warn-line); border-left-color: var(--warn); }
.failure-list .what { font-weight: 600; }
.failure-list .ea { display: grid; grid-template-columns: 6em 1fr; gap: 2px 10px; margin-top: 6px; }
.failure-list .ea span:nth-child(odd) { color: var(--muted); font-weight: 600; }

/* Filters */
.filters { position: sticky; top: 0; z-index: 5; background: rgba(245, 247, 249, 0.97); border-bottom: 1px solid var(--line);
  padding: 10px 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; }
.filters .chips { display: flex; flex-wrap: wrap; gap: 6px; }
.filters label.chip { cursor: pointer; user-select: none; display: inline-flex; gap: 6px; align-items: center;
  border: 1px solid var(--line); background: var(--paper); border-radius: 999px; padding: 2px 10px 2px 6px; font-size: 0.85rem; }
.filters label.chip input { margin: 0; }
.filters label.chip.none { opacity: 0.55; }
.filters select, .filters input[type=search] { font: inherit; font-size: 0.9rem; padding: 4px 8px; border: 1px solid #c8ced6; border-radius: 6px; background: #fff; }
.filters input[type=search] { min-width: 260px; }
.filters .shown { color: var(--muted); font-size: 0.85rem; margin-left: auto; }
.empty { display: none; color: var(--muted); padding: 12px; }
.empty.visible { display: block; }

/* Requirements table */
.reqs td:first-child { white-space: nowrap; }
.reqs td.title { min-width: 16em; }
.reqs .links a { margin-right: 8px; white-space: nowrap; }

/* Scenarios */
details.scenario { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; margin: 10px 0; }
details.scenario.sc-fail { border-left: 5px solid var(--fail); }
details.scenario.sc-warn { border-left: 5px solid var(--warn); }
details.scenario.sc-xfail { border-left: 5px solid var(--xfail); }
details.scenario.sc-pass { border-left: 5px solid var(--pass-line); }
details.scenario > summary { cursor: pointer; padding: 10px 14px; display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: baseline; list-style: none; color: var(--ink); background: transparent; border: 0; font-weight: 400; text-transform: none; letter-spacing: 0; font-size: 1rem; }
details.scenario > summary::-webkit-details-marker { display: none; }
details.scenario > summary::before { content: "\25B8"; color: var(--faint); width: 1em; }
details.scenario[open] > summary::before { content: "\25BE"; }
details.scenario > summary .name { font-weight: 600; }
details.scenario > summary .right { margin-left: auto; color: var(--muted); font-size: 0.85rem; white-space: nowrap; }
.scenario-body { padding: 0 18px 16px 38px; }
.scenario-body h4 { margin: 14px 0 6px; font-size: 0.8rem; text-transform: uppercase; letter-spacing: 0.06em; color: var(--muted); }
.statement { color: var(--muted); margin: 0; }
ol.steps { list-style: none; padding: 0; margin: 0; font-family: var(--mono); font-size: 0.88rem; }
ol.steps li { display: flex; gap: 10px; padding: 2px 0; }
ol.steps .mark { width: 1.2em; text-align: center; font-weight: 700; }
ol.steps .passed .mark { color: var(--pass); } ol.steps .failed .mark { color: var(--fail); }
ol.steps .skipped { color: var(--faint); }
ol.steps li.failed { background: var(--fail-bg); border-radius: 4px; }
ol.steps .kw { color: #7a3e9d; font-weight: 700; min-width: 3.6em; }
ol.steps .ms { margin-left: auto; color: var(--faint); white-space: nowrap; }
.ea-box { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; margin: 8px 0; }
@media (max-width: 800px) { .ea-box { grid-template-columns: 1fr; } }
.ea-box > div { border-radius: 6px; padding: 10px 12px; border: 1px solid; }
.ea-box .expected { background: var(--pass-bg); border-color: var(--pass-line); }
.ea-box .actual { background: var(--fail-bg); border-color: var(--fail-line); }
.ea-box .label { font-size: 0.75rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.06em; display: block; margin-bottom: 4px; }
.ea-box .expected .label { color: var(--pass); } .ea-box .actual .label { color: var(--fail); }
.ea-box pre { font-size: 0.88rem; }
.callout.fail { background: var(--fail-bg); border-color: var(--fail-line); }
.rule .kw { color: #7a3e9d; font-weight: 700; font-family: var(--mono); }
pre.json + pre.json { margin-top: 10px; }
.callout { background: var(--warn-bg); border: 1px solid var(--warn-line); border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
.reason { background: var(--skip-bg); border: 1px solid var(--skip-line); border-radius: 6px; padding: 6px 10px; margin: 8px 0; }

/* Transcript timeline */
table.timeline { font-family: var(--mono); font-size: 0.82rem; border: 1px solid var(--line); border-radius: 6px; }
table.timeline td { padding: 4px 8px; border-bottom: 1px solid #eef0f3; }
table.timeline td.t { color: var(--faint); white-space: nowrap; text-align: right; width: 6em; }
table.timeline td.who { white-space: nowrap; width: 8em; }
table.timeline td.dir { width: 2.2em; text-align: center; font-weight: 700; }
table.timeline tr.out td.dir { color: #2952cc; } table.timeline tr.in td.dir { color: #0b7a4b; }
table.timeline tr.note td { color: var(--muted); background: #fafbfc; }
table.timeline tr.close td.what { color: var(--fail); font-weight: 600; }
table.timeline tr.refused td.what .head { color: var(--fail); }
table.timeline .head { font-weight: 700; }
table.timeline details summary { cursor: pointer; }
.actor { display: inline-block; border-radius: 4px; padding: 0 6px; font-weight: 600; }
.a0 { background: #e3ecff; color: #1f3d99; } .a1 { background: #fde7d9; color: #8a3a0a; }
.a2 { background: #e2f5ea; color: #17663f; } .a3 { background: #f4e5fb; color: #6b2a8c; }
.a4 { background: #fff2c2; color: #735400; } .a5 { background: #e0f3f7; color: #15606f; }
.a-note { background: #eef1f5; color: #4a5568; }
.legend { font-size: 0.82rem; color: var(--muted); margin: 4px 0 8px; }

/* Docs */
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 14px; }
.grid .card { margin: 0; }
.req { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 16px 0; }
.req:target { outline: 3px solid #9db2f5; }
.req h3 { margin: 0 0 6px; display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; }
.req .meta { font-size: 0.87rem; color: var(--muted); }
.gherkin { background: #fbfbfd; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; font-family: var(--mono); font-size: 0.86rem; }
.gherkin .kw { color: #7a3e9d; font-weight: 700; }
.gherkin .title { font-weight: 700; font-family: system-ui, sans-serif; font-size: 0.95rem; }
.gherkin .step { padding-left: 1.5em; }
.gherkin pre.doc { margin: 4px 0 4px 3em; padding: 6px 10px; background: #f1f3f7; border-radius: 4px; }
.gherkin table { width: auto; margin: 4px 0 4px 3em; font-size: 0.84rem; }
.gherkin td, .gherkin th { padding: 2px 10px; border: 1px solid var(--line); }
.schema td.prop { font-family: var(--mono); white-space: nowrap; }
.schema td.prop .depth { color: var(--faint); }
pre.json { background: #1d2430; color: #e8edf5; padding: 12px 14px; border-radius: 6px; font-size: 0.85rem; }
.pill { display: inline-block; font-size: 0.78rem; border-radius: 999px; padding: 0 0.6em; border: 1px solid var(--line); background: #fff; color: var(--muted); }
footer { color: var(--faint); font-size: 0.8rem; margin-top: 40px; }
[hidden] { display: none !important; }
"#;

/// The filter script of the report and of the coverage matrix. Items carry `data-status` and
/// `data-area`; the controls are checkboxes `[data-filter-status]`, a select `#f-area` and a
/// search box `#f-q`. The state lives in the URL fragment (`#status=fail,warn&area=chat&q=…`),
/// so that a filtered view can be linked to and reproduced headlessly; a fragment without `=`
/// is an ordinary anchor, and filters are cleared when it points at something they hide.
pub const FILTER_SCRIPT: &str = r##"
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[data-filter-status]"));
  var area = document.getElementById("f-area");
  var query = document.getElementById("f-q");
  var items = Array.prototype.slice.call(document.querySelectorAll("[data-status][data-area]"));
  var shown = document.getElementById("f-shown");
  function params() {
    var hash = location.hash.replace(/^#/, "");
    if (hash.indexOf("=") < 0) { return null; }
    var out = {};
    hash.split("&").forEach(function (pair) {
      var at = pair.indexOf("=");
      if (at > 0) { out[pair.slice(0, at)] = decodeURIComponent(pair.slice(at + 1).replace(/\+/g, " ")); }
    });
    return out;
  }
  function state() {
    var statuses = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    return { status: statuses, area: area ? area.value : "", q: query ? query.value.trim().toLowerCase() : "" };
  }
  function apply() {
    var s = state();
    var counts = {};
    items.forEach(function (item) {
      var ok = (s.status.length === 0 || s.status.indexOf(item.getAttribute("data-status")) >= 0) &&
        (s.area === "" || item.getAttribute("data-area") === s.area) &&
        (s.q === "" || item.textContent.toLowerCase().indexOf(s.q) >= 0);
      item.hidden = !ok;
      var group = item.getAttribute("data-group") || "items";
      counts[group] = counts[group] || [0, 0];
      counts[group][1] += 1;
      if (ok) { counts[group][0] += 1; }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-empty-for]"), function (el) {
      var c = counts[el.getAttribute("data-empty-for")];
      el.classList.toggle("visible", !!c && c[0] === 0);
    });
    if (shown) {
      var parts = [];
      Object.keys(counts).sort().reverse().forEach(function (g) { parts.push(counts[g][0] + " of " + counts[g][1] + " " + g); });
      shown.textContent = parts.join(" \u00b7 ") + " shown";
    }
    document.body.setAttribute("data-filtered", s.status.length || s.area || s.q ? "yes" : "no");
  }
  function write() {
    var s = state();
    var parts = [];
    if (s.status.length) { parts.push("status=" + s.status.join(",")); }
    if (s.area) { parts.push("area=" + encodeURIComponent(s.area)); }
    if (s.q) { parts.push("q=" + encodeURIComponent(s.q)); }
    var url = location.pathname + location.search + (parts.length ? "#" + parts.join("&") : "");
    try { history.replaceState(null, "", url); } catch (e) { /* file:// in some browsers */ }
  }
  function read() {
    var p = params();
    if (p === null) {
      var target = location.hash.length > 1 ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
      var hiddenAncestor = target && target.closest("[hidden]");
      if (hiddenAncestor) { clear(); }
      if (target && target.tagName === "DETAILS") { target.open = true; }
      if (target) { target.scrollIntoView(); }
      return;
    }
    var wanted = (p.status || "").split(",").filter(function (v) { return v; });
    boxes.forEach(function (b) { b.checked = wanted.indexOf(b.value) >= 0; });
    if (area) { area.value = p.area || ""; }
    if (query) { query.value = p.q || ""; }
    apply();
  }
  function clear() {
    boxes.forEach(function (b) { b.checked = false; });
    if (area) { area.value = ""; }
    if (query) { query.value = ""; }
    apply();
  }
  boxes.forEach(function (b) { b.addEventListener("change", function () { apply(); write(); }); });
  if (area) { area.addEventListener("change", function () { apply(); write(); }); }
  if (query) { query.addEventListener("input", function () { apply(); write(); }); }
  var reset = document.getElementById("f-clear");
  if (reset) { reset.addEventListener("click", function () { clear(); write(); }); }
  window.addEventListener("hashchange", read);
  apply();
  read();
  document.body.setAttribute("data-ready", "yes");
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_text_and_attributes() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }

    #[test]
    fn backticks_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            inline_markup("offer `chalk` & `token.{jwt}`"),
            "offer <code>chalk</code> &amp; <code>token.{jwt}</code>"
        );
        assert_eq!(inline_markup("a lone ` tick"), "a lone ` tick");
    }

    #[test]
    fn slugs_are_safe_for_ids_and_file_names() {
        assert_eq!(
            slug("Which tokens open a connection?"),
            "which-tokens-open-a-connection"
        );
        assert_eq!(slug("participant.joined"), "participant-joined");
    }

    #[test]
    fn a_page_allows_only_its_own_style_and_script() {
        let html = page("t", "<p>x</p>", true);
        let meta = html
            .lines()
            .find(|l| l.contains("Content-Security-Policy"))
            .unwrap();
        let policy = meta.split("content=\"").nth(1).unwrap();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        assert!(policy.contains(&hash_source(STYLE)), "{policy}");
        assert!(policy.contains(&hash_source(FILTER_SCRIPT)), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(!policy.contains("http"), "{policy}");
        let plain = page("t", "<p>x</p>", false);
        assert!(plain.contains("script-src 'none'"));
        assert!(!plain.contains("<script>"));
    }
}
