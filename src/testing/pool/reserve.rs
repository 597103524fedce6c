//! The sessions the harness keeps open beside the tests' own: the part of a server's
//! `max_connections` that the tests' connection budget ([`super::budget`]) leaves to the
//! relay and the janitor. A file of its own, below all three, so that none of them imports
//! another for a number.

/// Idle sessions the relay keeps (native servers, on Unix), all databases together.
pub(crate) const RELAY_SESSIONS: u32 = 32;

/// Warm sessions the janitor keeps (servers the harness started).
pub(crate) const JANITOR_SESSIONS: u32 = 32;
