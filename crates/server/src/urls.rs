//! The addresses the web layer hands out: the order page, a custom device's redirect with the
//! order's parameters, and percent-encoding for query values. The domain never builds a URL.

use coffee_domain::{MerchantKey, Order, OrderId, Size};

/// The order page's path; machines in the field and providers' return URLs use it.
pub const ORDER_PAGE_PATH: &str = "/v1/order-status-page";

/// `/v1/order-status-page?order_id=…`, relative to the site.
pub fn order_page_path(order: OrderId) -> String {
    format!("{ORDER_PAGE_PATH}?order_id={order}")
}

/// The order page as an absolute URL under `base_url` (the provider's return URL).
pub fn order_page_url(base_url: &str, order: OrderId) -> String {
    format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        order_page_path(order)
    )
}

/// A `custom` device's own system, given the order's parameters exactly as the original
/// passed them — `order_id` is the machine's order id (the QR's `uuid`), `size` is `1|2|3` —
/// now URL-encoded; our own order id follows as the additional `coffee_order_id`.
pub fn custom_redirect(redirect_url: &str, order: &Order, merchant: &MerchantKey) -> String {
    let separator = if redirect_url.contains('?') { '&' } else { '?' };
    let size = match order.size {
        Size::Small => 1,
        Size::Medium => 2,
        Size::Big => 3,
    };
    format!(
        "{redirect_url}{separator}order_id={}&drink_name={}&price={}&size={size}&device_uuid={}&merchant_id={}&coffee_order_id={}",
        encode_query_value(order.machine_order_id.as_str()),
        encode_query_value(&order.drink_name),
        order.price.kopecks(),
        encode_query_value(order.device.as_str()),
        encode_query_value(merchant.as_str()),
        order.id,
    )
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_unreserved_characters_and_encode_the_rest() {
        assert_eq!(encode_query_value("Aa0-_.~"), "Aa0-_.~");
        assert_eq!(encode_query_value("a b&c"), "a%20b%26c");
        assert_eq!(encode_query_value("Кофе"), "%D0%9A%D0%BE%D1%84%D0%B5");
    }

    #[test]
    fn the_order_page_url_ignores_a_trailing_slash_of_the_base() {
        let id = OrderId::parse("6f1c2b1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(
            order_page_url("https://pay.example.ru/", id),
            "https://pay.example.ru/v1/order-status-page?order_id=6f1c2b1e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        );
    }
}
