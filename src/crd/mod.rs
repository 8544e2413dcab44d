//! Custom resources: amko-rs's own CRDs (group `amko.vmware.com`) and the foreign kinds it reads.

pub mod ako_hostrule;
pub mod amkocluster;
pub mod common;
pub mod gdp;
pub mod gslbconfig;
pub mod gslbhostrule;
pub mod manifest;
pub mod route;

pub use amkocluster::{AmkoCluster, AmkoClusterSpec, AmkoClusterStatus};
pub use gdp::{GlobalDeploymentPolicy, GlobalDeploymentPolicySpec, GlobalDeploymentPolicyStatus};
pub use gslbconfig::{GslbConfig, GslbConfigSpec, GslbConfigStatus};
pub use gslbhostrule::{GslbHostRule, GslbHostRuleSpec, GslbHostRuleStatus};
pub use manifest::{all_crds, crd_files, render_yaml};
