//! Data set placeholder.
#![allow(missing_docs)]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Customer { pub id: String }
pub struct DataSet { pub customers: Vec<Customer> }
impl DataSet { pub fn generate(_seed: u64, n: usize) -> DataSet { DataSet { customers: (0..n).map(|i| Customer { id: format!("C{}", 100000 + i) }).collect() } } }
