//! Validation of the field types every service shares: money, dates, ids,
//! idempotency keys and page sizes. Each function returns the typed value or the
//! violations, with field paths relative to the value (callers prefix them).

use chrono::NaiveDate;
use themodel_proto::common;

use crate::error::Violation;

/// Longest resource id accepted (a UUID, in any of its textual forms).
pub const MAX_ID_LEN: usize = 64;
/// Longest reference to something outside a service (CRM, user and partner ids).
pub const MAX_REFERENCE_LEN: usize = 128;
/// Longest idempotency key.
pub const MAX_REQUEST_ID_LEN: usize = 128;
/// Longest etag accepted.
pub const MAX_ETAG_LEN: usize = 64;
/// Most characters of a caller's value repeated in an error message.
const ECHO_CHARS: usize = 40;

/// A caller's value as it may appear in an error message: quoted, and cut
/// after a few characters with its full length noted, so that an error never
/// grows with the input.
pub fn echo(value: &str) -> String {
    let mut chars = value.char_indices();
    match chars.nth(ECHO_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!(
            "{:?}... ({} characters)",
            &value[..cut],
            value.chars().count()
        ),
    }
}

/// Default page size when a request says 0 (AIP-158).
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page a List call returns.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Active ISO 4217 currency codes.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Validates an ISO 4217 currency code (upper case, e.g. "USD").
pub fn currency(code: &str) -> Result<String, Vec<Violation>> {
    if ISO_4217.contains(&code) {
        Ok(code.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!("{} is not an ISO 4217 currency code", echo(code)),
        )])
    }
}

/// A validated, non-negative amount of money.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Money {
    /// ISO 4217 code.
    pub currency_code: String,
    /// Whole units.
    pub units: i64,
    /// Nano units, 0..1e9.
    pub nanos: i32,
}

impl Money {
    /// Validates a non-negative amount.
    pub fn non_negative(money: &common::Money) -> Result<Money, Vec<Violation>> {
        let mut violations = Vec::new();
        if let Err(invalid) = currency(&money.currency_code) {
            violations.extend(invalid.into_iter().map(|v| v.prefixed("currency_code")));
        }
        if !(-999_999_999..=999_999_999).contains(&money.nanos) {
            violations.push(Violation::new(
                "nanos",
                "must be between -999999999 and 999999999",
            ));
        } else if (money.units > 0 && money.nanos < 0) || (money.units < 0 && money.nanos > 0) {
            violations.push(Violation::new("nanos", "must have the same sign as units"));
        }
        if money.units < 0 || money.nanos < 0 {
            violations.push(Violation::new("units", "must not be negative"));
        }
        if violations.is_empty() {
            Ok(Money {
                currency_code: money.currency_code.clone(),
                units: money.units,
                nanos: money.nanos,
            })
        } else {
            Err(violations)
        }
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> common::Money {
        common::Money {
            currency_code: self.currency_code.clone(),
            units: self.units,
            nanos: self.nanos,
        }
    }
}

/// Resolves a required update mask against a resource's `updatable` fields:
/// `*` is every one of them and any other path must name one. An empty mask
/// is refused: such an update always says what it changes. Violation paths
/// are relative to the request.
pub fn update_mask(
    mask: Option<&prost_types::FieldMask>,
    updatable: &[&'static str],
    resource: &str,
) -> Result<Vec<&'static str>, Vec<Violation>> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Err(vec![Violation::new(
            "update_mask",
            format!(
                "is required: name the fields to update ({})",
                updatable.join(", ")
            ),
        )]);
    }
    let mut violations = Vec::new();
    let mut fields = Vec::new();
    for (i, path) in paths.iter().take(updatable.len() + 1).enumerate() {
        if path == "*" {
            fields.extend_from_slice(updatable);
        } else if let Some(name) = updatable.iter().find(|f| **f == path) {
            fields.push(*name);
        } else {
            violations.push(Violation::new(
                format!("update_mask.paths[{i}]"),
                format!("{} is not an updatable field of {resource}", echo(path)),
            ));
        }
    }
    if paths.len() > updatable.len() + 1 {
        violations.push(Violation::new("update_mask.paths", "names too many fields"));
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    fields.sort_unstable();
    fields.dedup();
    Ok(fields)
}

/// Validates a calendar date.
pub fn date(date: &common::Date) -> Result<NaiveDate, Vec<Violation>> {
    let valid = u32::try_from(date.month)
        .ok()
        .zip(u32::try_from(date.day).ok())
        .filter(|_| (1..=9999).contains(&date.year))
        .and_then(|(month, day)| NaiveDate::from_ymd_opt(date.year, month, day));
    valid.ok_or_else(|| {
        vec![Violation::new(
            "",
            format!(
                "{:04}-{:02}-{:02} is not a valid calendar date",
                date.year, date.month, date.day
            ),
        )]
    })
}

/// The protobuf form of a date.
pub fn date_to_proto(date: NaiveDate) -> common::Date {
    use chrono::Datelike;
    common::Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    }
}

/// Validates a server-generated resource id (a UUID) and returns it in canonical form.
pub fn resource_id(id: &str) -> Result<String, Vec<Violation>> {
    if id.is_empty() {
        return Err(vec![Violation::new("", "is required")]);
    }
    if id.len() > MAX_ID_LEN {
        return Err(vec![Violation::new(
            "",
            format!("must be at most {MAX_ID_LEN} characters (a UUID)"),
        )]);
    }
    uuid::Uuid::try_parse(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| {
            vec![Violation::new(
                "",
                format!("{} is not a valid id (a UUID)", echo(id)),
            )]
        })
}

/// Normalises a web domain: lower case, without scheme, "www.", port, path
/// or trailing dot. `None` when what remains is not a host name with at least
/// two labels of letters, digits and hyphens.
pub fn normalise_domain(value: &str) -> Option<String> {
    let lower = value.trim().to_ascii_lowercase();
    let rest = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    let labels: Vec<&str> = host.split('.').collect();
    let valid = host.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    valid.then(|| host.to_owned())
}

/// Punctuation an external (CRM or billing) id may hold besides letters and
/// digits.
pub const EXTERNAL_ID_CHARS: &str = "-_.:/";

/// Validates an external id: the CRM's or billing system's id of a record.
pub fn external_id(value: &str) -> Result<String, Vec<Violation>> {
    reference(value, EXTERNAL_ID_CHARS)
}

/// Punctuation a reference to a person or partner (a CSM's, a user's, an
/// owner's or a partner's id) may hold besides letters and digits.
pub const REFERENCE_CHARS: &str = "-_.:@";

/// Punctuation a partner id may hold besides letters and digits.
pub const PARTNER_ID_CHARS: &str = REFERENCE_CHARS;

/// Validates a reference to a person of the suite's users (a CSM, a
/// customer's user, an owner).
pub fn person_id(value: &str) -> Result<String, Vec<Violation>> {
    reference(value, REFERENCE_CHARS)
}

/// An instant as a protobuf timestamp.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// Validates a partner id: the partner key accounts, tokens and the
/// partner-success service share.
pub fn partner_id(value: &str) -> Result<String, Vec<Violation>> {
    reference(value, PARTNER_ID_CHARS)
}

/// Validates an opaque reference to something outside this service (a CSM's
/// user id, a partner id, a CRM id): 1 to [`MAX_REFERENCE_LEN`] characters of
/// letters, digits and `extra` punctuation.
pub fn reference(value: &str, extra: &str) -> Result<String, Vec<Violation>> {
    let ok = !value.is_empty()
        && value.len() <= MAX_REFERENCE_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(vec![Violation::new(
            "",
            format!("must be 1 to {MAX_REFERENCE_LEN} characters of letters, digits and {extra:?}"),
        )])
    }
}

/// Validates free text: trimmed length between `min` and `max` characters, no
/// control characters.
pub fn text(value: &str, min: usize, max: usize) -> Result<String, Vec<Violation>> {
    // A character is at most 4 bytes: longer input is refused without reading it.
    let len = if value.len() > max * 4 {
        usize::MAX
    } else {
        value.chars().count()
    };
    if len < min {
        return Err(vec![Violation::new("", "must not be empty")]);
    }
    if len > max {
        return Err(vec![Violation::new(
            "",
            format!("must be at most {max} characters"),
        )]);
    }
    if value.chars().any(char::is_control) {
        return Err(vec![Violation::new(
            "",
            "must not contain control characters",
        )]);
    }
    if value.trim() != value {
        return Err(vec![Violation::new(
            "",
            "must not start or end with white space",
        )]);
    }
    Ok(value.to_owned())
}

/// A request's idempotency key from its `request_id` field, its violations
/// (if any) added to `violations`; `None` when absent or invalid.
pub fn request_id_field(value: &str, violations: &mut crate::Violations) -> Option<String> {
    violations.check("request_id", request_id(value)).flatten()
}

/// Validates an idempotency key; `None` when the caller sent none.
pub fn request_id(value: &str) -> Result<Option<String>, Vec<Violation>> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() <= MAX_REQUEST_ID_LEN && value.chars().all(|c| c.is_ascii_graphic()) {
        Ok(Some(value.to_owned()))
    } else {
        Err(vec![Violation::new(
            "",
            format!("must be 1 to {MAX_REQUEST_ID_LEN} printable ASCII characters without spaces"),
        )])
    }
}

/// Validates an etag sent back by the caller; `None` when it sent none.
pub fn etag(value: &str) -> Result<Option<&str>, Vec<Violation>> {
    match value.len() {
        0 => Ok(None),
        n if n > MAX_ETAG_LEN => Err(vec![Violation::new(
            "",
            format!("must be at most {MAX_ETAG_LEN} characters, as the server returned it"),
        )]),
        _ => Ok(Some(value)),
    }
}

/// Validates a page size (AIP-158): 0 means the default, negative is rejected,
/// larger than the maximum is capped.
pub fn page_size(value: i32) -> Result<u64, Vec<Violation>> {
    match value {
        v if v < 0 => Err(vec![Violation::new("", "must not be negative")]),
        0 => Ok(DEFAULT_PAGE_SIZE),
        v => Ok((v as u64).min(MAX_PAGE_SIZE)),
    }
}

/// Validates a protobuf enum value against the known values.
pub fn known_enum<E: TryFrom<i32>>(value: i32) -> Result<E, Vec<Violation>> {
    E::try_from(value)
        .map_err(|_| vec![Violation::new("", format!("{value} is not a known value"))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_or_refused() {
        for (input, expected) in [
            ("acme.co.jp", Some("acme.co.jp")),
            ("https://www.Acme.co.jp/about?x=1", Some("acme.co.jp")),
            ("HTTP://sales.acme.com:8080", Some("sales.acme.com")),
            ("acme.com.", Some("acme.com")),
            ("localhost", None),
            ("acme..com", None),
            ("-acme.com", None),
            ("acme corp.com", None),
            ("", None),
        ] {
            assert_eq!(normalise_domain(input).as_deref(), expected, "{input}");
        }
    }

    fn money(code: &str, units: i64, nanos: i32) -> common::Money {
        common::Money {
            currency_code: code.into(),
            units,
            nanos,
        }
    }

    #[test]
    fn money_rules() {
        assert!(Money::non_negative(&money("JPY", 1_000_000, 0)).is_ok());
        assert!(Money::non_negative(&money("USD", 0, 500_000_000)).is_ok());
        let fields = |m| {
            Money::non_negative(&m)
                .expect_err("invalid")
                .into_iter()
                .map(|v| v.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(money("XXY", 1, 0)), ["currency_code"]);
        assert_eq!(fields(money("jpy", 1, 0)), ["currency_code"]);
        assert_eq!(fields(money("JPY", -1, 0)), ["units"]);
        assert_eq!(fields(money("JPY", 1, -5)), ["nanos", "units"]);
        assert_eq!(fields(money("JPY", 1, 1_000_000_000)), ["nanos"]);
    }

    #[test]
    fn dates_must_exist() {
        let d = |year, month, day| common::Date { year, month, day };
        assert!(date(&d(2024, 2, 29)).is_ok());
        assert!(date(&d(2023, 2, 29)).is_err());
        assert!(date(&d(2024, 13, 1)).is_err());
        assert!(date(&d(0, 1, 1)).is_err());
        assert!(date(&d(2024, -1, 1)).is_err());
    }

    #[test]
    fn ids_and_sizes() {
        assert!(resource_id("0190a0b0-0000-7000-8000-000000000000").is_ok());
        assert!(resource_id("not-a-uuid").is_err());
        assert!(resource_id("").is_err());
        assert!(reference("csm-42@acme", "-_.:@").is_ok());
        assert!(reference("bad id", "-_.:@").is_err());
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(5000), Ok(MAX_PAGE_SIZE));
        assert!(page_size(-1).is_err());
        assert_eq!(request_id(""), Ok(None));
        assert!(request_id("has space").is_err());
        assert!(text(" padded", 1, 10).is_err());
        assert!(text("", 1, 10).is_err());
        assert!(text(&"é".repeat(10), 1, 10).is_ok());
        assert!(text(&"x".repeat(41), 1, 10).is_err());
        assert!(resource_id(&"0".repeat(MAX_ID_LEN + 1)).is_err());
        assert_eq!(etag(""), Ok(None));
        assert!(etag(&"x".repeat(MAX_ETAG_LEN + 1)).is_err());
    }

    #[test]
    fn echoed_values_are_cut() {
        assert_eq!(echo("abc"), "\"abc\"");
        let long = "x".repeat(100_000);
        let echoed = echo(&long);
        assert!(echoed.len() < 80, "{echoed}");
        assert!(echoed.ends_with("(100000 characters)"));
        let errors = resource_id(&"z".repeat(60)).expect_err("not a uuid");
        assert!(errors[0].description.len() < 100);
        let money = common::Money {
            currency_code: "Q".repeat(1_000_000),
            units: 1,
            nanos: 0,
        };
        let errors = Money::non_negative(&money).expect_err("bad currency");
        assert!(errors[0].description.len() < 100);
    }
}
