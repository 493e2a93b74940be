//! Unit tests of the audit on fixtures.
