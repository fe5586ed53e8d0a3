//! Ports: what the domain needs from the outside world. Adapters implement them; every
//! method documents the errors it must return.

mod changes;
mod console;
mod machines;
mod payments;
mod storage;

pub use changes::*;
pub use console::*;
pub use machines::*;
pub use payments::*;
pub use storage::*;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An adapter's error with all its causes on one line (`outer: cause: root cause`), for the
/// messages of the port errors it returns. Adapters share this one version.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
