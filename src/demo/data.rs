//! The demo's synthetic customer data set: realistic-looking records that are
//! the same for a given seed on every platform, so a demo, its tickets and
//! its tests all name the same customers.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

mod generate;
mod words;

use self::generate::Generator;

/// One customer record as the sample API serves it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Customer {
    /// Stable id derived from the record's index, e.g. `CUS-100042`.
    pub id: String,
    /// Full name, first name first.
    pub name: String,
    /// Contact email on a reserved example domain.
    pub email: String,
    /// Contact phone in the fictional 555 range, e.g. `+1-555-013-4821`.
    pub phone: String,
    /// Postal address.
    pub address: Address,
    /// Devices the customer owns, one to three in a generated set.
    pub devices: Vec<Device>,
    /// Support cases, oldest first.
    pub service_history: Vec<ServiceCase>,
}

/// A postal address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Address {
    /// Street and house number in the country's usual order.
    pub street: String,
    /// City or town.
    pub city: String,
    /// State, province or county.
    pub region: String,
    /// Postal code in the country's format.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// A device registered to a customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    /// Seven characters of `[0-9A-Z]`, unique across the data set.
    pub service_tag: String,
    /// The service tag read as a base-36 number, written in base 10.
    pub express_service_code: String,
    /// Product line and model number.
    pub model: String,
    /// `YYYY-MM-DD`.
    pub purchase_date: String,
    /// Support plan covering the device.
    pub warranty: Warranty,
}

/// A device's support plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Warranty {
    /// Plan name, e.g. `ProSupport Plus`.
    pub plan: String,
    /// Last covered day, `YYYY-MM-DD`.
    pub expires: String,
}

/// One support case in a customer's history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceCase {
    /// Case number, e.g. `SR184203311`, unique across the data set.
    pub case_id: String,
    /// Day the case was opened, `YYYY-MM-DD`.
    pub date: String,
    /// Service tag of the device the case is about.
    pub service_tag: String,
    /// One-line summary; never contains a tag-shaped word.
    pub summary: String,
    /// Agent's free text; sometimes quotes the device's tag or the customer's phone.
    pub notes: String,
}

/// The whole synthetic data set.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataSet {
    /// Customers in index order; `customers[i].id` is `CUS-{100000 + i}`.
    pub customers: Vec<Customer>,
}

/// First customer number; ids count up from here by index.
const FIRST_CUSTOMER: usize = 100_000;
/// Day zero of the synthetic calendar.
const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2019, 1, 1) {
    Some(day) => day,
    None => NaiveDate::MIN,
};
/// Days from `EPOCH` to the data set's "today" (2025-09-30); fixed so output never depends on the clock.
const HORIZON_DAYS: u32 = 2464;
/// Smallest and one past the largest tag value: seven base-36 digits with no leading zero.
const TAG_RANGE: std::ops::Range<u64> = 36u64.pow(6)..36u64.pow(7);

impl DataSet {
    /// Generates `customers` records for `seed`; the same pair gives the same data on every platform.
    pub fn generate(seed: u64, customers: usize) -> DataSet {
        let mut gen = Generator::new(seed, customers);
        let customers = (0..customers).map(|index| gen.customer(index)).collect();
        DataSet { customers }
    }

    /// The customer with `id`, if any.
    pub fn customer(&self, id: &str) -> Option<&Customer> {
        // Ids are derived from the index, so try that slot before scanning.
        let by_index = id
            .strip_prefix('C')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(FIRST_CUSTOMER))
            .and_then(|i| self.customers.get(i))
            .filter(|c| c.id == id);
        by_index.or_else(|| self.customers.iter().find(|c| c.id == id))
    }

    /// The device with `service_tag` (ASCII case ignored) and its owner.
    pub fn device(&self, service_tag: &str) -> Option<(&Customer, &Device)> {
        self.customers.iter().find_map(|c| {
            let device = c
                .devices
                .iter()
                .find(|d| d.service_tag.eq_ignore_ascii_case(service_tag))?;
            Some((c, device))
        })
    }

    /// At most `limit` customers matching `q`, case-insensitively, in name, email,
    /// city, phone digits or service tags; an empty `q` matches everyone.
    pub fn search(&self, q: &str, limit: usize) -> Vec<&Customer> {
        self.matching(q).take(limit).collect()
    }

    /// How many customers `search(q, ..)` would find without a limit.
    pub fn count_matches(&self, q: &str) -> usize {
        self.matching(q).count()
    }

    fn matching<'a>(&'a self, q: &str) -> impl Iterator<Item = &'a Customer> + 'a {
        let query = Query::new(q);
        self.customers.iter().filter(move |c| query.matches(c))
    }
}

impl Customer {
    /// Every value of this record that a policy would treat as sensitive (emails,
    /// phones, streets, postal codes, service tags, express codes, notes), for tests
    /// that scan responses for leaks.
    pub fn sensitive_values(&self) -> Vec<String> {
        let mut values = vec![
            self.email.clone(),
            self.phone.clone(),
            self.address.street.clone(),
            self.address.postal_code.clone(),
        ];
        for d in &self.devices {
            values.push(d.service_tag.clone());
            values.push(d.express_service_code.clone());
        }
        values.extend(self.service_history.iter().map(|case| case.notes.clone()));
        let mut seen = HashSet::new();
        values.retain(|v| !v.is_empty() && seen.insert(v.clone()));
        values
    }
}

/// The express service code for `service_tag`: its value as a base-36 number,
/// in base 10. `None` unless the tag is exactly seven ASCII letters or digits.
pub fn express_service_code(service_tag: &str) -> Option<String> {
    if service_tag.len() != 7 || !service_tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(service_tag, 36)
        .ok()
        .map(|n| n.to_string())
}

/// A search string prepared once for matching many records.
struct Query {
    lower: String,
    /// Set only when the query looks like a phone number, so "Rue 12" does not match phones.
    phone_digits: Option<String>,
}

impl Query {
    fn new(q: &str) -> Query {
        let q = q.trim();
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let phone_like = q
            .chars()
            .all(|c| c.is_ascii_digit() || "+-(). ".contains(c));
        let phone_digits = (phone_like && !digits.is_empty()).then_some(digits);
        Query {
            lower: q.to_lowercase(),
            phone_digits,
        }
    }

    fn matches(&self, c: &Customer) -> bool {
        let hit = |s: &str| s.to_lowercase().contains(&self.lower);
        let phone_hit = self.phone_digits.as_ref().is_some_and(|d| {
            let phone: String = c.phone.chars().filter(char::is_ascii_digit).collect();
            phone.contains(d.as_str())
        });
        phone_hit
            || hit(&c.name)
            || hit(&c.email)
            || hit(&c.address.city)
            || c.devices.iter().any(|d| hit(&d.service_tag))
    }
}

#[cfg(test)]
mod tests {
    use super::generate::{ascii_fold, base36};
    use super::*;

    #[test]
    fn a_thousand_customers_generate_with_one_to_three_devices() {
        // The demo regenerates this at every start, so it must stay cheap: one pass, no retries to speak of.
        let data = DataSet::generate(7, 1000);
        assert_eq!(data.customers.len(), 1000);
        assert!(data
            .customers
            .iter()
            .all(|c| (1..=3).contains(&c.devices.len())));
        assert_eq!(data.customers[999].id, "CUS-100999");
    }

    #[test]
    fn base36_and_express_code_agree() {
        for value in [TAG_RANGE.start, 40_000_000_000, TAG_RANGE.end - 1] {
            let tag = base36(value);
            assert_eq!(tag.len(), 7);
            assert_eq!(express_service_code(&tag), Some(value.to_string()));
        }
    }

    #[test]
    fn express_code_refuses_what_is_not_a_tag() {
        assert_eq!(express_service_code("ABC12"), None);
        assert_eq!(express_service_code("ABC12345"), None);
        assert_eq!(express_service_code("ABC-123"), None);
        assert_eq!(express_service_code("7XK2M9Q"), Some("17266574654".into()));
    }

    #[test]
    fn only_phone_shaped_queries_match_phone_digits() {
        assert_eq!(Query::new("Rue 12").phone_digits, None);
        assert_eq!(
            Query::new("+1 (555) 013").phone_digits.as_deref(),
            Some("1555013")
        );
        assert_eq!(Query::new("").phone_digits, None);
    }

    #[test]
    fn customer_lookup_survives_a_reordered_set() {
        let mut data = DataSet::generate(3, 5);
        data.customers.reverse();
        let found = data.customer("CUS-100001").map(|c| c.id.as_str());
        assert_eq!(found, Some("CUS-100001"));
        assert!(data.customer("C999999").is_none());
        assert!(data.customer("nonsense").is_none());
    }

    #[test]
    fn email_local_parts_are_plain_ascii() {
        assert_eq!(ascii_fold("Seán"), "sean");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("de Vries"), "devries");
        assert_eq!(ascii_fold("Côté"), "cote");
    }
}
