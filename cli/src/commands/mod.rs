//! The commands, by topic. Each parses nothing and knows no protocol rule: it names what to
//! open, asks the library, and says what happened, through the one shape in
//! [`crate::session`].

pub mod channel;
pub mod courier;
pub mod group;
pub mod join;
pub mod lifecycle;
pub mod outbox;
pub mod poll;
pub mod post;
pub mod profile;
