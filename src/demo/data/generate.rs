//! Generating the data set: one seeded random stream, in an order fixed so
//! that a seed gives the same customers on every platform.

use std::collections::HashSet;

use chrono::{Days, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::words::{Locale, CALLBACKS, DOMAINS, ISSUES, LOCALES, MODELS, PLANS};
use super::{
    express_service_code, Address, Customer, Device, ServiceCase, Warranty, EPOCH, FIRST_CUSTOMER,
    HORIZON_DAYS, TAG_RANGE,
};

/// Generation state: the random stream plus what must stay unique.
pub(super) struct Generator {
    rng: ChaCha8Rng,
    tags: HashSet<u64>,
    emails: HashSet<String>,
    phones: HashSet<String>,
    next_case: u64,
}

impl Generator {
    pub(super) fn new(seed: u64, customers: usize) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let next_case = rng.random_range(180_000_000..190_000_000u64);
        Generator {
            rng,
            tags: HashSet::with_capacity(customers * 3),
            emails: HashSet::with_capacity(customers),
            phones: HashSet::with_capacity(customers),
            next_case,
        }
    }

    pub(super) fn customer(&mut self, index: usize) -> Customer {
        let locale = pick(&mut self.rng, LOCALES);
        let first = *pick(&mut self.rng, locale.first);
        let last = *pick(&mut self.rng, locale.last);
        let email = self.email(first, last);
        let phone = self.phone();
        let address = self.address(locale);
        let count = self.rng.random_range(1..=3u32);
        let devices: Vec<Device> = (0..count).map(|_| self.device()).collect();
        let service_history = self.history(&devices, &phone);
        Customer {
            id: format!("CUS-{}", FIRST_CUSTOMER + index),
            name: format!("{first} {last}"),
            email,
            phone,
            address,
            devices,
            service_history,
        }
    }

    fn email(&mut self, first: &str, last: &str) -> String {
        let (first, last) = (ascii_fold(first), ascii_fold(last));
        let domain = *pick(&mut self.rng, DOMAINS);
        let mut local = match self.rng.random_range(0..3u32) {
            0 => format!("{first}.{last}"),
            1 => format!("{}{last}", first.chars().next().unwrap_or('x')),
            _ => format!("{first}_{last}"),
        };
        while !self.emails.insert(format!("{local}@{domain}")) {
            local = format!("{local}{}", self.rng.random_range(1..10u32));
        }
        format!("{local}@{domain}")
    }

    fn phone(&mut self) -> String {
        loop {
            let exchange = self.rng.random_range(0..1000u32);
            let line = self.rng.random_range(0..10_000u32);
            let phone = format!("+1-555-{exchange:03}-{line:04}");
            if self.phones.insert(phone.clone()) {
                return phone;
            }
        }
    }

    fn address(&mut self, locale: &Locale) -> Address {
        let (city, region) = *pick(&mut self.rng, locale.cities);
        let street = *pick(&mut self.rng, locale.streets);
        let number = self.rng.random_range(1..240u32);
        let street = match locale.number_last {
            true => format!("{street} {number}"),
            false => format!("{number} {street}"),
        };
        let postal_code = locale.postal.chars().map(|c| self.postal_char(c)).collect();
        Address {
            street,
            city: city.to_string(),
            region: region.to_string(),
            postal_code,
            country: locale.country.to_string(),
        }
    }

    fn postal_char(&mut self, pattern: char) -> char {
        match pattern {
            '#' => char::from(b'0' + self.rng.random_range(0..10u8)),
            '@' => char::from(b'A' + self.rng.random_range(0..26u8)),
            other => other,
        }
    }

    fn device(&mut self) -> Device {
        let service_tag = self.service_tag();
        let express_service_code = express_service_code(&service_tag).unwrap_or_default();
        let bought = self.rng.random_range(0..HORIZON_DAYS - 90);
        let years = self.rng.random_range(1..=4u32);
        let expires = day(bought)
            .checked_add_months(Months::new(12 * years))
            .unwrap_or(EPOCH);
        Device {
            service_tag,
            express_service_code,
            model: pick(&mut self.rng, MODELS).to_string(),
            purchase_date: iso(day(bought)),
            warranty: Warranty {
                plan: pick(&mut self.rng, PLANS).to_string(),
                expires: iso(expires),
            },
        }
    }

    fn service_tag(&mut self) -> String {
        loop {
            let value = self.rng.random_range(TAG_RANGE);
            let tag = base36(value);
            // Real tags mix letters and digits; all-digit or all-letter ones look wrong.
            let mixed = tag.bytes().any(|b| b.is_ascii_digit())
                && tag.bytes().any(|b| b.is_ascii_uppercase());
            if mixed && self.tags.insert(value) {
                return tag;
            }
        }
    }

    fn history(&mut self, devices: &[Device], phone: &str) -> Vec<ServiceCase> {
        let count = self.rng.random_range(0..5u32);
        let mut cases = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let device = pick(&mut self.rng, devices);
            cases.push(self.case(device, phone));
        }
        cases.sort_by_key(|(offset, _)| *offset);
        // Numbered after sorting so a customer's later cases carry later numbers.
        let mut numbered = Vec::with_capacity(cases.len());
        for (_, mut case) in cases {
            self.next_case += self.rng.random_range(1..400u64);
            case.case_id = format!("SR{}", self.next_case);
            numbered.push(case);
        }
        numbered
    }

    /// A case about `device`, not yet numbered, with its day offset for ordering.
    fn case(&mut self, device: &Device, phone: &str) -> (u32, ServiceCase) {
        let bought = days_since_epoch(&device.purchase_date);
        let opened = self.rng.random_range(bought + 1..HORIZON_DAYS);
        let issue = pick(&mut self.rng, ISSUES);
        let quote_tag = self.rng.random_range(0..3u32) == 0;
        let quote_phone = self.rng.random_range(0..5u32) == 0;
        let dev = match quote_tag {
            true => device.service_tag.clone(),
            false => format!("the {}", device.model),
        };
        let mut notes = format!(
            "{} {}",
            issue.report.replace("{dev}", &dev),
            pick(&mut self.rng, issue.outcomes)
        );
        if quote_phone {
            notes = format!(
                "{notes} {}",
                pick(&mut self.rng, CALLBACKS).replace("{phone}", phone)
            );
        }
        let case = ServiceCase {
            case_id: String::new(),
            date: iso(day(opened)),
            service_tag: device.service_tag.clone(),
            summary: issue.summary.to_string(),
            notes,
        };
        (opened, case)
    }
}

/// Picks one item; `u32` bounds keep the stream identical on 32- and 64-bit targets.
fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len() as u32) as usize]
}

fn day(offset: u32) -> NaiveDate {
    EPOCH
        .checked_add_days(Days::new(offset.into()))
        .unwrap_or(EPOCH)
}

fn days_since_epoch(iso_date: &str) -> u32 {
    NaiveDate::parse_from_str(iso_date, "%Y-%m-%d")
        .ok()
        .and_then(|d| u32::try_from((d - EPOCH).num_days()).ok())
        .unwrap_or(0)
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(super) fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::with_capacity(7);
    loop {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Lowercase ASCII for an email local part: accents dropped, spaces and apostrophes removed.
pub(super) fn ascii_fold(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'å' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'í' | 'ì' | 'î' | 'ï' => Some('i'),
            'ó' | 'ò' | 'ô' | 'ö' | 'ø' => Some('o'),
            'ú' | 'ù' | 'û' | 'ü' => Some('u'),
            'ß' => Some('s'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}
