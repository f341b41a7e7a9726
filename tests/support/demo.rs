//! The demo data set shared by the data-set and sample-API tests: the seed
//! and size they generate it with.

/// Seed of the generated data set.
pub const SEED: u64 = 42;
/// Customers in the generated data set.
pub const CUSTOMERS: usize = 200;
