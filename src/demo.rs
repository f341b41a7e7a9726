//! The embedded demo: keys, certificates, a synthetic data set, a sample
//! customer API and the gateway, in one command.

pub mod data;
pub mod upstream;
