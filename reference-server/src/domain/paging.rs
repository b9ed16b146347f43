//! Keyset paging: the lists of cases, F1 rows and accounts are read a page at a time from a
//! key (a case number, a row, a user name), never by counting rows to skip, so that a row
//! added or removed between two pages neither repeats nor hides another.
//!
//! A list has a fixed order. A page starts at the beginning ([`Cursor::First`]), right after
//! a key ([`Cursor::After`]: the next page) or right before one ([`Cursor::Before`]: the
//! previous page), and says where the pages next to it start.

/// Rows of a page unless the request asks for another number.
pub const DEFAULT_PAGE: usize = 50;
/// Most rows of a page.
pub const MAX_PAGE: usize = 500;

/// Where a page starts, in the list's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor<K> {
    /// At the beginning.
    First,
    /// Right after the row with this key.
    After(K),
    /// Right before the row with this key (the page ends there).
    Before(K),
}

/// One page of a list, in the list's order, and where its neighbours start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, K> {
    /// Its rows.
    pub items: Vec<T>,
    /// The previous page, if rows come before this one.
    pub prev: Option<Cursor<K>>,
    /// The next page, if rows come after this one.
    pub next: Option<Cursor<K>>,
}

/// A key as a cursor is written in a link or a query (`after=…`, `before=…`).
pub trait CursorKey: Sized + Clone {
    /// The text.
    fn to_text(&self) -> String;
    /// The key of a text, if it is one.
    fn from_text(text: &str) -> Option<Self>;
}

impl CursorKey for u64 {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl CursorKey for String {
    fn to_text(&self) -> String {
        self.clone()
    }
    fn from_text(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

/// Two numbers, as `12-3` (a case and its row, a table section and a row).
impl CursorKey for (u64, u32) {
    fn to_text(&self) -> String {
        format!("{}-{}", self.0, self.1)
    }
    fn from_text(text: &str) -> Option<Self> {
        let (a, b) = text.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

/// Which way a scan reads from its starting key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// In the list's order.
    Forward,
    /// Against it.
    Backward,
}

/// The page `cursor` names, of at most `limit` rows (1 and up), read with `scan`: `scan(from,
/// direction, n)` gives at most `n` rows strictly past key `from` (from the list's start or
/// end when `None`) in `direction`, nearest first. Each page costs one scan of `limit + 1`
/// rows and at most one of 1 row.
pub fn keyset_page<T, K: Clone, E>(
    cursor: &Cursor<K>,
    limit: usize,
    key: impl Fn(&T) -> K,
    mut scan: impl FnMut(Option<&K>, Direction, usize) -> Result<Vec<T>, E>,
) -> Result<Page<T, K>, E> {
    let (from, direction) = match cursor {
        Cursor::First => (None, Direction::Forward),
        Cursor::After(k) => (Some(k), Direction::Forward),
        Cursor::Before(k) => (Some(k), Direction::Backward),
    };
    let mut items = scan(from, direction, limit + 1)?;
    let more = items.len() > limit;
    items.truncate(limit);
    if direction == Direction::Backward {
        items.reverse();
    }
    let (first, last) = (items.first().map(&key), items.last().map(&key));
    let mut any = |from: Option<&K>, d: Direction| scan(from, d, 1).map(|rows| !rows.is_empty());
    let (prev, next) = match direction {
        Direction::Forward => {
            let next = last.filter(|_| more).map(Cursor::After);
            let prev = match (from, first) {
                (None, _) => None,
                (Some(_), Some(first)) => {
                    any(Some(&first), Direction::Backward)?.then_some(Cursor::Before(first))
                }
                // Nothing after the key: back to the start, if there is anything.
                (Some(_), None) => any(None, Direction::Forward)?.then_some(Cursor::First),
            };
            (prev, next)
        }
        Direction::Backward => {
            let prev = first.filter(|_| more).map(Cursor::Before);
            let next = match last {
                Some(last) => any(Some(&last), Direction::Forward)?.then_some(Cursor::After(last)),
                None => any(None, Direction::Forward)?.then_some(Cursor::First),
            };
            (prev, next)
        }
    };
    Ok(Page { items, prev, next })
}

/// [`keyset_page`] over rows already in memory, sorted in the list's order by `key` (each key
/// once).
pub fn page_of<T: Clone, K: Ord + Clone>(
    rows: &[T],
    cursor: &Cursor<K>,
    limit: usize,
    key: impl Fn(&T) -> K,
) -> Page<T, K> {
    let scan = |from: Option<&K>, direction: Direction, n: usize| {
        let rows: Vec<T> = match (from, direction) {
            (None, Direction::Forward) => rows.iter().take(n).cloned().collect(),
            (None, Direction::Backward) => rows.iter().rev().take(n).cloned().collect(),
            (Some(k), Direction::Forward) => {
                let start = rows.partition_point(|r| key(r) <= *k);
                rows[start..].iter().take(n).cloned().collect()
            }
            (Some(k), Direction::Backward) => {
                let end = rows.partition_point(|r| key(r) < *k);
                rows[..end].iter().rev().take(n).cloned().collect()
            }
        };
        Ok::<_, std::convert::Infallible>(rows)
    };
    match keyset_page(cursor, limit, &key, scan) {
        Ok(page) => page,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page from the first to the last and back: each row once, in order, with no row
    /// lost where pages meet, for every page size.
    #[test]
    fn pages_forward_and_back_cover_every_row_once() {
        let rows: Vec<u64> = (1..=23).map(|n| n * 3).collect();
        for limit in 1..=25 {
            let mut seen = Vec::new();
            let mut cursor = Cursor::First;
            let mut pages = Vec::new();
            loop {
                let page = page_of(&rows, &cursor, limit, |r| *r);
                assert!(page.items.len() <= limit);
                seen.extend(page.items.iter().copied());
                pages.push(page.clone());
                match page.next {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
            assert_eq!(seen, rows, "limit {limit}");
            assert_eq!(pages[0].prev, None);
            // Back from the last page: the same pages, in reverse.
            let mut back = pages.last().unwrap().prev.clone();
            for expected in pages.iter().rev().skip(1) {
                let page = page_of(&rows, back.as_ref().unwrap(), limit, |r| *r);
                assert_eq!(page.items, expected.items, "limit {limit}");
                back = page.prev;
            }
            assert_eq!(back, None, "limit {limit}");
        }
    }

    #[test]
    fn a_page_past_the_end_leads_back_and_an_empty_list_has_no_neighbours() {
        let rows = [1u64, 2, 3];
        let past = page_of(&rows, &Cursor::After(3), 2, |r| *r);
        assert!(past.items.is_empty());
        assert_eq!((past.prev, past.next), (Some(Cursor::First), None));
        let before = page_of(&rows, &Cursor::Before(1), 2, |r| *r);
        assert!(before.items.is_empty());
        assert_eq!((before.prev, before.next), (None, Some(Cursor::First)));
        let empty = page_of::<u64, u64>(&[], &Cursor::First, 2, |r| *r);
        assert_eq!((empty.prev, empty.next), (None, None));
        // A key between rows (its row gone) still splits the list there.
        let mid = page_of(&[1u64, 5, 9], &Cursor::After(4), 1, |r| *r);
        assert_eq!(mid.items, [5]);
        assert_eq!(mid.prev, Some(Cursor::Before(5)));
        assert_eq!(mid.next, Some(Cursor::After(5)));
    }

    #[test]
    fn pair_keys_are_written_and_read_back() {
        assert_eq!((12u64, 3u32).to_text(), "12-3");
        assert_eq!(<(u64, u32)>::from_text("12-3"), Some((12, 3)));
        assert_eq!(<(u64, u32)>::from_text("12"), None);
        assert_eq!(<(u64, u32)>::from_text("a-3"), None);
        assert_eq!(u64::from_text("x"), None);
    }
}
