//! End-to-end tests of the `bacap-chat` binary, run as a separate process; see `tests/`.
