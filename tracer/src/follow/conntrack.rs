//! Placeholder: written by the conntrack helper.
