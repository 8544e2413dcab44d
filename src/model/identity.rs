//! Member identities: how a GslbService's `description` names the members it was built from, and
//! reading them back. The writer reads the clusters back from the controller's copy to leave a
//! GslbService alone while one of its member clusters has not listed its objects yet, so writing
//! and reading must agree; both live here and nowhere else.
//!
//! One identity is `KIND/cluster/namespace/name` (`INGRESS/…/host` for an Ingress, which yields one
//! member per host), as AMKO writes it; identities are joined by `,`. A field is written as it is,
//! except that `%`, `/` and `,` become `%25`, `%2F` and `%2C`: ordinary names read exactly as AMKO
//! writes them, and any kubeconfig context name (an EKS ARN with `/` and `:`, `user@cluster`, a
//! name with `,`) still reads back as itself.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use crate::ingest::{ObjectKind, ObservationId};

const SEPARATOR: char = '/';
const LIST_SEPARATOR: char = ',';
const ESCAPE: char = '%';
const KINDS: [ObjectKind; 3] = [
    ObjectKind::Ingress,
    ObjectKind::Route,
    ObjectKind::LbService,
];

/// Writes the identity of `id` (what `ObservationId`'s `Display` shows).
pub fn write_identity(id: &ObservationId, out: &mut impl fmt::Write) -> fmt::Result {
    write!(
        out,
        "{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}",
        id.kind.token(),
        escape(&id.cluster),
        escape(&id.namespace),
        escape(&id.name)
    )?;
    if id.kind == ObjectKind::Ingress {
        write!(out, "{SEPARATOR}{}", escape(&id.host))?;
    }
    Ok(())
}

/// The identity of a whole object (`KIND/cluster/namespace/name`, no host), escaped as members
/// are: how `/debug/members` names an object that yields no member, so that its cluster reads
/// back with [`clusters_in_description`] whatever the context name holds.
pub fn object_identity(kind: ObjectKind, cluster: &str, namespace: &str, name: &str) -> String {
    format!(
        "{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}",
        kind.token(),
        escape(cluster),
        escape(namespace),
        escape(name)
    )
}

/// The identity of `id`.
pub fn identity(id: &ObservationId) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_identity(id, &mut out);
    out
}

/// The `description` of a GslbService built from `members` (in the order given).
pub fn describe_members<'a>(members: impl IntoIterator<Item = &'a ObservationId>) -> String {
    let mut out = String::new();
    for (i, id) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(LIST_SEPARATOR);
        }
        let _ = write_identity(id, &mut out);
    }
    // Grown by doubling while written; it is kept with the desired GslbService.
    out.shrink_to_fit();
    out
}

/// Reads one identity back; `None` when it is not one this module writes.
pub fn parse_identity(text: &str) -> Option<ObservationId> {
    let fields: Vec<&str> = text.split(SEPARATOR).collect();
    let kind = KINDS
        .into_iter()
        .find(|k| Some(&k.token()) == fields.first())?;
    let expected = if kind == ObjectKind::Ingress { 5 } else { 4 };
    if fields.len() != expected {
        return None;
    }
    Some(ObservationId {
        kind,
        cluster: unescape(fields[1]).into_owned(),
        namespace: unescape(fields[2]).into_owned(),
        name: unescape(fields[3]).into_owned(),
        host: fields
            .get(4)
            .map(|h| unescape(h).into_owned())
            .unwrap_or_default(),
    })
}

/// Every identity of a `description`, in order; `None` for a part that is not an identity.
pub fn parse_description(description: &str) -> impl Iterator<Item = Option<ObservationId>> + '_ {
    description
        .split(LIST_SEPARATOR)
        .filter(|part| !part.is_empty())
        .map(parse_identity)
}

/// The member clusters a `description` names. Lenient on purpose: the cluster is the second field
/// of each identity even when the rest does not parse (a description written by another version
/// still protects its members), and a part without a second field names none.
pub fn clusters_in_description(description: &str) -> BTreeSet<String> {
    description
        .split(LIST_SEPARATOR)
        .filter_map(|part| part.split(SEPARATOR).nth(1))
        .map(|cluster| unescape(cluster).into_owned())
        .collect()
}

/// A field with the separators (and the escape character itself) percent-encoded.
fn escape(field: &str) -> Cow<'_, str> {
    if !field.contains([ESCAPE, SEPARATOR, LIST_SEPARATOR]) {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len() + 6);
    for c in field.chars() {
        match c {
            ESCAPE => out.push_str("%25"),
            SEPARATOR => out.push_str("%2F"),
            LIST_SEPARATOR => out.push_str("%2C"),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// The inverse of [`escape`]. Only the three codes `escape` writes are decoded; any other `%` is
/// taken literally, so text this module did not write is read as it is.
fn unescape(field: &str) -> Cow<'_, str> {
    if !field.contains(ESCAPE) {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find(ESCAPE) {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 3).map(str::to_ascii_uppercase);
        let decoded = match code.as_deref() {
            Some("25") => Some(ESCAPE),
            Some("2F") => Some(SEPARATOR),
            Some("2C") => Some(LIST_SEPARATOR),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                out.push(ESCAPE);
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(kind: ObjectKind, cluster: &str, host: &str) -> ObservationId {
        ObservationId {
            kind,
            cluster: cluster.into(),
            namespace: "shop".into(),
            name: "web".into(),
            host: if kind == ObjectKind::Ingress {
                host.into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn ordinary_names_keep_amkos_format() {
        let cases = [
            (
                id(ObjectKind::Ingress, "east", "shop.example.com"),
                "INGRESS/east/shop/web/shop.example.com",
            ),
            (id(ObjectKind::Route, "ocp-1", ""), "ROUTE/ocp-1/shop/web"),
            (id(ObjectKind::LbService, "west", ""), "LBSVC/west/shop/web"),
            // `:`, `@`, `_` and `.` need no escaping.
            (
                id(ObjectKind::LbService, "kind-east@admin:8443", ""),
                "LBSVC/kind-east@admin:8443/shop/web",
            ),
            (
                id(ObjectKind::Route, "gke_project_europe-west1_c1", ""),
                "ROUTE/gke_project_europe-west1_c1/shop/web",
            ),
        ];
        for (id, text) in cases {
            assert_eq!(identity(&id), text);
            assert_eq!(id.to_string(), text, "Display is the identity");
            assert_eq!(parse_identity(text), Some(id), "{text}");
        }
    }

    #[test]
    fn any_context_name_round_trips() {
        let cases = [
            (
                "arn:aws:eks:eu-west-1:123456789012:cluster/prod",
                "arn:aws:eks:eu-west-1:123456789012:cluster%2Fprod",
            ),
            ("user@cluster,b", "user@cluster%2Cb"),
            ("a/b,c%d", "a%2Fb%2Cc%25d"),
            ("100%", "100%25"),
            // Text that looks like a code is itself escaped, so it reads back literally.
            ("%2F", "%252F"),
            ("ünï cödé", "ünï cödé"),
            ("", ""),
        ];
        for (cluster, written) in cases {
            for kind in KINDS {
                let id = id(kind, cluster, "a.example.com");
                let text = identity(&id);
                assert_eq!(text.split('/').nth(1), Some(written), "{text}");
                assert_eq!(parse_identity(&text), Some(id.clone()), "{text}");
                assert_eq!(
                    clusters_in_description(&text),
                    BTreeSet::from([cluster.to_owned()])
                );
                let object = object_identity(kind, cluster, "shop", "web");
                assert_eq!(
                    object,
                    format!("{}/{written}/shop/web", kind.token()),
                    "an object is named as its members are, without the host"
                );
                assert_eq!(
                    clusters_in_description(&object),
                    BTreeSet::from([cluster.to_owned()])
                );
            }
        }
    }

    #[test]
    fn descriptions_list_members_and_their_clusters() {
        let members = [
            id(ObjectKind::Ingress, "east", "shop.example.com"),
            id(
                ObjectKind::Ingress,
                "arn:aws:eks:x:1:cluster/prod",
                "shop.example.com",
            ),
            id(ObjectKind::LbService, "a,b", ""),
        ];
        let description = describe_members(&members);
        assert_eq!(
            description,
            "INGRESS/east/shop/web/shop.example.com,\
             INGRESS/arn:aws:eks:x:1:cluster%2Fprod/shop/web/shop.example.com,\
             LBSVC/a%2Cb/shop/web"
        );
        let parsed: Vec<Option<ObservationId>> = parse_description(&description).collect();
        assert_eq!(
            parsed,
            members.iter().cloned().map(Some).collect::<Vec<_>>()
        );
        assert_eq!(
            clusters_in_description(&description),
            BTreeSet::from([
                "east".to_owned(),
                "arn:aws:eks:x:1:cluster/prod".to_owned(),
                "a,b".to_owned()
            ])
        );
        assert_eq!(describe_members(&[]), "");
        assert_eq!(parse_description("").count(), 0);
    }

    #[test]
    fn foreign_text_is_read_as_well_as_it_can() {
        let cases: [(&str, Option<ObservationId>, &[&str]); 7] = [
            ("", None, &[]),
            ("created by amko", None, &[]),
            ("INGRESS/east/shop/web", None, &["east"]),
            ("ROUTE/east/shop/web/extra", None, &["east"]),
            ("POD/east/shop/web", None, &["east"]),
            // An unknown code stays literal.
            (
                "LBSVC/50%off/shop/web",
                Some(id(ObjectKind::LbService, "50%off", "")),
                &["50%off"],
            ),
            (
                "LBSVC/%2f/shop/web",
                Some(id(ObjectKind::LbService, "/", "")),
                &["/"],
            ),
        ];
        for (text, parsed, clusters) in cases {
            assert_eq!(parse_identity(text), parsed, "{text}");
            let expected: BTreeSet<String> = clusters.iter().map(|c| (*c).to_owned()).collect();
            assert_eq!(clusters_in_description(text), expected, "{text}");
        }
    }

    proptest! {
        #[test]
        fn every_identity_round_trips(
            cluster in ".*",
            namespace in "[a-z0-9-]{1,20}",
            name in "[a-z0-9.-]{1,20}",
            host in "[a-z0-9.*-]{1,30}",
            kind in prop::sample::select(KINDS.to_vec()),
        ) {
            let id = ObservationId {
                kind,
                cluster,
                namespace,
                name,
                host: if kind == ObjectKind::Ingress { host } else { String::new() },
            };
            let text = identity(&id);
            prop_assert!(!text.contains(','));
            prop_assert_eq!(parse_identity(&text), Some(id.clone()));
            prop_assert_eq!(clusters_in_description(&text), BTreeSet::from([id.cluster]));
        }
    }
}
