//! A Kubernetes Event the core decided to raise (a controller or member cluster became unreachable
//! or reachable again): the decision and its words are the core's, delivery is the actors'.

/// One Event: a warning or a normal event, its reason (CamelCase) and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}
