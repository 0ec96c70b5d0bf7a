//! Placeholder: written by the conntrack helper (nat rules).
