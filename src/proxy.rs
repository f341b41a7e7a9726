//! The request lifecycle as named phases:
//!
//! `request_filter` (authenticate, canonical path, route, ticket, detokenize)
//! → `upstream_peer` (forward under header hygiene) → `response_filter`
//! (fail closed, transform) → `ledger` (durable before disclose) → respond,
//! with `logging` run for every request, failed or not.

pub mod peer;
pub mod request;
pub mod request_body;
pub mod response;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

pub use peer::Peer;

use crate::authenticate::Agent;
use crate::gateway::{Gateway, Runtime};
use crate::ledger::{Entry, EntryKind};
use crate::policy::{Route, SearchText, Unmatched};
use crate::rescue::{self, ProxyError};
use crate::route::{CanonicalPath, Params};
use crate::telemetry::RequestLog;
use crate::ticket::{DenyReason, TicketContext};
use crate::token::Holder;
use crate::transform::Judge;
use crate::upstream::{Fetched, Forwarding};

/// Serves one agent request; never fails (errors become responses).
pub async fn handle(gw: &Gateway, req: Request<Incoming>, peer: &Peer) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let rt = gw.runtime();
    let mut log = RequestLog::new(gw.next_request_id(), req.method().as_str());
    let head = req.method() == http::Method::HEAD;
    let mut resp = match run(gw, &rt, req, peer, &mut log).await {
        Ok(resp) => resp,
        Err(err) => {
            log.error = Some(err.status_and_code().1);
            if let ProxyError::TokenRefused(refused) = &err {
                log.denial = Some(refused.code().to_string());
                record_denial(gw, &log, peer, refused.code(), Vec::new()).await;
            }
            rescue::respond(&err, &log.request_id)
        }
    };
    gw.metrics.logging(&log, resp.status(), started.elapsed());
    if head {
        // HTTP/1.1 leaves a HEAD response's body out by itself; HTTP/2 would
        // send it, and a client reads DATA on a HEAD stream as an error.
        *resp.body_mut() = Full::default();
    }
    resp
}

/// What the request filter established.
struct Admitted {
    agent: Arc<Agent>,
    path: CanonicalPath,
    query: Option<String>,
    ticket_id: Option<String>,
}

async fn run(
    gw: &Gateway,
    rt: &Runtime,
    req: Request<Incoming>,
    peer: &Peer,
    log: &mut RequestLog,
) -> Result<Response<Full<Bytes>>, ProxyError> {
    let (parts, body) = req.into_parts();
    let admitted = request_filter(gw, rt, &parts, peer, log)?;
    let agent = admitted.agent.clone();
    let holder = Holder {
        agent: &agent.id,
        vendor: &agent.vendor,
    };
    let Some((route, params, search)) = judging_route(rt, &parts, &admitted.path, log)? else {
        return unmatched(gw, rt, &parts, body, &admitted, peer, log).await;
    };
    let body = request_body::read_body(&parts, body, &rt.config.limits).await?;
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body = request::detokenize_body(
        &rt.vault,
        &holder,
        content_type,
        body,
        rt.config.limits.max_json_depth,
    )?;
    // upstream_peer
    let fetched = upstream_peer(gw, rt, &parts, &admitted, peer, log, body).await?;
    // The body's share of the response budget, held until the response is built.
    let Fetched {
        parts: resp_parts,
        body: resp_body,
        held: _held,
    } = fetched;
    // A reload while the request was out: the answer is judged by the policy
    // in force now, as the ticket is below, not by the one it came in under.
    let latest = gw.runtime();
    let (rt, route, params, search) = if std::ptr::eq(rt, &*latest) {
        (rt, route, params, search)
    } else {
        let judging = judging_route(&latest, &parts, &admitted.path, log)?;
        let (route, params, search) = judging.ok_or(ProxyError::RouteNotFound)?;
        (&*latest, route, params, search)
    };
    // The ticket is judged once the answer is here, not when the request
    // came in: a request held open (a slow body, a slow upstream) must not
    // carry a ticket past its close or expiry into a disclosure.
    let now = chrono::Utc::now();
    let ticket = TicketContext::resolve(
        &gw.tickets,
        admitted.ticket_id.as_deref(),
        &agent.id,
        now,
        rt.config.tickets.allow_pending,
    )
    .await;
    if ticket.names_a_known_ticket() {
        log.ticket = ticket.ticket_id().map(str::to_owned);
    }
    // response_filter
    let fingerprint = |v: &str| gw.ledger.fingerprint_of(v);
    let judge = Judge {
        ticket: &ticket,
        holder,
        vault: &rt.vault,
        fingerprint: &fingerprint,
        budgets: Some(&gw.budgets),
        now,
        params: &params,
        search: &search,
    };
    let (bytes, outcome) = response::filter(
        route,
        &resp_parts,
        resp_body,
        &judge,
        rt.config.limits.max_json_depth,
    )?;
    log.counts = outcome.counts;
    for d in &outcome.disclosures {
        *log.disclosed_classes.entry(d.class.clone()).or_default() += 1;
    }
    // ledger
    let verdict = ledger_phase(gw, &ticket, outcome, peer, log).await?;
    Ok(response::build(
        resp_parts.status,
        bytes,
        &log.request_id,
        &verdict,
    ))
}

fn request_filter(
    gw: &Gateway,
    rt: &Runtime,
    parts: &http::request::Parts,
    peer: &Peer,
    log: &mut RequestLog,
) -> Result<Admitted, ProxyError> {
    let agent = rt.auth.authenticate(&parts.headers)?;
    log.agent = Some(agent.id.clone());
    log.vendor = Some(agent.vendor.clone());
    let listen = &rt.config.listen;
    let must_match = listen.client_ca.is_some() && listen.require_vendor_match;
    if must_match && peer.client_identity.as_deref() != Some(agent.vendor.as_str()) {
        return Err(ProxyError::VendorMismatch);
    }
    request::check_authority(parts)?;
    let holder = Holder {
        agent: &agent.id,
        vendor: &agent.vendor,
    };
    let ticket_id = request::ticket_id(parts)?;
    // Named by a fingerprint until the source confirms such a ticket exists.
    log.ticket = ticket_id.as_deref().map(|id| unconfirmed_ticket(gw, id));
    let path = CanonicalPath::parse(parts.uri.path())?;
    let detokenized = request::detokenize_path(&rt.vault, &holder, path).and_then(|path| {
        let query = request::detokenize_query(&rt.vault, &holder, parts.uri.query())?;
        Ok((path, query))
    });
    let (path, query) = detokenized.inspect_err(|_| {
        // A refused token is ledgered: say on which route it was tried.
        log.route = CanonicalPath::parse(parts.uri.path())
            .ok()
            .and_then(|raw| rt.policies.routes.find(&parts.method, &raw))
            .map(|(route, _)| route.template.as_str().to_string());
    })?;
    Ok(Admitted {
        agent,
        path,
        query,
        ticket_id,
    })
}

/// A route that judges a request: the route, its path parameters, and the
/// search texts it admitted.
type Judging<'r> = (&'r Route, Params, Vec<SearchText<'r>>);

/// The route `rt`'s policies judge this request by; `None` when no policy names it.
fn judging_route<'r>(
    rt: &'r Runtime,
    parts: &'r http::request::Parts,
    path: &CanonicalPath,
    log: &mut RequestLog,
) -> Result<Option<Judging<'r>>, ProxyError> {
    let Some((route, params)) = rt.policies.routes.find(&parts.method, path) else {
        return Ok(None);
    };
    log.route = Some(route.template.as_str().to_string());
    // Looked up as the agent sent it: a token stays the token it was shown.
    let sent = match route.lookups.is_empty() {
        true => Params::new(),
        false => CanonicalPath::parse(parts.uri.path())
            .ok()
            .and_then(|raw| route.template.matches(&raw))
            .unwrap_or_default(),
    };
    let search = route.search_texts(parts.uri.query(), &sent)?;
    Ok(Some((route, params, search)))
}

async fn upstream_peer(
    gw: &Gateway,
    rt: &Runtime,
    parts: &http::request::Parts,
    admitted: &Admitted,
    peer: &Peer,
    log: &RequestLog,
    body: Bytes,
) -> Result<Fetched, ProxyError> {
    let mut target = admitted.path.encoded();
    if let Some(q) = &admitted.query {
        target.push('?');
        target.push_str(q);
    }
    let facts = Forwarding {
        request_id: &log.request_id,
        client_ip: &peer.ip,
        agent: &admitted.agent.id,
        vendor: &admitted.agent.vendor,
    };
    let req = rt
        .upstream
        .request(parts.method.clone(), &target, &parts.headers, &facts, body)?;
    Ok(rt
        .upstream
        .send(req, rt.config.limits.max_response_bytes, &gw.responses)
        .await?)
}

async fn unmatched(
    gw: &Gateway,
    rt: &Runtime,
    parts: &http::request::Parts,
    body: Incoming,
    admitted: &Admitted,
    peer: &Peer,
    log: &mut RequestLog,
) -> Result<Response<Full<Bytes>>, ProxyError> {
    if rt.policies.unmatched == Unmatched::Deny {
        return Err(if rt.policies.routes.path_known(&admitted.path) {
            ProxyError::MethodNotAllowed
        } else {
            ProxyError::RouteNotFound
        });
    }
    // Nothing judges what comes back from a route no policy names, so a
    // token swapped for its value on the way up could come straight back in
    // clear (an upstream that echoes the path it was asked for).
    let raw_path = CanonicalPath::parse(parts.uri.path())?;
    if admitted.path != raw_path || admitted.query.as_deref() != parts.uri.query() {
        return Err(ProxyError::TokenOnUnjudgedRoute);
    }
    let body = request_body::read_body(parts, body, &rt.config.limits).await?;
    let fetched = upstream_peer(gw, rt, parts, admitted, peer, log, body).await?;
    response::passthrough(fetched.parts, fetched.body, &log.request_id)
}

/// Makes the disclosure durable before the response may leave, and records denials.
async fn ledger_phase(
    gw: &Gateway,
    ticket: &TicketContext,
    outcome: crate::transform::Outcome,
    peer: &Peer,
    log: &mut RequestLog,
) -> Result<response::Verdict, ProxyError> {
    let mut verdict = response::Verdict {
        ticket: outcome.ticket_header(ticket),
        disclosure: None,
        budget_exceeded: outcome.budget_exceeded(),
    };
    // A denial the response reports is a denial the ledger records, naming
    // the customers whose records the ticket did not open.
    if let Some(reason) = ticket
        .request_denial()
        .or_else(|| outcome.record_denial(ticket))
    {
        let code = format!("ticket-{}", reason.as_str());
        log.denial = Some(code.clone());
        let customers = outcome.customers_denied(reason);
        record_denial(gw, log, peer, &code, customers).await;
    }
    if verdict.budget_exceeded {
        log.denial = Some("budget-exceeded".into());
        let customers = outcome.customers_denied(DenyReason::BudgetExceeded);
        record_denial(gw, log, peer, "budget-exceeded", customers).await;
    }
    if outcome.disclosures.is_empty() {
        return Ok(verdict);
    }
    let entry = Entry {
        customers: outcome.customers,
        fields: outcome.disclosures,
        ..entry_for(log, peer, EntryKind::Disclosure, None)
    };
    let seq = gw.ledger.append(entry).await.map_err(|e| {
        tracing::error!(error = %e, request_id = %log.request_id, "ledger append failed; withholding disclosure");
        ProxyError::LedgerUnavailable
    })?;
    log.disclosure = Some(seq);
    verdict.disclosure = Some(seq);
    Ok(verdict)
}

/// How logs and the ledger name a ticket id no source has confirmed: an agent
/// may type anything into `X-Ticket-Id`, a customer's service tag included,
/// and neither may hold it in clear. The keyed fingerprint still lets an
/// auditor who suspects a value check it.
fn unconfirmed_ticket(gw: &Gateway, id: &str) -> String {
    let fingerprint = gw.ledger.fingerprint_of(id).to_string();
    format!("unconfirmed-{}", &fingerprint[..16])
}

/// A ledger entry for this request, with no customers or fields yet.
fn entry_for(log: &RequestLog, peer: &Peer, kind: EntryKind, reason: Option<&str>) -> Entry {
    Entry {
        kind,
        reason: reason.map(str::to_string),
        time: chrono::Utc::now(),
        agent: log.agent.clone().unwrap_or_default(),
        vendor: log.vendor.clone().unwrap_or_default(),
        ticket: log.ticket.clone(),
        customers: Vec::new(),
        method: log.method.clone(),
        route: log.route.clone().unwrap_or_default(),
        request_id: log.request_id.clone(),
        client: peer.addr_text.clone(),
        fields: Vec::new(),
    }
}

/// Records a denial for the security team; a ledger failure here is logged, not fatal (nothing was disclosed).
async fn record_denial(
    gw: &Gateway,
    log: &RequestLog,
    peer: &Peer,
    reason: &str,
    customers: Vec<String>,
) {
    let entry = Entry {
        customers,
        ..entry_for(log, peer, EntryKind::Denial, Some(reason))
    };
    if let Err(e) = gw.ledger.append(entry).await {
        tracing::error!(error = %e, request_id = %log.request_id, "ledger could not record a denial");
    }
}
