//! Money as integer kopecks. No floats anywhere near money.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The currencies we accept. Only roubles today; the type keeps amounts from being mixed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Currency {
    #[serde(rename = "RUB")]
    Rub,
}

impl Currency {
    /// ISO 4217 code as providers spell it.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Rub => "RUB",
        }
    }

    /// Parses an ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        match code {
            "RUB" => Ok(Currency::Rub),
            other => Err(MoneyError::UnsupportedCurrency(other.to_owned())),
        }
    }
}

/// Why a money value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is empty")]
    Empty,
    #[error("amount is negative")]
    Negative,
    #[error("amount has more than two decimal places")]
    TooManyDecimals,
    #[error("amount is too large")]
    Overflow,
    #[error("amount is not a decimal number: {0:?}")]
    Malformed(String),
    #[error("unsupported currency {0:?}")]
    UnsupportedCurrency(String),
}

/// A non-negative amount in minor units (kopecks) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Money {
    kopecks: i64,
    currency: Currency,
}

impl Money {
    /// An amount of roubles given in kopecks; negative amounts are refused.
    pub fn rub(kopecks: i64) -> Result<Self, MoneyError> {
        Self::new(kopecks, Currency::Rub)
    }

    pub fn new(kopecks: i64, currency: Currency) -> Result<Self, MoneyError> {
        if kopecks < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Self { kopecks, currency })
    }

    pub fn kopecks(self) -> i64 {
        self.kopecks
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    pub fn is_zero(self) -> bool {
        self.kopecks == 0
    }

    /// Parses a provider decimal string exactly: `"150.00"` → 15000 kopecks.
    ///
    /// Accepts `"150"`, `"150.5"` and `"150.50"`; refuses signs, exponents, spaces, a bare
    /// dot, more than two decimals and anything that does not fit in `i64` kopecks.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        if text.is_empty() {
            return Err(MoneyError::Empty);
        }
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let malformed = || MoneyError::Malformed(text.to_owned());
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let fraction_kopecks = match fraction {
            None => 0,
            Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(malformed())
            }
            Some(f) if f.len() > 2 => return Err(MoneyError::TooManyDecimals),
            Some(f) => {
                let digits: i64 = f.parse().map_err(|_| malformed())?;
                if f.len() == 1 {
                    digits * 10
                } else {
                    digits
                }
            }
        };
        let mut roubles: i64 = 0;
        for digit in whole.bytes() {
            roubles = roubles
                .checked_mul(10)
                .and_then(|r| r.checked_add(i64::from(digit - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        let kopecks = roubles
            .checked_mul(100)
            .and_then(|k| k.checked_add(fraction_kopecks))
            .ok_or(MoneyError::Overflow)?;
        Self::new(kopecks, currency)
    }

    /// The provider decimal string: 15000 kopecks → `"150.00"`.
    pub fn to_decimal_string(self) -> String {
        format!("{}.{:02}", self.kopecks / 100, self.kopecks % 100)
    }

    /// The customer-facing Russian form: 15000 kopecks → `"150,00 ₽"`.
    pub fn to_display_rub(self) -> String {
        format!("{},{:02} ₽", self.kopecks / 100, self.kopecks % 100)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn provider_strings_parse_to_exact_kopecks() {
        let cases = [
            ("150.00", 15000),
            ("150", 15000),
            ("0.01", 1),
            ("123.4", 12340),
            ("0", 0),
        ];
        for (text, kopecks) in cases {
            assert_eq!(
                Money::parse_decimal(text, Currency::Rub).unwrap().kopecks(),
                kopecks,
                "{text}"
            );
        }
    }

    #[test]
    fn bad_amounts_are_refused_with_a_typed_error() {
        let rub = Currency::Rub;
        assert_eq!(Money::parse_decimal("", rub), Err(MoneyError::Empty));
        assert_eq!(
            Money::parse_decimal("-1.00", rub),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::parse_decimal("1.234", rub),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(
            Money::parse_decimal("99999999999999999999.00", rub),
            Err(MoneyError::Overflow)
        );
        for garbage in ["abc", "1e5", "+1", " 1", "1.", ".5", "1,50", "1.-5", "1.5x"] {
            assert!(
                matches!(
                    Money::parse_decimal(garbage, rub),
                    Err(MoneyError::Malformed(_))
                ),
                "{garbage}"
            );
        }
        assert_eq!(Money::rub(-5), Err(MoneyError::Negative));
    }

    #[test]
    fn amounts_format_for_providers_and_for_people() {
        let money = Money::rub(15005).unwrap();
        assert_eq!(money.to_decimal_string(), "150.05");
        assert_eq!(money.to_display_rub(), "150,05 ₽");
        assert_eq!(Money::rub(7).unwrap().to_decimal_string(), "0.07");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn formatting_then_parsing_round_trips(kopecks in 0i64..=i64::MAX) {
            let money = Money::rub(kopecks).unwrap();
            let parsed = Money::parse_decimal(&money.to_decimal_string(), Currency::Rub).unwrap();
            prop_assert_eq!(parsed, money);
        }

        #[test]
        fn parsing_then_formatting_round_trips(roubles in 0i64..10_000_000_000, kopecks in 0i64..100) {
            let text = format!("{roubles}.{kopecks:02}");
            let money = Money::parse_decimal(&text, Currency::Rub).unwrap();
            prop_assert_eq!(money.to_decimal_string(), text);
        }
    }
}
