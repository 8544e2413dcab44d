//! Reading a collection page by page: what one answer holds, and when to stop. The controller's
//! answers are untrusted: a `next` on every page, or a `count` that does not match the pages, must
//! end in an error instead of reading forever. A real controller fills every page but the last,
//! and a collection may grow a little while it is read (objects created meanwhile), so the rules
//! allow that and no more.

use serde_json::Value;

/// Pages beyond what the first page's `count` implies that may still come (objects created while
/// the collection is read).
const SLACK_PAGES: usize = 2;
/// No collection amko-rs reads holds more objects than this.
pub const MAX_OBJECTS: usize = 10_000_000;

/// One answer of a collection read: `{"count": n, "results": [...], "next": "<url>"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionPage {
    /// `count`: objects in the whole collection (0 when absent or not a number).
    pub count: usize,
    /// `results`: this page's objects.
    pub results: Vec<Value>,
    /// A non-null `next` names another page.
    pub has_next: bool,
}

/// Reads one collection answer (`None`: the controller answered without a body). An answer
/// without a `results` list is not a collection; the error says so.
pub fn collection_page(body: Option<Value>) -> Result<CollectionPage, &'static str> {
    let mut body = body.unwrap_or(Value::Null);
    let count = body
        .get("count")
        .and_then(Value::as_u64)
        .map_or(0, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let has_next = !body.get("next").is_none_or(Value::is_null);
    match body.get_mut("results").map(Value::take) {
        Some(Value::Array(results)) => Ok(CollectionPage {
            count,
            results,
            has_next,
        }),
        _ => Err("collection answer has no results list"),
    }
}

/// What to do after a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageStep {
    /// Read the next page.
    Next,
    /// The collection is complete.
    Done,
    /// The answers cannot describe a finite collection; the reason names what was wrong.
    Inconsistent(String),
}

/// The progress of reading one collection.
#[derive(Clone, Debug)]
pub struct Paging {
    page_size: usize,
    pages: usize,
    seen: usize,
    first_count: Option<usize>,
}

impl Paging {
    pub fn new(page_size: usize) -> Self {
        Paging {
            page_size: page_size.max(1),
            pages: 0,
            seen: 0,
            first_count: None,
        }
    }

    /// Records a page of `fetched` objects whose answer said `count` objects in all and whether
    /// it named a `next` page.
    pub fn after_page(&mut self, count: usize, fetched: usize, has_next: bool) -> PageStep {
        self.pages += 1;
        self.seen = self.seen.saturating_add(fetched);
        let first_count = *self.first_count.get_or_insert(count);
        if !has_next || fetched == 0 || self.seen >= count {
            return PageStep::Done;
        }
        if fetched > self.page_size {
            return PageStep::Inconsistent(format!(
                "page {} holds {fetched} objects, more than the page size {}, and names a next page",
                self.pages, self.page_size
            ));
        }
        if fetched < self.page_size {
            return PageStep::Inconsistent(format!(
                "page {} holds {fetched} of {} objects yet names a next page",
                self.pages, self.page_size
            ));
        }
        if first_count > MAX_OBJECTS {
            return PageStep::Inconsistent(format!(
                "the collection claims {first_count} objects, more than {MAX_OBJECTS}"
            ));
        }
        if self.pages >= first_count.div_ceil(self.page_size) + SLACK_PAGES {
            return PageStep::Inconsistent(format!(
                "{} pages read of a collection announced with {first_count} objects, and still a next page",
                self.pages
            ));
        }
        PageStep::Next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One page's answer: (count, objects fetched, names a next page).
    type Page = (usize, usize, bool);

    #[test]
    fn a_collection_answer_is_read_leniently_but_needs_a_results_list() {
        let page = |text: &str| collection_page(Some(serde_json::from_str(text).expect("JSON")));
        let read = page(r#"{"count": 5, "next": "https://c/api/x?page=2", "results": [{}, {}]}"#)
            .expect("a page");
        assert_eq!(
            (read.count, read.results.len(), read.has_next),
            (5, 2, true)
        );
        let last = page(r#"{"count": "5", "next": null, "results": []}"#).expect("a page");
        assert_eq!(
            (last.count, last.results.len(), last.has_next),
            (0, 0, false)
        );
        let huge = page(r#"{"count": 18446744073709551615, "results": []}"#).expect("a page");
        assert_eq!(huge.count as u64, u64::MAX);
        for not_a_page in [r#"{"results": {}}"#, r#"{"error": "x"}"#, "[]", "null"] {
            assert_eq!(
                page(not_a_page),
                Err("collection answer has no results list"),
                "{not_a_page}"
            );
        }
        assert!(collection_page(None).is_err());
    }

    /// Each case: pages as (count, fetched, has next), and the step after each.
    #[test]
    fn paging_table() {
        use PageStep::{Done, Next};
        let inconsistent = |step: &PageStep| matches!(step, PageStep::Inconsistent(_));
        let cases: Vec<(&str, Vec<Page>, Vec<PageStep>)> = vec![
            ("empty", vec![(0, 0, false)], vec![Done]),
            ("one page", vec![(2, 2, false)], vec![Done]),
            (
                "a server ignoring the page size",
                vec![(5, 5, false)],
                vec![Done],
            ),
            (
                "three pages",
                vec![(5, 2, true), (5, 2, true), (5, 1, false)],
                vec![Next, Next, Done],
            ),
            ("the count reached", vec![(2, 2, true)], vec![Done]),
            (
                "an empty page ends it",
                vec![(9, 2, true), (9, 0, true)],
                vec![Next, Done],
            ),
            (
                "objects created while reading: up to two pages more",
                vec![(4, 2, true), (6, 2, true), (8, 2, true), (8, 2, false)],
                vec![Next, Next, Next, Done],
            ),
        ];
        for (what, pages, steps) in cases {
            let mut paging = Paging::new(2);
            for (index, ((count, fetched, next), expected)) in
                pages.into_iter().zip(steps).enumerate()
            {
                assert_eq!(
                    paging.after_page(count, fetched, next),
                    expected,
                    "{what}, page {index}"
                );
            }
        }
        let endless: Vec<(&str, Vec<Page>)> = vec![
            ("a short page naming a next one", vec![(1_000, 1, true)]),
            ("more than a page", vec![(10, 3, true)]),
            (
                "full pages far beyond the count",
                vec![
                    (4, 2, true),
                    (4_000, 2, true),
                    (4_000, 2, true),
                    (4_000, 2, true),
                ],
            ),
            (
                "a count beyond any collection",
                vec![(MAX_OBJECTS + 1, 2, true)],
            ),
        ];
        for (what, pages) in endless {
            let mut paging = Paging::new(2);
            let last = pages
                .into_iter()
                .map(|(count, fetched, next)| paging.after_page(count, fetched, next))
                .last()
                .expect("a page");
            assert!(inconsistent(&last), "{what}: {last:?}");
        }
    }
}
