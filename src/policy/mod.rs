//! Policy: validation of the GDP, GSLBHostRules and GSLBConfig, and the compiled rules that
//! selection and model building use.

pub mod hostrule_index;
pub mod select;
pub mod types;
