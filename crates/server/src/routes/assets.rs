//! The pages' stylesheet and script and the demo logo (top-level `static/`), compiled into the
//! binary like the templates. They are files rather than inline blocks so that the
//! Content-Security-Policy can refuse every inline script and style.

use actix_web::http::header;
use actix_web::HttpResponse;

const SITE_CSS: &str = include_str!("../../../../static/site.css");
const ORDER_JS: &str = include_str!("../../../../static/order.js");
const DEMO_LOGO: &str = include_str!("../../../../static/demo-logo.svg");
const ADMIN_CSS: &str = include_str!("../../../../static/admin.css");

/// `GET /static/site.css`.
pub async fn site_css() -> HttpResponse {
    asset("text/css; charset=utf-8", SITE_CSS)
}

/// `GET /static/admin.css`: the operator console's style.
pub async fn admin_css() -> HttpResponse {
    asset("text/css; charset=utf-8", ADMIN_CSS)
}

/// `GET /static/order.js`.
pub async fn order_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", ORDER_JS)
}

/// `GET /static/demo-logo.svg`: a logo for demo and test devices (`logo_url`), served here so
/// a demo needs no image from elsewhere.
pub async fn demo_logo() -> HttpResponse {
    asset("image/svg+xml", DEMO_LOGO)
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        // An hour: a new version's pages get its assets soon after a deploy.
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}
