//! The `Token` that signs every MAPI request and every notification (provider notes §B.3):
//! the root-level scalar values plus `Password`, sorted by key, concatenated, SHA-256, lower-case
//! hex. Nested objects and arrays (`DATA`, `Receipt`, `Shops`) and `null`s take no part, and
//! neither does `Token` itself.

use crate::account::Password;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The key the signature travels under.
pub const TOKEN_KEY: &str = "Token";

/// How one root-level value enters the signature: strings as they are, booleans as
/// `true`/`false`, numbers as their decimal text; objects, arrays and `null` not at all.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        // Integers print exactly as they were written. T-Bank sends no fractions at the root;
        // if it ever did, a re-printed fraction could differ from the raw text and the
        // notification would fail verification: closed, not open.
        Value::Number(number) => Some(number.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// The token of `params` (any `Token` among them is ignored) under `password`.
pub fn token(params: &Map<String, Value>, password: &Password) -> String {
    let mut pairs: BTreeMap<&str, String> = params
        .iter()
        .filter(|(key, _)| key.as_str() != TOKEN_KEY)
        .filter_map(|(key, value)| scalar_text(value).map(|text| (key.as_str(), text)))
        .collect();
    pairs.insert("Password", password.expose().to_owned());
    let joined: String = pairs.into_values().collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

/// Puts the token of `params` into them, replacing any there.
pub fn sign(params: &mut Map<String, Value>, password: &Password) {
    let signed = token(params, password);
    params.insert(TOKEN_KEY.to_owned(), Value::String(signed));
}

/// Whether `params` carry the right token for `password`; compared in constant time so the
/// answer time says nothing about how much of a forged token was right.
pub fn verify(params: &Map<String, Value>, password: &Password) -> bool {
    let Some(Value::String(given)) = params.get(TOKEN_KEY) else {
        return false;
    };
    let expected = token(params, password);
    constant_time_eq(given.to_ascii_lowercase().as_bytes(), expected.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn password(text: &str) -> Password {
        Password::new(text)
    }

    #[test]
    fn vector_1_the_official_init_example_signs_without_its_nested_objects() {
        let params = object(json!({
            "TerminalKey": "MerchantTerminalKey",
            "Amount": 19200,
            "OrderId": "21090",
            "Description": "Подарочная карта на 1000 рублей",
            "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
            "Receipt": {"Email": "a@test.ru", "Taxation": "osn", "Items": [{"Name": "x", "Price": 1}]}
        }));
        assert_eq!(
            token(&params, &password("usaf8fw8fsw21g")),
            "0024a00af7c350a3a67ca168ce06502aa72772456662e38696d48b56ee9c97d9"
        );
    }

    #[test]
    fn vector_2_the_newer_token_page_example() {
        let params = object(json!({
            "TerminalKey": "MerchantTerminalKey",
            "Amount": 19200,
            "OrderId": "00000",
            "Description": "Подарочная карта на 1000 рублей"
        }));
        assert_eq!(
            token(&params, &password("11111111111111")),
            "72dd466f8ace0a37a1f740ce5fb78101712bc0665d91a8108c7c8a0ccd426db2"
        );
    }

    #[test]
    fn vector_3_the_official_notification_example_verifies() {
        let params = object(json!({
            "TerminalKey": "1321054611234DEMO",
            "OrderId": "201709",
            "Success": true,
            "Status": "AUTHORIZED",
            "PaymentId": "8742591",
            "ErrorCode": "0",
            "Amount": "9855",
            "CardId": "322264",
            "Pan": "430000******0777",
            "ExpDate": "1122",
            "RebillId": "101709",
            "Token": "b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"
        }));
        assert!(verify(&params, &password("Dfsfh56dgKl")));
    }

    #[test]
    fn vector_4_the_init_full_example_of_the_test_terminal() {
        let params = object(json!({
            "TerminalKey": "TinkoffBankTest",
            "Amount": 140000,
            "OrderId": "21090",
            "Description": "Подарочная карта на 1000 рублей",
            "DATA": {"Phone": "+71234567890", "Email": "a@test.com"},
            "Receipt": {"Email": "a@test.ru", "Phone": "+79031234567", "Taxation": "osn", "Items": []}
        }));
        assert_eq!(
            token(&params, &password("TinkoffBankTest")),
            "68711168852240a2f34b6a8b19d2cfbd296c7d2a6dff8b23eda6278985959346"
        );
    }

    #[test]
    fn vector_5_the_newer_notification_example_verifies_with_boolean_or_string_success() {
        let mut params = object(json!({
            "TerminalKey": "1234567890DEMO",
            "OrderId": "000000",
            "Success": true,
            "Status": "AUTHORIZED",
            "PaymentId": "0000000",
            "ErrorCode": "0",
            "Amount": "1111",
            "CardId": "000000",
            "Pan": "200000******0000",
            "ExpDate": "1111",
            "RebillId": "000000",
            "Token": "1c0964277d0213349243065a0d5b838b8e90d2d25f740d0f2767836e710e80c8"
        }));
        assert!(verify(&params, &password("11111111111")));
        params.insert("Success".into(), json!("true"));
        assert!(verify(&params, &password("11111111111")));
    }

    #[test]
    fn nulls_and_nested_objects_take_no_part_and_numbers_sign_like_their_text() {
        let bare = object(json!({"TerminalKey": "T", "Amount": 9855, "PaymentId": 8742591}));
        let decorated = object(json!({
            "TerminalKey": "T", "Amount": "9855", "PaymentId": "8742591",
            "Message": null, "DATA": {"Amount": 1}, "Shops": [1, 2]
        }));
        assert_eq!(
            token(&bare, &password("p")),
            token(&decorated, &password("p"))
        );
    }

    #[test]
    fn a_signed_request_verifies_and_a_tampered_amount_or_foreign_password_does_not() {
        let mut params = object(json!({"TerminalKey": "T", "Amount": 15000, "OrderId": "o-1"}));
        sign(&mut params, &password("secret"));
        assert!(verify(&params, &password("secret")));
        assert!(!verify(&params, &password("other")));
        let mut tampered = params.clone();
        tampered.insert("Amount".into(), json!(1));
        assert!(!verify(&tampered, &password("secret")));
        let mut foreign = params.clone();
        foreign.insert("TerminalKey".into(), json!("U"));
        assert!(!verify(&foreign, &password("secret")));
        let mut missing = params;
        missing.remove(TOKEN_KEY);
        assert!(!verify(&missing, &password("secret")));
    }
}
