//! Custom resources: amko-rs's own CRDs (group `amko.vmware.com`) and the foreign kinds it reads.

pub mod ako_hostrule;
pub mod route;
