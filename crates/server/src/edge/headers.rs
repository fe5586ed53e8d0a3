//! What every response tells the browser about itself.

use actix_web::middleware::DefaultHeaders;

/// Scripts, styles and requests from this server only, nothing inline, never in a frame.
/// Images may also come over https: a device's logo (`logo_url`) lives on its owner's site.
/// `form-action` is left out on purpose: the payment form's answer redirects to the provider's
/// checkout, which browsers would check against it.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' https:; connect-src 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The security headers, added to every response that does not set its own:
/// the policy above, no MIME sniffing, and no `Referer` — the order id is in our URLs and
/// must not follow the customer to the provider.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        // For browsers older than `frame-ancestors`.
        .add(("X-Frame-Options", "DENY"))
}
