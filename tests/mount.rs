//! Mount tests (being written).
