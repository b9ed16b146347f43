//! The console's pages, built with `maud`: every interpolated value is HTML-escaped, and no
//! page contains inline script or style (the Content-Security-Policy forbids both).

use maud::{DOCTYPE, Markup, html};

use super::{CSRF_FIELD, Ctx};
use bluezone_export::{opened_header, row_fields, utc};

use crate::domain::code;
use crate::domain::regions::{RegionConfig, WHOLE_COUNTRY};
use crate::domain::settings::{Facility, Unit};
use crate::domain::store::{
    Account, AuditEntry, CaseRecord, CaseStatus, ConfirmationRecord, F1RowRecord, FollowUpStatus,
    Role,
};
use crate::domain::workflow::CODE_SHOWN_SECONDS;
use crate::web::api::export_row;
use bluezone_protocol::RiskRule;

/// What the "open a case" form holds after a failed submit.
#[derive(Default)]
pub struct OpenCaseForm {
    pub reference: String,
    pub error: Option<&'static str>,
}

/// What the "new account" form holds after a failed submit (never the password).
#[derive(Default)]
pub struct AccountForm {
    pub username: String,
    pub role: String,
    pub facility: String,
    pub unit: String,
    pub province: String,
}

/// What the new-unit form held, to show it again with its error.
#[derive(Default)]
#[allow(missing_docs)]
pub struct UnitForm {
    pub name: String,
    pub districts: String,
    pub public_key: String,
}

/// The admin page's two forms as last sent, and the error of the one that was refused.
#[derive(Default)]
#[allow(missing_docs)]
pub struct AdminForms {
    pub account: AccountForm,
    pub unit: UnitForm,
    pub account_error: Option<&'static str>,
    pub unit_error: Option<&'static str>,
    /// An account whose password was just reset, and the new password, shown this once.
    pub password_reset: Option<(String, String)>,
}

/// A time as the console shows it: in the configured zone, `dd/mm/yyyy HH:MM` in Vietnamese
/// and `yyyy-mm-dd HH:MM` in English, with the offset.
pub fn when(ctx: &Ctx, seconds: u64) -> String {
    let offset = i64::from(ctx.offset_minutes) * 60;
    let local = (seconds as i64).saturating_add(offset).max(0) as u64;
    // `utc` gives YYYY-MM-DDTHH:MM:SSZ.
    let iso = utc(local);
    let (date, time) = (&iso[..10], &iso[11..16]);
    let sign = if ctx.offset_minutes < 0 { '-' } else { '+' };
    let m = ctx.offset_minutes.unsigned_abs();
    let zone = if m.is_multiple_of(60) {
        format!("UTC{sign}{}", m / 60)
    } else {
        format!("UTC{sign}{}:{:02}", m / 60, m % 60)
    };
    match ctx.lang {
        super::Lang::Vi => format!(
            "{}/{}/{} {time} ({zone})",
            &date[8..10],
            &date[5..7],
            &date[..4]
        ),
        super::Lang::En => format!("{date} {time} ({zone})"),
    }
}

/// A table's header row.
fn header_row(columns: &[&str]) -> Markup {
    html! { tr { @for c in columns { th scope="col" { (c) } } } }
}

fn csrf(ctx: &Ctx) -> Markup {
    let token = ctx.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("");
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

fn layout(ctx: &Ctx, title: &str, main: Markup) -> String {
    let t = ctx.t();
    let other = ctx.lang.other();
    let switch = format!("/console/lang/{}?next={}", other.code(), ctx.path);
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (t.app_title) }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.top {
                    p.brand { (t.app_title) }
                    nav aria-label=(t.app_title) {
                        @if let Some(s) = &ctx.session {
                            ul {
                                @match &s.principal.role {
                                    Role::Admin => {
                                        li { a href="/console/admin" { (t.nav_admin) } }
                                        li { a href="/console/admin/audit" { (t.nav_audit) } }
                                        li { a href="/console/cases" { (t.nav_cases) } }
                                    }
                                    Role::TreatmentFacility { .. } | Role::Oversight { .. } => {
                                        li { a href="/console/cases" { (t.nav_cases) } }
                                    }
                                    Role::PreventiveUnit { .. } => {
                                        li { a href="/console/unit" { (t.nav_inbox) } }
                                    }
                                }
                                li { a href="/console/password" { (t.nav_password) } }
                            }
                        }
                    }
                    div.who {
                        a.lang href=(switch) lang=(other.code()) title=(t.switch_language) {
                            (other.texts().language_name)
                        }
                        @if let Some(s) = &ctx.session {
                            span { (t.signed_in_as) " " strong #username { (s.principal.username) } }
                            form.inline method="post" action="/console/logout" {
                                (csrf(ctx))
                                button type="submit" { (t.logout) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
    .into_string()
}

fn alert(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.alert.error role="alert" { (m) }
        }
    }
}

fn notice(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            p.alert.ok role="status" { (m) }
        }
    }
}

/// The login page; `username` is what was typed before a failed attempt.
pub fn login(ctx: &Ctx, csrf_token: &str, username: &str, error: Option<&str>) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.login_title,
        html! {
            section.card.narrow {
                h1 { (t.login_title) }
                (alert(error))
                form method="post" action="/console/login" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf_token);
                    label for="username" { (t.username) }
                    input #username type="text" name="username" value=(username)
                        autocomplete="username" autocapitalize="none" spellcheck="false" required;
                    label for="password" { (t.password) }
                    input #password type="password" name="password"
                        autocomplete="current-password" required;
                    button.primary type="submit" { (t.login_button) }
                }
            }
        },
    )
}

fn status_key(case: &CaseRecord) -> &'static str {
    match case.status {
        CaseStatus::AwaitingUpload => "awaiting_upload",
        CaseStatus::UploadReceived { .. } => "upload_received",
        CaseStatus::TraceRequested { .. } => "trace_requested",
        CaseStatus::Published { .. } => "published",
    }
}

/// The treatment facility's case list with the "open a case" form.
pub fn cases(ctx: &Ctx, cases: &[CaseRecord], form: &OpenCaseForm) -> String {
    let t = ctx.t();
    let mut sorted: Vec<&CaseRecord> = cases.iter().collect();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.case_id));
    // Only a facility's workers open cases; admins and oversight see several facilities'.
    let facility_worker = ctx
        .session
        .as_ref()
        .is_some_and(|s| matches!(s.principal.role, Role::TreatmentFacility { .. }));
    layout(
        ctx,
        t.cases_title,
        html! {
            @if facility_worker {
            section.card {
                h1 { (t.open_case_title) }
                (alert(form.error))
                form #open-case method="post" action="/console/cases" {
                    (csrf(ctx))
                    label for="reference" { (t.reference_label) }
                    input #reference type="text" name="reference" value=(form.reference)
                        maxlength="64" aria-describedby="reference-help";
                    p #reference-help.help { (t.reference_help) }
                    button.primary type="submit" { (t.open_case_button) }
                }
            }
            }
            section.card {
                @if facility_worker { h2 { (t.cases_title) } } @else { h1 { (t.cases_title) } }
                @if sorted.is_empty() {
                    p { (t.no_cases) }
                } @else {
                    div.scroll {
                        table #cases {
                            @if facility_worker {
                                thead { (header_row(&[t.case_col, t.reference_col, t.opened_col, t.status_col, t.f1_count_col])) }
                            } @else {
                                thead { (header_row(&[t.case_col, t.facility_col, t.reference_col, t.opened_col, t.status_col, t.f1_count_col])) }
                            }
                            tbody {
                                @for c in sorted {
                                    tr data-case=(c.case_id) data-status=(status_key(c)) data-facility=(c.facility) {
                                        td { a href={"/console/cases/" (c.case_id)} { "#" (c.case_id) } }
                                        @if !facility_worker { td { (c.facility) } }
                                        td { (c.reference) }
                                        td { (when(ctx, c.opened_at)) }
                                        td { (t.case_status(status_key(c))) }
                                        td.num { (c.f1_rows) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What the code page shows of a case's declaration code.
pub enum CodeShown<'a> {
    /// The code, to its maker's session, within its time ([`CODE_SHOWN_SECONDS`]).
    Code(&'a str),
    /// The case waits for its upload, but its code cannot be shown (any more) here.
    NotShown,
    /// The upload came: the code was used.
    Used,
}

/// The page a new or reissued code is shown on: the code in groups, large and copyable, its
/// QR code beside it, and "reissue code" while the case awaits its upload. `reissued`: it
/// was just reissued.
pub fn code(
    ctx: &Ctx,
    case: &CaseRecord,
    shown: &CodeShown<'_>,
    may_reissue: bool,
    reissued: bool,
) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.declaration_code,
        html! {
            section.card {
                h1 { (t.declaration_code) }
                p.meta { (t.case_title) " " (case.case_id) @if !case.reference.is_empty() { " · " (case.reference) } }
                @match shown {
                    CodeShown::Code(code) => {
                        (notice(reissued.then_some(t.code_reissued_notice)))
                        div.code-show {
                            div.code-text {
                                p.code-box {
                                    output #declaration-code.code aria-label=(t.declaration_code) {
                                        @for (i, group) in code.split('-').enumerate() {
                                            @if i > 0 { "-" wbr; }
                                            span.group { (group) }
                                        }
                                    }
                                    button.copy type="button" data-copy="declaration-code" data-copied=(t.copied) { (t.copy) }
                                }
                                p { (t.code_help) }
                                p.help {
                                    (t.code_shown_for) " " (CODE_SHOWN_SECONDS / 60) " " (t.minutes) " " (t.code_shown_after) " "
                                    (t.code_expires) " " (when(ctx, case.code_expires_at)) "."
                                }
                            }
                            @if let Some(qr) = qr_svg(code, t.qr_label) {
                                figure.qr {
                                    (qr)
                                    figcaption.help { (t.qr_help) }
                                }
                            }
                        }
                    }
                    CodeShown::NotShown => {
                        p #code-not-shown.alert.error role="alert" { (t.code_not_shown) }
                    }
                    CodeShown::Used => {
                        p #code-used.alert.ok role="status" { (t.code_used_notice) }
                    }
                }
                @if may_reissue && !matches!(shown, CodeShown::Used) {
                    (reissue_form(ctx, case.case_id))
                }
                p { a #case-link href={"/console/cases/" (case.case_id)} { (t.case_title) " " (case.case_id) } }
            }
        },
    )
}

/// "Reissue code": a new code for the case, the old one revoked.
fn reissue_form(ctx: &Ctx, case_id: u64) -> Markup {
    let t = ctx.t();
    html! {
        form #reissue method="post" action={"/console/cases/" (case_id) "/reissue-code"} {
            (csrf(ctx))
            h2 { (t.reissue_title) }
            p #reissue-help.help { (t.reissue_help) }
            button type="submit" aria-describedby="reissue-help" { (t.reissue_button) }
        }
    }
}

/// A declaration code's QR code ([`code::qr_code`]) as inline SVG: one path of the dark
/// modules on a light square with the quiet zone, drawn by the server (nothing fetched, no
/// inline style: the Content-Security-Policy holds). `None` if `display` is no displayed
/// code.
fn qr_svg(display: &str, label: &str) -> Option<Markup> {
    let qr = code::qr_code(display)?;
    let width = qr.width();
    let side = width + 2 * code::QR_QUIET_ZONE;
    let mut path = String::new();
    for (i, color) in qr.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (
                i % width + code::QR_QUIET_ZONE,
                i / width + code::QR_QUIET_ZONE,
            );
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    let view_box = format!("0 0 {side} {side}");
    Some(html! {
        svg #declaration-qr xmlns="http://www.w3.org/2000/svg" viewBox=(view_box)
            role="img" aria-label=(label) shape-rendering="crispEdges" {
            rect width=(side) height=(side) fill="#ffffff" {}
            path d=(path) fill="#000000" {}
        }
    })
}

/// An F1 ID as tables show it: its first 8 hex digits (enough to tell rows apart by eye), the
/// whole ID in the tooltip, and a button that copies the whole ID.
fn f1_id(ctx: &Ctx, report_id: &[u8; 16]) -> Markup {
    let t = ctx.t();
    let full = hex::encode(report_id);
    let short = &full[..8];
    html! {
        span.f1-id {
            code.id title=(full) { (short) "…" }
            " "
            button.copy.small type="button" data-copy-text=(full) data-copied=(t.copied)
                aria-label={ (t.copy_f1_id) " " (short) } { (t.copy) }
        }
    }
}

fn unit_of(units: &[Unit], district: u32) -> Option<&Unit> {
    units.iter().find(|u| u.districts.contains(&district))
}

/// What a case's page shows: the case, its F1 rows, and the settings that name things.
#[allow(missing_docs)]
pub struct CaseView<'a> {
    pub case: &'a CaseRecord,
    pub rows: &'a [F1RowRecord],
    pub units: &'a [Unit],
    pub regions: &'a RegionConfig,
    /// Its attenuation buckets are the closeness classes.
    pub risk: &'a RiskRule,
    /// When the next scheduled publication run is due; `None`: on demand only.
    pub next_publication: Option<u64>,
}

/// One case: its status, "Truy vết F1", and the step-6 F1 analysis table.
pub fn case(ctx: &Ctx, view: &CaseView<'_>, traced: bool, error: Option<&str>) -> String {
    let t = ctx.t();
    let CaseView {
        case,
        rows,
        units,
        regions,
        risk,
        next_publication,
    } = *view;
    // Where publication stands, once "Trace F1" was pressed: waiting (for the next scheduled
    // run, or for an admin), then published to its regions.
    let publication_state = match &case.status {
        CaseStatus::TraceRequested { .. } => Some(match next_publication {
            Some(at) => format!("{} {}.", t.waiting_next_run, when(ctx, at)),
            None => t.waiting_on_demand.to_owned(),
        }),
        CaseStatus::Published { at, batches } => Some(format!(
            "{} {} {} {}.",
            t.published_to,
            batches.len(),
            t.published_regions_at,
            when(ctx, *at)
        )),
        _ => None,
    };
    let ready = matches!(case.status, CaseStatus::UploadReceived { .. });
    // Oversight and admins read the case; only its facility's workers trace it.
    let may_trace = ctx
        .session
        .as_ref()
        .is_some_and(|s| matches!(s.principal.role, Role::TreatmentFacility { .. }));
    let default_regions = regions.trace_default(case.province);
    let region_name = |code: u16| {
        if code == WHOLE_COUNTRY {
            t.whole_country.to_owned()
        } else {
            regions
                .name(code)
                .map_or_else(|| code.to_string(), str::to_owned)
        }
    };
    let chosen: Vec<u16> = match &case.status {
        CaseStatus::TraceRequested { regions, .. } => regions.clone(),
        CaseStatus::Published { batches, .. } => batches.iter().map(|b| b.region).collect(),
        _ => Vec::new(),
    };
    let options: Vec<(u16, String)> = std::iter::once(WHOLE_COUNTRY)
        .chain(regions.regions.iter().map(|r| r.code))
        .map(|code| (code, region_name(code)))
        .collect();
    let title = format!("{} {}", t.case_title, case.case_id);
    layout(
        ctx,
        &title,
        html! {
            p { a href="/console/cases" { "← " (t.back_to_cases) } }
            section.card {
                h1 { (title) }
                (alert(error))
                (notice(traced.then_some(t.trace_done)))
                dl.facts {
                    @if !case.facility.is_empty() {
                        dt { (t.facility_col) } dd #case-facility { (case.facility) }
                    }
                    dt { (t.reference_col) } dd { (case.reference) }
                    dt { (t.opened_col) } dd { (when(ctx, case.opened_at)) }
                    dt { (t.status_col) } dd #case-status data-status=(status_key(case)) { (t.case_status(status_key(case))) }
                    @if !chosen.is_empty() {
                        dt { (t.regions_label) }
                        dd #case-regions data-regions=(chosen.iter().map(u16::to_string).collect::<Vec<_>>().join(",")) {
                            (chosen.iter().map(|&c| region_name(c)).collect::<Vec<_>>().join(", "))
                        }
                    }
                }
                @if let Some(state) = &publication_state {
                    p #publication-state role="status" {
                        (state) " "
                        a href={"/console/cases/" (case.case_id)} { (t.refresh) }
                    }
                }
                @if may_trace {
                form #trace method="post" action={"/console/cases/" (case.case_id) "/trace"} {
                    (csrf(ctx))
                    @if ready {
                        label for="regions" { (t.regions_label) }
                        select #regions name="region" multiple size="8" required aria-describedby="regions-help" {
                            @for (code, name) in &options {
                                option value=(code) selected[default_regions.contains(code)] { (name) }
                            }
                        }
                        p #regions-help.help { (t.regions_help) }
                    }
                    button #trace-button.primary type="submit" disabled[!ready] aria-describedby="trace-help" {
                        (t.trace_button)
                    }
                    p #trace-help.help {
                        @match case.status {
                            CaseStatus::AwaitingUpload => { (t.trace_not_ready) }
                            CaseStatus::UploadReceived { .. } => { (t.trace_help) }
                            _ => { (t.trace_already) }
                        }
                    }
                }
                }
                @if may_trace && case.status == CaseStatus::AwaitingUpload {
                    (reissue_form(ctx, case.case_id))
                }
            }
            section.card {
                h2 { (t.f1_table_title) }
                @if rows.is_empty() {
                    p #no-f1 { (t.no_f1) }
                } @else {
                    (f1_table(ctx, rows, units, risk))
                }
            }
        },
    )
}

/// The F1 analysis table: who can see the numbers said once, then both-way rows and one-sided
/// rows, then the legend of the confirmation and closeness words.
fn f1_table(ctx: &Ctx, rows: &[F1RowRecord], units: &[Unit], risk: &RiskRule) -> Markup {
    let t = ctx.t();
    let unit_name = |r: &F1RowRecord| unit_of(units, r.district).map(|u| u.name.as_str());
    let mut seen_by: Vec<Option<&str>> = rows.iter().map(unit_name).collect();
    seen_by.sort_unstable();
    seen_by.dedup();
    // One unit for every row: said once; otherwise a column says each row's.
    let one_unit = match seen_by.as_slice() {
        [Some(name)] => Some(*name),
        _ => None,
    };
    let mut columns = vec![t.no_col, t.f1_id_col];
    if one_unit.is_none() {
        columns.push(t.unit_col);
    }
    columns.extend([
        t.first_contact_col,
        t.last_contact_col,
        t.duration_col,
        t.closeness_col,
        t.confirmation_col,
    ]);
    html! {
        p #phones-seen-by {
            @match one_unit {
                Some(name) => { (t.phones_seen_by_unit) " " strong { (name) } }
                None => { (t.phones_seen_by_units) }
            }
        }
        div.scroll {
            table #f1-table.cards {
                thead { (header_row(&columns)) }
                @for (section, one_sided) in [(t.both_ways_section, false), (t.one_sided_section, true)] {
                    @let part: Vec<&F1RowRecord> = rows.iter().filter(|r| (r.confirmation == ConfirmationRecord::OneSided) == one_sided).collect();
                    @if !part.is_empty() {
                        tbody.f1-section data-one-sided=(one_sided) {
                            tr.section { th colspan=(columns.len()) scope="colgroup" { (section) " (" (part.len()) ")" } }
                            @for r in part {
                                @let closeness = risk.bucket(r.min_attenuation_db);
                                tr data-f1-id=(hex::encode(r.report_id)) {
                                    td.num data-label=(t.no_col) { (r.row_no) }
                                    td data-label=(t.f1_id_col) { (f1_id(ctx, &r.report_id)) }
                                    @if one_unit.is_none() {
                                        td.unit data-label=(t.unit_col) {
                                            @match unit_name(r) {
                                                Some(name) => { (name) }
                                                None => { (t.no_unit_for_district) " (" (r.district) ")" }
                                            }
                                        }
                                    }
                                    td data-label=(t.first_contact_col) { (when(ctx, r.first_contact)) }
                                    td data-label=(t.last_contact_col) { (when(ctx, r.last_contact)) }
                                    td.num data-label=(t.duration_col) { (r.duration_seconds.div_ceil(60)) " " (t.minutes) }
                                    td data-label=(t.closeness_col) data-closeness=(closeness) { (t.closeness[closeness]) }
                                    td data-label=(t.confirmation_col) data-confirmation=(r.confirmation.as_str()) { (t.confirmation(r.confirmation)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { (t.legend_title) }
        dl #f1-legend.legend {
            dt { (t.confirmed_both_ways) } dd { (t.legend_both_ways) }
            dt { (t.one_sided) } dd { (t.legend_one_sided) }
            dt { (t.closeness_col) } dd { (t.legend_closeness) }
        }
    }
}

/// The unit's F1 inbox. Phone numbers arrive sealed; the page's script opens them with the key
/// file the worker chooses.
pub fn unit_inbox(ctx: &Ctx, unit: &Unit, rows: &[F1RowRecord]) -> String {
    let t = ctx.t();
    // By case, then by the case's row number (STT).
    let mut rows: Vec<&F1RowRecord> = rows.iter().collect();
    rows.sort_by_key(|r| (r.case_id, r.row_no));
    let columns = [
        t.case_col,
        t.no_col,
        t.f1_id_col,
        t.phone_col,
        t.district_col,
        t.first_contact_col,
        t.duration_col,
        t.confirmation_col,
        t.follow_up_col,
    ];
    let title = format!("{} — {}", t.inbox_title, unit.name);
    let districts: Vec<String> = unit.districts.iter().map(u32::to_string).collect();
    layout(
        ctx,
        &title,
        html! {
            section #inbox.card
                data-unit-public-key=(hex::encode(unit.public_key.as_bytes()))
                data-msg-opened=(t.key_opened)
                data-msg-wrong-unit=(t.key_wrong_unit)
                data-msg-bad-format=(t.key_bad_format)
                data-msg-old-browser=(t.key_old_browser)
                data-msg-open-failed=(t.open_failed)
                data-msg-save-failed=(t.save_failed)
                data-unit=(unit.name)
                data-csv-header=(opened_header(ctx.csv_format()))
            {
                h1 { (title) }
                p.meta { (t.district_col) ": " (districts.join(", ")) }
                p { (t.inbox_help) }
                div.key-loader {
                    label for="unit-key" { (t.key_label) }
                    input #unit-key type="file" accept=".key,.txt,text/plain" aria-describedby="unit-key-help";
                    p #unit-key-help.help { (t.key_help) }
                    p #key-status role="status" aria-live="polite" {}
                }
                p.actions {
                    a.button href="/console/unit/f1.csv" download { (t.export_sealed_csv) }
                    " "
                    button #export-opened type="button" hidden { (t.export_opened_csv) }
                }
            }
            section.card {
                @if rows.is_empty() {
                    p { (t.no_rows) }
                } @else {
                    div.scroll {
                        table #unit-rows.cards {
                            thead { (header_row(&columns)) }
                            tbody {
                                @for r in rows {
                                    @let id = hex::encode(r.report_id);
                                    @let row = format!("{}-{}", r.case_id, r.row_no);
                                    tr id={"row-" (row)}
                                        data-f1-id=(id) data-district=(r.district)
                                        data-follow-up=(r.follow_up.status.as_str())
                                        data-csv=(row_fields(&export_row(r, ctx.csv_format())))
                                    {
                                        td data-label=(columns[0]) { "#" (r.case_id) }
                                        td.num data-label=(columns[1]) { (r.row_no) }
                                        td data-label=(columns[2]) { (f1_id(ctx, &r.report_id)) }
                                        td.phone data-label=(columns[3]) data-sealed=(hex::encode(&r.sealed_contact)) {
                                            span.sealed { (t.sealed_placeholder) }
                                        }
                                        td.num data-label=(columns[4]) { (r.district) }
                                        td data-label=(columns[5]) { (when(ctx, r.first_contact)) }
                                        td.num data-label=(columns[6]) { (r.duration_seconds.div_ceil(60)) " " (t.minutes) }
                                        td data-label=(columns[7]) { (t.confirmation(r.confirmation)) }
                                        td data-label=(columns[8]) {
                                            form.follow-up method="post"
                                                action={"/console/unit/f1/" (r.case_id) "/" (r.row_no) "/follow-up"} {
                                                (csrf(ctx))
                                                label.visually-hidden for={"status-" (row)} { (t.follow_up_col) " #" (r.case_id) " · " (r.row_no) }
                                                select id={"status-" (row)} name="status" {
                                                    @for s in FollowUpStatus::ALL {
                                                        option value=(s.as_str()) selected[s == r.follow_up.status] { (t.follow_up(s)) }
                                                    }
                                                }
                                                button.save type="submit" { (t.save) }
                                                span.save-state role="status" {}
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn role_text(ctx: &Ctx, role: &Role, regions: &RegionConfig) -> String {
    let t = ctx.t();
    match role {
        Role::Admin => t.role_admin.to_owned(),
        Role::TreatmentFacility { facility } if facility.is_empty() => t.role_facility.to_owned(),
        Role::TreatmentFacility { facility } => format!("{} ({facility})", t.role_facility),
        Role::PreventiveUnit { unit } => format!("{} ({unit})", t.role_unit),
        Role::Oversight { province } => format!(
            "{} ({})",
            t.role_oversight,
            regions.name(*province).unwrap_or("?")
        ),
    }
}

/// The admin page: accounts, the new-account form, the units, "publish now".
pub fn admin(
    ctx: &Ctx,
    accounts: &[Account],
    units: &[Unit],
    facilities: &[Facility],
    regions: &RegionConfig,
    forms: &AdminForms,
    done: Option<&str>,
) -> String {
    let t = ctx.t();
    let form = &forms.account;
    let done_text = match done {
        Some("account") => Some(t.account_created.to_owned()),
        Some("disabled") => Some(t.account_disabled.to_owned()),
        Some("enabled") => Some(t.account_enabled.to_owned()),
        Some("unit") => Some(t.unit_registered.to_owned()),
        Some("nothing") => Some(t.published_nothing.to_owned()),
        // "batch-7-8-9": the batches of one run, one per region.
        Some(d) => d
            .strip_prefix("batch-")
            .map(|ids| {
                ids.split('-')
                    .map(str::parse::<u64>)
                    .collect::<Result<Vec<_>, _>>()
            })
            .and_then(Result::ok)
            .filter(|ids| !ids.is_empty())
            .map(|ids| {
                let ids: Vec<String> = ids.iter().map(|n| format!("#{n}")).collect();
                format!("{} {}", t.published_batch, ids.join(", "))
            }),
        None => None,
    };
    let role = if form.role.is_empty() {
        Role::TREATMENT_FACILITY
    } else {
        form.role.as_str()
    };
    layout(
        ctx,
        t.admin_title,
        html! {
            h1 { (t.admin_title) }
            (notice(done_text.as_deref()))
            @if let Some((user, password)) = &forms.password_reset {
                p.notice #password-reset role="status" {
                    (t.password_reset_notice) " " strong { (user) } ": "
                    code #new-account-password { (password) }
                }
            }
            section.card {
                h2 { (t.new_account_title) }
                (alert(forms.account_error))
                form #new-account method="post" action="/console/admin/accounts" {
                    (csrf(ctx))
                    label for="new-username" { (t.username) }
                    input #new-username type="text" name="username" value=(form.username)
                        autocomplete="off" autocapitalize="none" spellcheck="false"
                        pattern="[a-z0-9._\\-]{1,64}" aria-describedby="new-username-help" required;
                    p #new-username-help.help { (t.username_help) }
                    label for="new-password" { (t.password) }
                    input #new-password type="password" name="password" autocomplete="new-password"
                        minlength="12" aria-describedby="new-password-help" required;
                    p #new-password-help.help { (t.new_password_help) }
                    label for="new-role" { (t.role_col) }
                    select #new-role name="role" {
                        option value=(Role::TREATMENT_FACILITY) selected[role == Role::TREATMENT_FACILITY] { (t.role_facility) }
                        option value=(Role::PREVENTIVE_UNIT) selected[role == Role::PREVENTIVE_UNIT] { (t.role_unit) }
                        option value=(Role::OVERSIGHT) selected[role == Role::OVERSIGHT] { (t.role_oversight) }
                        option value=(Role::ADMIN) selected[role == Role::ADMIN] { (t.role_admin) }
                    }
                    label for="new-facility" { (t.facility_label) }
                    select #new-facility name="facility" {
                        option value="" selected[form.facility.is_empty()] { (t.unit_none) }
                        @for f in facilities {
                            option value=(f.name) selected[form.facility == f.name] {
                                (f.name) " (" (regions.name(f.province).unwrap_or("?")) ")"
                            }
                        }
                    }
                    label for="new-province" { (t.province_label) }
                    select #new-province name="province" {
                        option value="" selected[form.province.is_empty()] { (t.unit_none) }
                        @for r in &regions.regions {
                            option value=(r.code) selected[form.province == r.code.to_string()] { (r.name) }
                        }
                    }
                    label for="new-unit" { (t.unit_label) }
                    select #new-unit name="unit" {
                        option value="" selected[form.unit.is_empty()] { (t.unit_none) }
                        @for u in units {
                            option value=(u.name) selected[form.unit == u.name] { (u.name) }
                        }
                    }
                    button.primary type="submit" { (t.create_account_button) }
                }
            }
            section.card {
                h2 { (t.accounts_title) }
                div.scroll {
                    table #accounts {
                        thead { (header_row(&[t.username, t.role_col, t.created_col, t.actions_col])) }
                        tbody {
                            @for a in accounts {
                                @let base = format!("/console/admin/accounts/{}", a.username);
                                tr data-username=(a.username) data-disabled=(a.disabled) {
                                    td { (a.username) @if a.disabled { " (" (t.disabled) ")" } }
                                    td { (role_text(ctx, &a.role, regions)) }
                                    td { (when(ctx, a.created_at)) }
                                    td.actions {
                                        form.inline method="post" action={(base) @if a.disabled { "/enable" } @else { "/disable" }} {
                                            (csrf(ctx))
                                            button.disable type="submit" {
                                                @if a.disabled { (t.enable_button) } @else { (t.disable_button) }
                                            }
                                        }
                                        form.inline method="post" action={(base) "/reset-password"} {
                                            (csrf(ctx))
                                            button.reset type="submit" { (t.reset_button) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { (t.units_title) }
                div.scroll {
                    table #units {
                        thead { (header_row(&[t.unit_name, t.district_col, t.public_key_col])) }
                        tbody {
                            @for u in units {
                                @let ds: Vec<String> = u.districts.iter().map(u32::to_string).collect();
                                tr {
                                    td { (u.name) }
                                    td { (ds.join(", ")) }
                                    td { code.id { (hex::encode(u.public_key.as_bytes())) } }
                                }
                            }
                        }
                    }
                }
                h3 { (t.new_unit_title) }
                (alert(forms.unit_error))
                form #new-unit method="post" action="/console/admin/units" {
                    (csrf(ctx))
                    label for="unit-name" { (t.unit_name) }
                    input #unit-name type="text" name="name" value=(forms.unit.name)
                        autocomplete="off" autocapitalize="none" spellcheck="false"
                        pattern="[a-z0-9\\-]{1,64}" aria-describedby="unit-name-help" required;
                    p #unit-name-help.help { (t.unit_name_help) }
                    label for="unit-districts" { (t.district_col) }
                    input #unit-districts type="text" name="districts" value=(forms.unit.districts)
                        autocomplete="off" inputmode="numeric" aria-describedby="unit-districts-help"
                        required;
                    p #unit-districts-help.help { (t.unit_districts_help) }
                    label for="unit-key" { (t.public_key_col) }
                    input #unit-key type="text" name="public_key" value=(forms.unit.public_key)
                        autocomplete="off" spellcheck="false" pattern="[0-9a-fA-F]{64}"
                        aria-describedby="unit-key-help" required;
                    p #unit-key-help.help { (t.unit_key_help) }
                    button.primary type="submit" { (t.register_unit_button) }
                }
            }
            section.card {
                h2 { (t.publish_title) }
                p { (t.publish_help) }
                form #publish method="post" action="/console/admin/publish" {
                    (csrf(ctx))
                    button type="submit" { (t.publish_button) }
                }
            }
        },
    )
}

/// The audit filter as the console's form holds it: dates as typed (`YYYY-MM-DD`, in the
/// console's time zone).
#[derive(Debug, Default)]
pub struct AuditForm {
    pub account: String,
    pub action: String,
    pub from: String,
    pub to: String,
}

/// The admin's audit log page: the filter form, the entries newest first, and a link to the
/// older ones.
pub fn audit(
    ctx: &Ctx,
    form: &AuditForm,
    entries: &[AuditEntry],
    older: Option<String>,
    error: Option<&str>,
) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.audit_title,
        html! {
            h1 { (t.audit_title) }
            p.help { (t.audit_help) }
            section.card {
                (alert(error))
                form #audit-filter method="get" action="/console/admin/audit" {
                    label for="audit-account" { (t.audit_account) }
                    input #audit-account type="text" name="account" value=(form.account)
                        autocomplete="off" autocapitalize="none" spellcheck="false";
                    label for="audit-action" { (t.audit_action) }
                    select #audit-action name="action" {
                        option value="" selected[form.action.is_empty()] { (t.audit_any_action) }
                        @for a in AuditEntry::ACTIONS {
                            option value=(a) selected[form.action == a] { (a) }
                        }
                    }
                    label for="audit-from" { (t.audit_from) }
                    input #audit-from type="date" name="from" value=(form.from);
                    label for="audit-to" { (t.audit_to) }
                    input #audit-to type="date" name="to" value=(form.to);
                    button.primary type="submit" { (t.audit_filter_button) }
                }
            }
            section.card {
                @if entries.is_empty() {
                    p #no-audit { (t.audit_none) }
                } @else {
                    div.scroll {
                        table #audit {
                            thead { (header_row(&[t.no_col, t.audit_time_col, t.audit_account, t.audit_client_col, t.audit_action, t.audit_object_col])) }
                            tbody {
                                @for e in entries {
                                    tr data-seq=(e.seq) data-action=(e.action) {
                                        td.num { (e.seq) }
                                        td { (when(ctx, e.at)) }
                                        td { (e.account) }
                                        td { (e.client.as_deref().unwrap_or("-")) }
                                        td { (e.action) }
                                        td { (e.object) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(href) = older {
                        p { a #audit-older href=(href) { (t.audit_older) " →" } }
                    }
                }
            }
        },
    )
}

/// The change-password page.
pub fn password(ctx: &Ctx, error: Option<&str>, changed: bool) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.password_title,
        html! {
            section.card.narrow {
                h1 { (t.password_title) }
                (alert(error))
                (notice(changed.then_some(t.password_changed)))
                form method="post" action="/console/password" {
                    (csrf(ctx))
                    label for="current" { (t.current_password) }
                    input #current type="password" name="current" autocomplete="current-password" required;
                    label for="new" { (t.new_password) }
                    input #new type="password" name="new" autocomplete="new-password" minlength="12"
                        aria-describedby="new-help" required;
                    p #new-help.help { (t.new_password_help) }
                    button.primary type="submit" { (t.change_password_button) }
                }
            }
        },
    )
}

/// An error page.
pub fn error(ctx: &Ctx, message: &str) -> String {
    let t = ctx.t();
    layout(
        ctx,
        t.error_title,
        html! {
            section.card.narrow {
                h1 { (t.error_title) }
                p.alert.error role="alert" { (message) }
                p { a href="/console/" { (t.back_home) } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store::FollowUp;
    use crate::web::console::Lang;

    fn ctx() -> Ctx {
        Ctx {
            lang: Lang::Vi,
            secure: false,
            session: None,
            offset_minutes: 420,
            cookies: Vec::new(),
            path: "/console/unit".into(),
        }
    }

    fn row(case_id: u64, row_no: u32) -> F1RowRecord {
        F1RowRecord {
            case_id,
            row_no,
            report_id: [u8::try_from(case_id * 16 + u64::from(row_no)).unwrap(); 16],
            district: 1,
            received_at: 0,
            first_contact: 0,
            last_contact: 600,
            duration_seconds: 600,
            min_attenuation_db: 60,
            weighted_minutes: 8,
            confirmation: ConfirmationRecord::ConfirmedBothWays,
            sealed_contact: vec![0; 176],
            follow_up: FollowUp {
                status: FollowUpStatus::New,
                updated_at: 0,
                updated_by: String::new(),
            },
        }
    }

    #[test]
    fn unit_rows_come_by_case_then_row_number() {
        let unit = Unit {
            name: "north".into(),
            districts: vec![1],
            public_key: bluezone_protocol::hpke::HpkePublicKey::from_bytes(&[9; 32]).unwrap(),
        };
        // As the store lists them: by district, then in whatever order they arrived.
        let rows = [row(2, 1), row(1, 3), row(1, 1), row(1, 2)];
        let page = unit_inbox(&ctx(), &unit, &rows);
        let order: Vec<&str> = page
            .split("<tr id=\"row-")
            .skip(1)
            .map(|tail| &tail[..3])
            .collect();
        assert_eq!(order, ["1-1", "1-2", "1-3", "2-1"]);
    }
}
