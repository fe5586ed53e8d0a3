//! Each device's face to its customers (logo, texts on the order and error pages, a text per
//! order status) and each drink's receipt data. Texts are plain text — never HTML: the pages
//! escape them and only then turn URLs, `tel:` numbers and e-mail addresses into links.
//! [`plain_text_from_html`] converts the HTML the original system allowed.

use crate::OrderStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest branding text (client info, error info, a status text), in characters.
pub const MAX_BRANDING_TEXT_CHARS: usize = 2000;
/// Longest logo URL, in characters.
pub const MAX_LOGO_URL_CHARS: usize = 2000;

/// YooKassa receipt item `measure` values (54-FZ tag 2108).
pub const RECEIPT_MEASURES: [&str; 24] = [
    "piece",
    "gram",
    "kilogram",
    "ton",
    "centimeter",
    "decimeter",
    "meter",
    "square_centimeter",
    "square_decimeter",
    "square_meter",
    "milliliter",
    "liter",
    "cubic_meter",
    "kilowatt_hour",
    "gigacalorie",
    "day",
    "hour",
    "minute",
    "second",
    "kilobyte",
    "megabyte",
    "gigabyte",
    "terabyte",
    "another",
];

/// YooKassa receipt item `payment_subject` values (54-FZ tag 1212); T-Bank's `PaymentObject`
/// uses the same words.
pub const RECEIPT_PAYMENT_SUBJECTS: [&str; 13] = [
    "commodity",
    "excise",
    "job",
    "service",
    "gambling_bet",
    "gambling_prize",
    "lottery",
    "lottery_prize",
    "intellectual_activity",
    "payment",
    "agent_commission",
    "composite",
    "another",
];

/// YooKassa receipt item `payment_mode` values (54-FZ tag 1214); T-Bank's `PaymentMethod`
/// spells `partial_prepayment` as `prepayment`.
pub const RECEIPT_PAYMENT_MODES: [&str; 7] = [
    "full_prepayment",
    "partial_prepayment",
    "advance",
    "full_payment",
    "partial_payment",
    "credit",
    "credit_payment",
];

/// How a device presents itself to customers. All texts are plain text (never HTML).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Branding {
    /// An `https://` (or `http://`) URL of the logo shown on the order page.
    pub logo_url: Option<String>,
    /// Shown on the order page.
    pub client_info: Option<String>,
    /// Shown on error pages (e.g. the support phone).
    pub client_error_info: Option<String>,
    /// Overrides our text for an order in that status.
    pub status_texts: BTreeMap<OrderStatus, String>,
}

impl Branding {
    /// The device's own text for an order in `status`, if it has one.
    pub fn status_text(&self, status: OrderStatus) -> Option<&str> {
        self.status_texts.get(&status).map(String::as_str)
    }

    /// Whether the device says nothing of its own.
    pub fn is_empty(&self) -> bool {
        self == &Branding::default()
    }
}

/// Receipt data of one drink; each field overrides the merchant's default in the receipt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrinkReceipt {
    /// YooKassa `vat_code` 1..=12 (mapped to T-Bank's `Tax` for T-Bank).
    pub vat_code: Option<u8>,
    /// One of [`RECEIPT_MEASURES`], e.g. `"piece"`.
    pub measure: Option<String>,
    /// One of [`RECEIPT_PAYMENT_SUBJECTS`], e.g. `"commodity"`.
    pub payment_subject: Option<String>,
    /// One of [`RECEIPT_PAYMENT_MODES`], e.g. `"full_payment"`.
    pub payment_mode: Option<String>,
}

impl DrinkReceipt {
    /// Whether the drink overrides nothing.
    pub fn is_empty(&self) -> bool {
        self == &DrinkReceipt::default()
    }
}

/// A branding text as it is kept: like [`crate::order::shown_text`] (no control characters
/// nor the invisible marks that reorder text, trimmed) except that line breaks stay, as `\n`;
/// tabs become spaces and every line loses its trailing spaces.
pub fn branding_text(raw: &str) -> String {
    let unified = raw.replace("\r\n", "\n").replace('\r', "\n");
    let cleaned: String = unified
        .chars()
        .filter_map(|c| match c {
            '\n' => Some('\n'),
            '\t' => Some(' '),
            c if c.is_control() => None,
            '\u{200E}'
            | '\u{200F}'
            | '\u{061C}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' => None,
            c => Some(c),
        })
        .collect();
    let lines: Vec<&str> = cleaned.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_owned()
}

/// Whether `url` is an absolute `http(s)` URL with a host and nothing a browser would read
/// differently (no whitespace, quotes or angle brackets).
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty()
                && !url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'<>\\`".contains(c))
        }
        None => false,
    }
}

/// Converts the original system's HTML to our plain text: tags stripped, `<a href>` kept as
/// "text (url)" unless text == url, `<br>`/`<p>`/`<div>` become line breaks, entities decoded.
/// `<script>` and `<style>` go with their content; a link whose address is not `http(s)`,
/// `mailto:` or `tel:` (e.g. `javascript:`) keeps its text only. Text without any tag or
/// entity is taken as plain text already (its line breaks are kept). Returns the text and
/// whether anything was changed (the importer reports it).
pub fn plain_text_from_html(html: &str) -> (String, bool) {
    let text = if looks_like_html(html) {
        HtmlToText::default().convert(html)
    } else {
        html.to_owned()
    };
    let text = branding_text(&text);
    let changed = text != html;
    (text, changed)
}

/// Whether `text` holds a tag (`<p`, `</`, `<!--`, `<br/>` …) or an entity (`&amp;`, `&#39;`):
/// a lone `<` or `&` in plain text does not make it HTML.
fn looks_like_html(text: &str) -> bool {
    let tag = text.match_indices('<').any(|(at, _)| {
        text[at + 1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!')
    });
    let entity = text.match_indices('&').any(|(at, _)| {
        let after = &text[at + 1..];
        after.find(';').is_some_and(|end| {
            end > 0
                && end <= 10
                && after[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '#')
        })
    });
    tag || entity
}

/// Elements whose start and end are line breaks.
const BLOCK_TAGS: [&str; 16] = [
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
    "section",
    "blockquote",
    "pre",
];

/// Elements dropped with everything inside them.
const DROPPED_TAGS: [&str; 6] = ["script", "style", "head", "title", "iframe", "noscript"];

#[derive(Default)]
struct HtmlToText {
    out: String,
    /// The open `<a>`: its (safe) address and where its text starts in `out`.
    link: Option<(Option<String>, usize)>,
}

impl HtmlToText {
    fn convert(mut self, html: &str) -> String {
        let mut rest = html;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("<!--") {
                rest = after.find("-->").map_or("", |end| &after[end + 3..]);
                continue;
            }
            if rest.starts_with('<') {
                if let Some((tag, after)) = parse_tag(rest) {
                    rest = self.tag(tag, after);
                    continue;
                }
            }
            // A `<` that opens no tag is text.
            let end = if rest.starts_with('<') {
                1
            } else {
                rest.find('<').unwrap_or(rest.len())
            };
            self.text(&rest[..end]);
            rest = &rest[end..];
        }
        self.close_link();
        self.out
    }

    /// Text between tags: entities decoded, whitespace collapsed as a browser would.
    fn text(&mut self, raw: &str) {
        let decoded = decode_entities(raw);
        for c in decoded.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                if !(self.out.is_empty() || self.out.ends_with([' ', '\n'])) {
                    self.out.push(' ');
                }
            } else if c == '\u{a0}' {
                self.out.push(' ');
            } else {
                self.out.push(c);
            }
        }
    }

    fn line_break(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
    }

    fn block_edge(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// Handles one tag; returns what follows it.
    fn tag<'a>(&mut self, tag: Tag, after: &'a str) -> &'a str {
        let name = tag.name.as_str();
        if DROPPED_TAGS.contains(&name) {
            if tag.closing || tag.self_closing {
                return after;
            }
            return skip_element(name, after);
        }
        match name {
            "br" => self.line_break(),
            "a" if tag.closing => self.close_link(),
            "a" => {
                self.close_link();
                let href = tag
                    .href
                    .map(|h| decode_entities(&h))
                    .filter(|h| is_safe_href(h));
                self.link = Some((href.map(|h| h.trim().to_owned()), self.out.len()));
            }
            name if BLOCK_TAGS.contains(&name) => self.block_edge(),
            _ => {}
        }
        after
    }

    fn close_link(&mut self) {
        let Some((href, start)) = self.link.take() else {
            return;
        };
        let Some(href) = href else {
            return;
        };
        let text = self.out[start..].trim().to_owned();
        let bare = href
            .strip_prefix("mailto:")
            .unwrap_or(&href)
            .trim_end_matches('/');
        if text.is_empty() {
            self.out.push_str(&href);
        } else if text != href && text.trim_end_matches('/') != bare {
            while self.out.ends_with(' ') {
                self.out.pop();
            }
            self.out.push_str(" (");
            self.out.push_str(&href);
            self.out.push(')');
        }
    }
}

struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
    href: Option<String>,
}

/// Reads a tag at the start of `input` (`<` …): `None` when it is not one (a lone `<`).
fn parse_tag(input: &str) -> Option<(Tag, &str)> {
    let body = &input[1..];
    let (closing, body) = match body.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let first = body.chars().next()?;
    if !(first.is_ascii_alphabetic() || (first == '!' && !closing)) {
        return None;
    }
    // Find the end of the tag, honouring quoted attribute values.
    let mut quote: Option<char> = None;
    let mut end = None;
    for (i, c) in body.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => {
                end = Some(i);
                break;
            }
            (None, _) => {}
        }
    }
    let end = end?;
    let inner = &body[..end];
    let after = &body[end + 1..];
    let name_len = inner
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(inner.len());
    let name = inner[..name_len].to_ascii_lowercase();
    let attributes = &inner[name_len..];
    Some((
        Tag {
            href: attribute(attributes, "href"),
            self_closing: inner.ends_with('/'),
            name,
            closing,
        },
        after,
    ))
}

/// The value of attribute `wanted` (quoted or not), entities still encoded.
fn attribute(mut attributes: &str, wanted: &str) -> Option<String> {
    loop {
        attributes = attributes.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if attributes.is_empty() {
            return None;
        }
        let name_end = attributes
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(attributes.len());
        let name = attributes[..name_end].to_ascii_lowercase();
        attributes = attributes[name_end..].trim_start();
        let value = if let Some(rest) = attributes.strip_prefix('=') {
            let rest = rest.trim_start();
            let (value, remaining) = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let inner = &rest[1..];
                    let close = inner.find(q).unwrap_or(inner.len());
                    (&inner[..close], inner.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let close = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    (&rest[..close], &rest[close..])
                }
            };
            attributes = remaining;
            Some(value.to_owned())
        } else {
            None
        };
        if name == wanted {
            return value;
        }
    }
}

/// Skips everything up to and including `</name>` (case-insensitive); all of it without one.
fn skip_element<'a>(name: &str, input: &'a str) -> &'a str {
    let lower = input.to_ascii_lowercase();
    let closing = format!("</{name}");
    match lower.find(&closing) {
        Some(start) => {
            let tail = &input[start..];
            tail.find('>').map_or("", |end| &tail[end + 1..])
        }
        None => "",
    }
}

/// Whether a link's address may stay a link: `http(s)`, `mailto:` or `tel:` only. Browsers
/// ignore tabs and line breaks inside a scheme (`java\tscript:`), so they are ignored here too.
fn is_safe_href(href: &str) -> bool {
    let compact: String = href
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    compact.starts_with("https://")
        || compact.starts_with("http://")
        || compact.starts_with("mailto:")
        || compact.starts_with("tel:")
}

/// Decodes the named entities the original's texts use and every numeric one; an unknown
/// entity stays as written.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.get(1..).and_then(|after| {
            let end = after.find(';').filter(|&end| end <= 10)?;
            let entity = &after[..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "laquo" => Some('«'),
                "raquo" => Some('»'),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                "hellip" => Some('…'),
                "copy" => Some('©'),
                "rub" => Some('₽'),
                numeric => numeric
                    .strip_prefix("#x")
                    .or_else(|| numeric.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| numeric.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, end + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(html: &str) -> String {
        plain_text_from_html(html).0
    }

    #[test]
    fn a_script_block_is_dropped_with_its_content() {
        assert_eq!(
            plain("Привет<script>alert('x<b>')</script> мир"),
            "Привет мир"
        );
        assert_eq!(plain("<SCRIPT type=\"x\">evil()</SCRIPT>ok"), "ok");
        assert_eq!(plain("<style>p{}</style>Текст"), "Текст");
        assert_eq!(plain("до<script>никогда не закрыт"), "до");
    }

    #[test]
    fn a_phone_link_keeps_its_text_and_its_number() {
        assert_eq!(
            plain(r#"<a href="tel:+79001234567">Позвоните</a> нам"#),
            "Позвоните (tel:+79001234567) нам"
        );
    }

    #[test]
    fn a_link_whose_text_is_its_address_is_written_once() {
        assert_eq!(
            plain(r#"Сайт: <a href="https://coffee.example/">https://coffee.example/</a>"#),
            "Сайт: https://coffee.example/"
        );
        assert_eq!(
            plain(r#"<a href="mailto:help@coffee.example">help@coffee.example</a>"#),
            "help@coffee.example"
        );
        assert_eq!(
            plain(r#"<a href='https://coffee.example/menu'></a>"#),
            "https://coffee.example/menu"
        );
    }

    #[test]
    fn a_javascript_link_keeps_its_text_and_loses_its_address() {
        assert_eq!(plain(r#"<a href="javascript:alert(1)">x</a>"#), "x");
        assert_eq!(plain("<a href=\"java\tscript:alert(1)\">y</a>"), "y");
        assert_eq!(plain(r#"<a href="data:text/html,evil">z</a>"#), "z");
        assert_eq!(plain(r#"<a onclick="evil()">w</a>"#), "w");
    }

    #[test]
    fn breaks_paragraphs_and_divs_become_line_breaks() {
        assert_eq!(
            plain("Строка 1<br>Строка 2<br/>Строка 3"),
            "Строка 1\nСтрока 2\nСтрока 3"
        );
        assert_eq!(plain("<p>Первый</p><p>Второй</p>"), "Первый\nВторой");
        assert_eq!(plain("<div>Один</div>\n  <div>Два</div>"), "Один\nДва");
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(plain("Чай &amp; кофе"), "Чай & кофе");
        assert_eq!(
            plain("&lt;b&gt; &quot;x&quot; &#39;y&#39; &#x41;"),
            "<b> \"x\" 'y' A"
        );
        assert_eq!(plain("a&nbsp;b &unknown; &"), "a b &unknown; &");
    }

    #[test]
    fn nested_tags_are_stripped_and_their_text_kept() {
        assert_eq!(
            plain(
                r#"<div><b>Поддержка: <i><a href="tel:+78001234567"><span>8 800</span></a></i></b></div>"#
            ),
            "Поддержка: 8 800 (tel:+78001234567)"
        );
        assert_eq!(plain("<!-- note -->a < b"), "a < b");
    }

    #[test]
    fn plain_text_stays_as_it_is_and_is_not_reported_changed() {
        let text = "Поддержка: +7 900 123-45-67\nпишите help@coffee.example";
        assert_eq!(plain_text_from_html(text), (text.to_owned(), false));
        assert_eq!(
            plain_text_from_html("<b>Жирный</b>"),
            ("Жирный".to_owned(), true)
        );
    }

    #[test]
    fn a_lone_ampersand_or_angle_bracket_leaves_plain_text_plain() {
        let text = "Чай & кофе < 100 ₽\nЗвоните";
        assert_eq!(plain_text_from_html(text), (text.to_owned(), false));
        assert_eq!(
            plain_text_from_html("Чай &amp; кофе\nЗвоните"),
            ("Чай & кофе Звоните".to_owned(), true)
        );
    }

    #[test]
    fn branding_text_keeps_line_breaks_and_drops_what_reorders_text() {
        assert_eq!(
            branding_text(" Первая  \r\nВторая\u{202E}\u{0007}\tконец \n"),
            "Первая\nВторая конец"
        );
    }

    #[test]
    fn only_absolute_http_urls_are_logo_urls() {
        assert!(is_http_url("https://cdn.example/logo.png"));
        assert!(is_http_url("http://cdn.example"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("javascript:alert(1)"));
        assert!(!is_http_url("//cdn.example/logo.png"));
        assert!(!is_http_url("https://cdn.example/a b.png"));
        assert!(!is_http_url("https://cdn.example/\"onerror=\"x"));
    }
}
