//! Plain text as HTML: every character escaped, then `http(s)://` addresses, `tel:` numbers,
//! `mailto:` and bare e-mail addresses made links, and line breaks kept as `<br>`. The only
//! tags in the result are ours (`<a>` and `<br>`); a link's address is one of those four
//! schemes, so `javascript:` (or anything else) is never a link. Used for the devices' own
//! texts (`coffee_domain::Branding`) through the templates' `linkify` filter.

use coffee_domain::ReceiptContact;
use std::collections::HashMap;

/// `text` as safe HTML with its links; see the module documentation.
pub fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                out.push(' ');
            }
            word_html(word, &mut out);
        }
    }
    out
}

/// The tera filter: `{{ text | linkify | safe }}` (`safe` because the filter escaped already).
pub fn linkify_filter(
    value: &tera::Value,
    _: &HashMap<String, tera::Value>,
) -> tera::Result<tera::Value> {
    match value {
        tera::Value::Null => Ok(tera::Value::String(String::new())),
        tera::Value::String(text) => Ok(tera::Value::String(linkify(text))),
        other => Err(tera::Error::msg(format!("linkify takes text, not {other}"))),
    }
}

/// One word (no spaces): text around at most one link.
fn word_html(word: &str, out: &mut String) {
    match find_link(word) {
        Some(Link { start, end, href }) => {
            escape_into(&word[..start], out);
            out.push_str("<a href=\"");
            escape_into(&href, out);
            out.push_str("\" rel=\"nofollow noopener noreferrer\">");
            escape_into(&word[start..end], out);
            out.push_str("</a>");
            escape_into(&word[end..], out);
        }
        None => escape_into(word, out),
    }
}

struct Link {
    /// Byte range of the link's text in the word.
    start: usize,
    end: usize,
    href: String,
}

const SCHEMES: [&str; 4] = ["https://", "http://", "tel:", "mailto:"];

fn find_link(word: &str) -> Option<Link> {
    let lower = word.to_ascii_lowercase();
    let scheme_at = SCHEMES
        .iter()
        .filter_map(|scheme| lower.find(scheme).map(|at| (at, *scheme)))
        // A scheme glued to letters before it (`xhttp://`) is not one.
        .filter(|(at, _)| {
            word[..*at]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
        })
        .min_by_key(|(at, _)| *at);
    if let Some((start, scheme)) = scheme_at {
        let end = start + trimmed_len(&word[start..]);
        let candidate = &word[start..end];
        let rest = &candidate[scheme.len()..];
        let href = match scheme {
            "https://" | "http://" => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                (!host.is_empty()).then(|| format!("{scheme}{rest}"))
            }
            "tel:" => phone_href(rest),
            _ => email(rest).map(|address| format!("mailto:{address}")),
        }?;
        return Some(Link { start, end, href });
    }
    // A bare e-mail address, perhaps in brackets or quotes.
    let at = word.find('@')?;
    let start = word[..at]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || "._%+-".contains(*c))
        .last()
        .map(|(i, _)| i)?;
    let end = start + trimmed_len(&word[start..]);
    let address = email(&word[start..end])?;
    Some(Link {
        start,
        end,
        href: format!("mailto:{address}"),
    })
}

/// The length of `candidate` without the punctuation that ends a sentence or closes a bracket
/// it did not open.
fn trimmed_len(candidate: &str) -> usize {
    let mut end = candidate.len();
    while let Some(last) = candidate[..end].chars().next_back() {
        let unbalanced_paren = last == ')'
            && candidate[..end].matches('(').count() < candidate[..end].matches(')').count();
        if ".,;:!?»\"'…".contains(last) || unbalanced_paren {
            end -= last.len_utf8();
        } else {
            break;
        }
    }
    end
}

/// `tel:` with the number's `+` and digits, when there are at least five digits and nothing
/// but digits, `+`, `-`, `(`, `)` and `.`.
fn phone_href(number: &str) -> Option<String> {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let plain = number
        .chars()
        .all(|c| c.is_ascii_digit() || "+-().".contains(c));
    (digits >= 5 && plain).then(|| {
        let kept: String = number
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        format!("tel:{kept}")
    })
}

/// An e-mail address as receipts accept them, with a dotted domain.
fn email(candidate: &str) -> Option<String> {
    let valid = ReceiptContact::email(candidate).is_ok()
        && candidate
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.contains('.') && !domain.ends_with('.'));
    valid.then(|| candidate.to_owned())
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2F;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::linkify;

    #[test]
    fn markup_in_the_text_is_escaped_and_never_a_tag() {
        assert_eq!(
            linkify("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"
        );
        let hostile = linkify(r#"<a href="javascript:alert(1)">x</a>"#);
        assert!(!hostile.contains("<a"), "{hostile}");
        assert!(!hostile.contains("href=\"javascript"), "{hostile}");
    }

    #[test]
    fn a_javascript_address_is_never_a_link() {
        assert_eq!(linkify("javascript:alert(1)"), "javascript:alert(1)");
        // Only the https address inside becomes a link; the javascript: one never does.
        let nested = linkify("javascript:alert('https://x')");
        assert!(
            nested.starts_with("javascript:alert(&#x27;<a href=\"https:"),
            "{nested}"
        );
        assert!(!nested.contains("href=\"javascript"), "{nested}");
    }

    #[test]
    fn web_addresses_become_links_without_the_sentence_punctuation() {
        assert_eq!(
            linkify("Меню: https://coffee.example/menu?a=1&b=2."),
            "Меню: <a href=\"https:&#x2F;&#x2F;coffee.example&#x2F;menu?a=1&amp;b=2\" rel=\"nofollow noopener noreferrer\">https:&#x2F;&#x2F;coffee.example&#x2F;menu?a=1&amp;b=2</a>."
        );
        assert!(linkify("(http://a.example/x)").starts_with("(<a href=\"http:"));
        assert!(linkify("(http://a.example/x)").ends_with("</a>)"));
        assert_eq!(linkify("https://"), "https:&#x2F;&#x2F;");
    }

    #[test]
    fn tel_numbers_and_email_addresses_become_links() {
        assert_eq!(
            linkify("Звоните tel:+7(900)123-45-67, пишите help@coffee.example"),
            "Звоните <a href=\"tel:+79001234567\" rel=\"nofollow noopener noreferrer\">tel:+7(900)123-45-67</a>, \
             пишите <a href=\"mailto:help@coffee.example\" rel=\"nofollow noopener noreferrer\">help@coffee.example</a>"
        );
        assert!(linkify("mailto:a@b.example").contains("href=\"mailto:a@b.example\""));
        assert_eq!(linkify("tel:12"), "tel:12");
        assert_eq!(linkify("кофе@дома"), "кофе@дома");
    }

    #[test]
    fn line_breaks_are_kept() {
        assert_eq!(linkify("Первая\nВторая"), "Первая<br>Вторая");
    }
}
