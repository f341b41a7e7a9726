//! The sample API's routes: parsing the path, search, device lookup and
//! adding a note to a customer's service history.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use super::{json, read_body, ApiError, State, DEFAULT_LIMIT, FIRST_CASE_NUMBER, MAX_LIMIT};
use crate::demo::data::{Customer, DataSet, Device, ServiceCase};

/// A matched route with its decoded path parameter.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route {
    Health,
    Search,
    Customer(String),
    Device(String),
    Notes(String),
}

impl Route {
    pub(super) fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["healthz"] => Some(Route::Health),
            ["customers"] => Some(Route::Search),
            ["customers", id] => Some(Route::Customer(decode_segment(id)?)),
            ["customers", id, "notes"] => Some(Route::Notes(decode_segment(id)?)),
            ["devices", tag] => Some(Route::Device(decode_segment(tag)?)),
            _ => None,
        }
    }

    /// The one method the route answers.
    pub(super) fn method(&self) -> &'static str {
        match self {
            Route::Notes(_) => "POST",
            _ => "GET",
        }
    }
}

fn decode_segment(segment: &str) -> Option<String> {
    let decoded = percent_decode_str(segment).decode_utf8().ok()?;
    (!decoded.is_empty()).then(|| decoded.into_owned())
}

/// `q` and `limit` from a query string, decoded as an HTML form would send them.
#[derive(Debug, PartialEq, Eq)]
struct SearchParams {
    q: String,
    limit: usize,
}

impl SearchParams {
    fn parse(query: &str) -> Result<SearchParams, ApiError> {
        let mut params = SearchParams {
            q: String::new(),
            limit: DEFAULT_LIMIT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = crate::route::form_decoded(value);
            let value = String::from_utf8_lossy(&value);
            match key {
                "q" => params.q = value.into_owned(),
                "limit" => {
                    let limit: usize = value.trim().parse().map_err(|_| ApiError::BadLimit)?;
                    params.limit = limit.min(MAX_LIMIT);
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

#[derive(Serialize)]
struct SearchPage<'a> {
    results: Vec<&'a Customer>,
    total: usize,
}

pub(super) async fn search(query: &str, state: &State) -> Result<Response<Full<Bytes>>, ApiError> {
    let params = SearchParams::parse(query)?;
    let data = state.data.read().await;
    let page = SearchPage {
        results: data.search(&params.q, params.limit),
        total: data.count_matches(&params.q),
    };
    json(StatusCode::OK, &page)
}

/// A device with the id of the customer who owns it.
#[derive(Serialize)]
struct DeviceView<'a> {
    #[serde(flatten)]
    device: &'a Device,
    customer_id: &'a str,
}

pub(super) async fn device(tag: &str, state: &State) -> Result<Response<Full<Bytes>>, ApiError> {
    let data = state.data.read().await;
    let (customer, device) = data.device(tag).ok_or(ApiError::NotFound)?;
    let view = DeviceView {
        device,
        customer_id: &customer.id,
    };
    json(StatusCode::OK, &view)
}

/// Body of `POST /customers/{id}/notes`.
#[derive(Deserialize)]
struct NewNote {
    summary: String,
    notes: String,
    #[serde(default)]
    service_tag: Option<String>,
}

/// A case just added, with the customer it was added to.
#[derive(Serialize)]
struct CreatedCase<'a> {
    #[serde(flatten)]
    case: &'a ServiceCase,
    customer_id: &'a str,
}

pub(super) async fn add_note(
    id: &str,
    body: Incoming,
    state: &State,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let bytes = read_body(body).await?;
    let note: NewNote = serde_json::from_slice(&bytes).map_err(|_| ApiError::BadJson)?;
    if note.summary.trim().is_empty() {
        return Err(ApiError::EmptySummary);
    }
    let mut data = state.data.write().await;
    let case_id = format!("SR{}", next_case_number(&data));
    let customer = data
        .customers
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or(ApiError::NotFound)?;
    let service_tag = note_device(customer, note.service_tag.as_deref())?;
    customer.service_history.push(ServiceCase {
        case_id,
        date: chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
        service_tag,
        summary: note.summary,
        notes: note.notes,
    });
    let created = customer.service_history.last().ok_or(ApiError::NotFound)?;
    json(
        StatusCode::CREATED,
        &CreatedCase {
            case: created,
            customer_id: &customer.id,
        },
    )
}

/// The tag a new case is about: the one named, if the customer owns it, else
/// the customer's first device.
fn note_device(customer: &Customer, named: Option<&str>) -> Result<String, ApiError> {
    match named {
        Some(tag) => customer
            .devices
            .iter()
            .find(|d| d.service_tag.eq_ignore_ascii_case(tag.trim()))
            .map(|d| d.service_tag.clone())
            .ok_or(ApiError::UnknownServiceTag),
        None => Ok(customer
            .devices
            .first()
            .map(|d| d.service_tag.clone())
            .unwrap_or_default()),
    }
}

/// One past the highest `SR` case number in the data set, so new cases never collide.
fn next_case_number(data: &DataSet) -> u64 {
    data.customers
        .iter()
        .flat_map(|c| &c.service_history)
        .filter_map(|case| case.case_id.strip_prefix("SR")?.parse::<u64>().ok())
        .max()
        .map_or(FIRST_CASE_NUMBER, |n| n.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_decode_their_parameter() {
        assert_eq!(Route::parse("/healthz"), Some(Route::Health));
        assert_eq!(Route::parse("/customers"), Some(Route::Search));
        assert_eq!(
            Route::parse("/customers/C10%30001"),
            Some(Route::Customer("C100001".into()))
        );
        assert_eq!(
            Route::parse("/customers/C100001/notes"),
            Some(Route::Notes("C100001".into()))
        );
        assert_eq!(
            Route::parse("/devices/7XK2M9Q"),
            Some(Route::Device("7XK2M9Q".into()))
        );
        assert_eq!(Route::parse("/customers/"), None);
        assert_eq!(Route::parse("/customers/C1/devices"), None);
        assert_eq!(Route::parse("/customers/%FF"), None);
    }

    #[test]
    fn search_params_are_form_decoded_and_capped() {
        let params = SearchParams::parse("q=de+Vries%20&limit=500&x=1").map_err(|e| e.to_string());
        assert_eq!(
            params,
            Ok(SearchParams {
                q: "de Vries ".into(),
                limit: MAX_LIMIT
            })
        );
        let empty = SearchParams::parse("").map_err(|e| e.to_string());
        assert_eq!(
            empty,
            Ok(SearchParams {
                q: String::new(),
                limit: DEFAULT_LIMIT
            })
        );
        assert!(matches!(
            SearchParams::parse("limit=ten"),
            Err(ApiError::BadLimit)
        ));
    }

    #[test]
    fn new_case_numbers_follow_the_highest_existing_one() {
        let mut data = DataSet::generate(1, 50);
        let highest = next_case_number(&data) - 1;
        let all: Vec<&str> = data
            .customers
            .iter()
            .flat_map(|c| &c.service_history)
            .map(|s| s.case_id.as_str())
            .collect();
        assert!(all.contains(&format!("SR{highest}").as_str()));
        data.customers
            .iter_mut()
            .for_each(|c| c.service_history.clear());
        assert_eq!(next_case_number(&data), FIRST_CASE_NUMBER);
    }
}
