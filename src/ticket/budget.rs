//! Budgets placeholder.
#![allow(missing_docs)]
use chrono::{DateTime, Utc};
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct BudgetConfig {
    pub customers_per_agent_per_hour: u32,
    pub customers_per_ticket: u32,
}
#[derive(Debug, thiserror::Error)]
#[error("budget exceeded")]
pub struct BudgetExceeded;
#[derive(Clone)]
pub struct Budgets;
impl Budgets {
    pub fn new(_cfg: &BudgetConfig) -> Budgets {
        Budgets
    }
    pub fn admit(
        &self,
        _a: &str,
        _t: &str,
        _c: &str,
        _n: DateTime<Utc>,
    ) -> Result<(), BudgetExceeded> {
        Ok(())
    }
}
