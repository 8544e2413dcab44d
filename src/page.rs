//! One page of a long `/debug/*` answer: `?limit=N&continue=TOKEN`, a bounded default page size,
//! and the token of the next page. The token is an offset into the answer's stable order (sorted
//! by name), opaque to clients: pass back what `next` said. Between two pages the operator may
//! have changed the list, so an item can move across a page boundary; a debug listing accepts
//! that in exchange for pages that cost only what they hold.

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// Most items one page may hold.
pub const MAX_LIMIT: usize = 1000;

/// Which page a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: usize,
    pub limit: usize,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            offset: 0,
            limit: DEFAULT_LIMIT,
        }
    }
}

/// A query parameter of the page that is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit {given:?} is not a number from 1 to {MAX_LIMIT}")]
    Limit { given: String },
    #[error("continue token {given:?} is not one this endpoint handed out")]
    Continue { given: String },
}

impl PageRequest {
    /// The page from the query parameters `limit` and `continue` (absent: the first page of
    /// [`DEFAULT_LIMIT`]). A limit above [`MAX_LIMIT`] is refused rather than cut, so a client
    /// never mistakes a short page for the end.
    pub fn parse(limit: Option<&str>, token: Option<&str>) -> Result<Self, PageError> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(given) => given
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| PageError::Limit {
                    given: given.to_owned(),
                })?,
        };
        let offset = match token {
            None | Some("") => 0,
            Some(given) => given.parse::<usize>().map_err(|_| PageError::Continue {
                given: given.to_owned(),
            })?,
        };
        Ok(PageRequest { offset, limit })
    }

    /// This page of `items` (in their stable order) and the token of the next page (`None`: this
    /// is the last). Only the page's items are taken from the iterator beyond the skipped ones,
    /// so building them costs what the page holds.
    pub fn take<T>(&self, items: impl Iterator<Item = T>) -> Page<T> {
        let mut rest = items.skip(self.offset);
        let items: Vec<T> = rest.by_ref().take(self.limit).collect();
        let more = items.len() == self.limit && rest.next().is_some();
        Page {
            next: more.then(|| self.offset.saturating_add(self.limit).to_string()),
            items,
        }
    }
}

/// One page and the token of the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limit_and_token_and_refuses_what_it_cannot_honour() {
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Result<PageRequest, PageError>,
        );
        let cases: [Case; 7] = [
            (None, None, Ok(PageRequest::default())),
            (
                Some("5"),
                Some("10"),
                Ok(PageRequest {
                    offset: 10,
                    limit: 5,
                }),
            ),
            (
                Some("1000"),
                Some(""),
                Ok(PageRequest {
                    offset: 0,
                    limit: 1000,
                }),
            ),
            (Some("0"), None, Err(PageError::Limit { given: "0".into() })),
            (
                Some("1001"),
                None,
                Err(PageError::Limit {
                    given: "1001".into(),
                }),
            ),
            (
                Some("-1"),
                None,
                Err(PageError::Limit { given: "-1".into() }),
            ),
            (
                None,
                Some("abc"),
                Err(PageError::Continue {
                    given: "abc".into(),
                }),
            ),
        ];
        for (limit, token, want) in cases {
            assert_eq!(
                PageRequest::parse(limit, token),
                want,
                "{limit:?} {token:?}"
            );
        }
    }

    #[test]
    fn walks_every_item_once_and_ends_without_a_token() {
        let all: Vec<u32> = (0..7).collect();
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let request = PageRequest::parse(Some("3"), token.as_deref()).expect("valid");
            let page = request.take(all.iter().copied());
            seen.extend(page.items);
            pages += 1;
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!((seen, pages), (all, 3));
    }

    #[test]
    fn an_exact_fit_has_no_next_page_and_a_token_past_the_end_is_empty() {
        let page = PageRequest {
            offset: 0,
            limit: 3,
        }
        .take(0..3);
        assert_eq!(
            page,
            Page {
                items: vec![0, 1, 2],
                next: None
            }
        );
        let past = PageRequest {
            offset: usize::MAX,
            limit: 3,
        }
        .take(0..3);
        assert_eq!(
            past,
            Page {
                items: vec![],
                next: None
            }
        );
    }

    #[test]
    fn takes_only_what_the_page_needs_from_the_source() {
        let mut built = 0;
        let page = PageRequest {
            offset: 2,
            limit: 2,
        }
        .take((0..1_000_000).inspect(|_| built += 1));
        assert_eq!(page.items, vec![2, 3]);
        assert_eq!(page.next.as_deref(), Some("4"));
        assert_eq!(
            built, 5,
            "two skipped, two taken, one to know there is more"
        );
    }
}
