//! The demo's synthetic data set: deterministic by seed, unique and
//! consistent records, realistic free text, and search.

#[path = "support/demo.rs"]
mod support;

use std::collections::HashSet;

use keyhole::demo::data::{express_service_code, DataSet};
use regex::Regex;
use support::{CUSTOMERS, SEED};

fn tag_shaped() -> Regex {
    Regex::new(r"\b[0-9A-Z]{7}\b").expect("regex")
}

#[test]
fn same_seed_gives_the_same_data_set() {
    assert_eq!(
        DataSet::generate(SEED, CUSTOMERS),
        DataSet::generate(SEED, CUSTOMERS)
    );
}

#[test]
fn different_seeds_give_different_data_sets() {
    let (a, b) = (
        DataSet::generate(1, CUSTOMERS),
        DataSet::generate(2, CUSTOMERS),
    );
    assert_ne!(a, b);
    let tags = |d: &DataSet| -> HashSet<String> {
        d.customers
            .iter()
            .flat_map(|c| &c.devices)
            .map(|d| d.service_tag.clone())
            .collect()
    };
    assert_ne!(tags(&a), tags(&b));
    assert_ne!(a.customers[0].email, b.customers[0].email);
}

#[test]
fn express_codes_are_the_base36_value_of_their_tags() {
    let data = DataSet::generate(SEED, 1000);
    for device in data.customers.iter().flat_map(|c| &c.devices) {
        let tag = &device.service_tag;
        assert_eq!(tag.len(), 7);
        assert!(tag
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
        let value = u64::from_str_radix(tag, 36).expect("base 36");
        assert_eq!(device.express_service_code, value.to_string());
        assert_eq!(
            express_service_code(tag).as_deref(),
            Some(device.express_service_code.as_str())
        );
    }
}

#[test]
fn ids_tags_emails_phones_and_case_numbers_are_unique() {
    let data = DataSet::generate(SEED, 1000);
    let unique = |values: Vec<&str>| values.len() == values.iter().collect::<HashSet<_>>().len();
    let customers = &data.customers;
    assert!(unique(customers.iter().map(|c| c.id.as_str()).collect()));
    assert!(unique(customers.iter().map(|c| c.email.as_str()).collect()));
    assert!(unique(customers.iter().map(|c| c.phone.as_str()).collect()));
    let devices = customers.iter().flat_map(|c| &c.devices);
    assert!(unique(devices.map(|d| d.service_tag.as_str()).collect()));
    let cases = customers.iter().flat_map(|c| &c.service_history);
    assert!(unique(cases.map(|s| s.case_id.as_str()).collect()));
}

#[test]
fn records_are_complete_and_dated_consistently() {
    let phone = Regex::new(r"^\+1-555-\d{3}-\d{4}$").expect("regex");
    let data = DataSet::generate(SEED, 1000);
    for (index, c) in data.customers.iter().enumerate() {
        assert_eq!(c.id, format!("CUS-{}", 100_000 + index));
        assert!(phone.is_match(&c.phone), "phone format");
        assert!(c.email.contains('@') && c.email.is_ascii());
        assert!(
            !c.name.is_empty() && !c.address.street.is_empty() && !c.address.postal_code.is_empty()
        );
        assert!((1..=3).contains(&c.devices.len()));
        for d in &c.devices {
            assert!(d.warranty.expires > d.purchase_date);
        }
        for case in &c.service_history {
            let device = c
                .devices
                .iter()
                .find(|d| d.service_tag == case.service_tag)
                .expect("case device");
            assert!(case.date > device.purchase_date);
        }
        let dates: Vec<&str> = c.service_history.iter().map(|s| s.date.as_str()).collect();
        assert!(
            dates.windows(2).all(|w| w[0] <= w[1]),
            "history is oldest first"
        );
    }
}

#[test]
fn only_a_records_own_tags_look_like_tags_in_its_text() {
    let detector = tag_shaped();
    let data = DataSet::generate(SEED, 1000);
    for c in &data.customers {
        let own: HashSet<&str> = c.devices.iter().map(|d| d.service_tag.as_str()).collect();
        for case in &c.service_history {
            assert!(
                !detector.is_match(&case.summary),
                "summary has a tag-shaped word"
            );
            for found in detector.find_iter(&case.notes) {
                assert!(
                    own.contains(found.as_str()),
                    "notes quote a foreign tag-shaped word"
                );
            }
            if case.notes.contains("+1-555-") {
                assert!(case.notes.contains(&c.phone), "notes quote a foreign phone");
            }
        }
    }
}

#[test]
fn notes_sometimes_quote_a_tag_or_a_phone() {
    let data = DataSet::generate(SEED, 1000);
    let cases: Vec<_> = data
        .customers
        .iter()
        .flat_map(|c| c.service_history.iter().map(move |s| (c, s)))
        .collect();
    let quoting_tag = cases
        .iter()
        .filter(|(_, s)| s.notes.contains(&s.service_tag))
        .count();
    let quoting_phone = cases
        .iter()
        .filter(|(c, s)| s.notes.contains(&c.phone))
        .count();
    // Fixed seed, so these shares are exact for this data set; the bounds say "about a third" and "some".
    assert!(cases.len() > 1000);
    assert!((cases.len() / 5..cases.len() / 2).contains(&quoting_tag));
    assert!((cases.len() / 10..cases.len() / 3).contains(&quoting_phone));
}

#[test]
fn sensitive_values_cover_contact_device_and_note_fields() {
    let data = DataSet::generate(SEED, 10);
    let c = data
        .customers
        .iter()
        .find(|c| !c.service_history.is_empty())
        .expect("a customer with cases");
    let values = c.sensitive_values();
    for expected in [
        &c.email,
        &c.phone,
        &c.address.street,
        &c.address.postal_code,
    ] {
        assert!(values.contains(expected));
    }
    for d in &c.devices {
        assert!(values.contains(&d.service_tag) && values.contains(&d.express_service_code));
    }
    assert!(c.service_history.iter().all(|s| values.contains(&s.notes)));
    assert!(!values.contains(&c.name) && !values.contains(&c.id));
}

#[test]
fn search_matches_name_email_city_phone_digits_and_tags() {
    let data = DataSet::generate(SEED, CUSTOMERS);
    let c = &data.customers[17];
    let digits: String = c.phone.chars().filter(char::is_ascii_digit).collect();
    let spaced_phone = format!("555 {} {}", &digits[4..7], &digits[7..]);
    let tag = c.devices[0].service_tag.to_lowercase();
    for q in [
        c.name.to_uppercase(),
        c.email.clone(),
        c.address.city.to_lowercase(),
        spaced_phone,
        tag,
    ] {
        let found = data.search(&q, 100);
        assert!(found.iter().any(|r| r.id == c.id), "search by one field");
        assert_eq!(data.count_matches(&q), found.len());
    }
    assert!(data.search("no such customer anywhere", 10).is_empty());
    assert_eq!(data.search("", 7).len(), 7);
}
