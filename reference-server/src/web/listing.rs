//! The query of a list (cases, F1 rows, accounts), as the JSON API and the console read it:
//! its filters, its page (`after` or `before` a key, `limit`), and the links to the pages
//! next to it, which keep the filters.
//!
//! A parameter that is not the list's, given twice, or not of its form is refused with
//! `400 bad_request` naming the parameter and its rule; an empty value is no condition.

use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::paging::{Cursor, CursorKey, DEFAULT_PAGE, MAX_PAGE, Page};
use crate::domain::store::{
    AccountFilter, CaseFilter, CaseStatus, F1Filter, FollowUpStatus, Role, Seconds,
};

/// The paging parameters every list takes.
pub const PAGING: [&str; 3] = ["after", "before", "limit"];
/// The filters of the case list.
pub const CASE_FILTERS: [&str; 6] = ["q", "status", "province", "facility", "from", "to"];
/// The filters of a case's F1 table.
pub const CASE_F1_FILTERS: [&str; 4] = ["status", "district", "from", "to"];
/// The filters of a unit's F1 rows.
pub const UNIT_F1_FILTERS: [&str; 5] = ["status", "district", "case", "from", "to"];
/// The filters of the account list.
pub const ACCOUNT_FILTERS: [&str; 2] = ["q", "role"];

/// How `from` and `to` are written.
#[derive(Clone, Copy, Debug)]
pub enum Times {
    /// Unix seconds (the JSON API); `to` is excluded.
    Seconds,
    /// Dates `YYYY-MM-DD` in a zone this many minutes from UTC (the console's forms); `to`
    /// is included (up to its end).
    Dates(i32),
}

/// A list request's query parameters.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pairs: Vec<(String, String)>,
    /// The parameters read elsewhere (as `format`, or a page's `done`): left out of the links
    /// to other pages.
    extra: Vec<String>,
}

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

/// Unix time of midnight starting `date` (`YYYY-MM-DD`) in a zone `offset_minutes` from UTC.
pub fn local_midnight(date: &str, offset_minutes: i32) -> Option<u64> {
    let mut parts = date.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 - i64::from(offset_minutes) * 60).ok()
}

impl ListQuery {
    /// The parameters of `query` (the URI's query string), each one of `filters` or of
    /// [`PAGING`], or else one of `also` (read elsewhere, as `format`), and each once.
    pub fn parse(
        query: Option<&str>,
        filters: &[&str],
        also: &[&str],
    ) -> Result<ListQuery, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            let known = filters.contains(&name.as_str())
                || PAGING.contains(&name.as_str())
                || also.contains(&name.as_str());
            if !known {
                let mut names: Vec<&str> = filters.to_vec();
                names.extend(PAGING);
                return Err(bad(format!(
                    "unknown query parameter {name:?}: this list takes {}",
                    names.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(bad(format!("query parameter {name:?} given twice")));
            }
        }
        Ok(ListQuery {
            pairs,
            extra: also.iter().map(|&name| name.to_owned()).collect(),
        })
    }

    /// The value of `name`, trimmed, if given and not empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn number<T: std::str::FromStr>(&self, name: &str, rule: &str) -> Result<Option<T>, ApiError> {
        self.text(name)
            .map(|v| v.parse().map_err(|_| bad(format!("{name}: {rule}"))))
            .transpose()
    }

    /// `from` and `to`: times at or after `from` and before `to`.
    fn times(&self, times: Times) -> Result<(Option<Seconds>, Option<Seconds>), ApiError> {
        match times {
            Times::Seconds => Ok((
                self.number("from", "a whole number of unix seconds")?,
                self.number("to", "a whole number of unix seconds")?,
            )),
            Times::Dates(offset) => {
                let date = |name: &str, next_day: bool| {
                    self.text(name)
                        .map(|d| {
                            local_midnight(d, offset)
                                .map(|t| if next_day { t + 86_400 } else { t })
                                .ok_or_else(|| bad(format!("{name}: a date, YYYY-MM-DD")))
                        })
                        .transpose()
                };
                Ok((date("from", false)?, date("to", true)?))
            }
        }
    }

    /// The page asked for: where it starts (`after` or `before` a key, not both) and its
    /// length (`limit`, 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] unless given).
    pub fn page<K: CursorKey>(&self, key_rule: &str) -> Result<(Cursor<K>, usize), ApiError> {
        let key = |name: &str| {
            self.text(name)
                .map(|v| K::from_text(v).ok_or_else(|| bad(format!("{name}: {key_rule}"))))
                .transpose()
        };
        let cursor = match (key("after")?, key("before")?) {
            (Some(_), Some(_)) => return Err(bad("after and before: one or the other".into())),
            (Some(k), None) => Cursor::After(k),
            (None, Some(k)) => Cursor::Before(k),
            (None, None) => Cursor::First,
        };
        let rule = format!("a whole number from 1 to {MAX_PAGE}");
        let limit = self
            .number::<usize>("limit", &rule)?
            .unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(bad(format!("limit: {rule}")));
        }
        Ok((cursor, limit))
    }

    /// The case list's filter: `q` (a case number, or text of the facility reference),
    /// `status`, `province` (code), `facility` (name), `from` and `to` (when opened).
    pub fn case_filter(&self, times: Times) -> Result<CaseFilter, ApiError> {
        let status =
            match self.text("status") {
                None => None,
                Some(s) => Some(CaseStatus::NAMES.into_iter().find(|n| *n == s).ok_or_else(
                    || bad(format!("status: one of {}", CaseStatus::NAMES.join(", "))),
                )?),
            };
        let (opened_from, opened_to) = self.times(times)?;
        Ok(CaseFilter {
            facility: self.text("facility").map(str::to_owned),
            province: self.number("province", "a province code, 1 to 65535")?,
            status,
            opened_from,
            opened_to,
            search: self.text("q").map(str::to_owned),
        })
    }

    /// An F1 list's filter: `status` (follow-up), `district` (code), `case` (number), `from`
    /// and `to` (first contact).
    pub fn f1_filter(&self, times: Times) -> Result<F1Filter, ApiError> {
        let status = self
            .text("status")
            .map(|s| s.parse::<FollowUpStatus>().map_err(|e| bad(e.to_string())))
            .transpose()?;
        let (contact_from, contact_to) = self.times(times)?;
        Ok(F1Filter {
            status,
            district: self.number("district", "a district code, a whole number")?,
            case_id: self.number("case", "a case number, a whole number")?,
            contact_from,
            contact_to,
        })
    }

    /// The account list's filter: `q` (text of the name) and `role` (a role kind).
    pub fn account_filter(&self) -> Result<AccountFilter, ApiError> {
        let role = match self.text("role") {
            None => None,
            Some(r) => Some(
                Role::KINDS
                    .into_iter()
                    .find(|k| *k == r)
                    .ok_or_else(|| bad(format!("role: one of {}", Role::KINDS.join(", "))))?,
            ),
        };
        Ok(AccountFilter {
            search: self.text("q").map(str::to_owned),
            role,
        })
    }

    /// `path` with this query's filters only (no page): what an export of every row the
    /// filters admit is asked with.
    pub fn filters_href(&self, path: &str) -> String {
        self.link(path, &PAGING, &Cursor::<u64>::First)
    }

    /// `path` with this query's filters and `limit`, starting at `cursor`.
    pub fn href<K: CursorKey>(&self, path: &str, cursor: &Cursor<K>) -> String {
        self.link(path, &["after", "before"], cursor)
    }

    fn link<K: CursorKey>(&self, path: &str, leave_out: &[&str], cursor: &Cursor<K>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            let left_out = leave_out.contains(&k.as_str()) || self.extra.contains(k);
            if !left_out && !v.trim().is_empty() {
                query.append_pair(k, v);
            }
        }
        match cursor {
            Cursor::First => {}
            Cursor::After(k) => {
                query.append_pair("after", &k.to_text());
            }
            Cursor::Before(k) => {
                query.append_pair("before", &k.to_text());
            }
        }
        let query = query.finish();
        if query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{query}")
        }
    }

    /// The links to the pages next to `page`: (previous, next).
    pub fn neighbours<T, K: CursorKey>(
        &self,
        path: &str,
        page: &Page<T, K>,
    ) -> (Option<String>, Option<String>) {
        (
            page.prev.as_ref().map(|c| self.href(path, c)),
            page.next.as_ref().map(|c| self.href(path, c)),
        )
    }

    /// The HTTP `Link` header of `page` (RFC 8288): its `prev` and `next` pages, if any.
    pub fn link_header<T, K: CursorKey>(&self, path: &str, page: &Page<T, K>) -> Option<String> {
        let (prev, next) = self.neighbours(path, page);
        let links: Vec<String> = [(prev, "prev"), (next, "next")]
            .into_iter()
            .filter_map(|(href, rel)| href.map(|h| format!("<{h}>; rel=\"{rel}\"")))
            .collect();
        (!links.is_empty()).then(|| links.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_repeated_and_malformed_parameters_are_refused_by_name() {
        let parse = |q: &str| ListQuery::parse(Some(q), &CASE_FILTERS, &[]);
        let message = |r: Result<ListQuery, ApiError>| r.unwrap_err().message;
        assert!(message(parse("sort=id")).contains("\"sort\""));
        assert!(message(parse("status=a&status=b")).contains("twice"));
        let q = parse("status=lost&limit=0&province=x&after=1&before=2").unwrap();
        let refused = q.case_filter(Times::Seconds).unwrap_err().message;
        assert!(refused.starts_with("status: one of"), "{refused}");
        assert!(q.page::<u64>("a case number").is_err());
        let q = parse("limit=501").unwrap();
        assert!(q.page::<u64>("n").unwrap_err().message.contains("1 to 500"));
        let q = parse("from=2021-13-01").unwrap();
        assert!(q.case_filter(Times::Dates(420)).is_err());
    }

    #[test]
    fn links_keep_the_filters_and_replace_the_cursor() {
        let q = ListQuery::parse(
            Some("status=published&after=9&q=&limit=2"),
            &CASE_FILTERS,
            &[],
        )
        .unwrap();
        assert_eq!(
            q.href("/x", &Cursor::Before(7u64)),
            "/x?status=published&limit=2&before=7"
        );
        assert_eq!(
            q.href("/x", &Cursor::<u64>::First),
            "/x?status=published&limit=2"
        );
        let page = Page {
            items: vec![7u64],
            prev: Some(Cursor::Before(7)),
            next: None,
        };
        assert_eq!(
            q.link_header("/x", &page).unwrap(),
            "</x?status=published&limit=2&before=7>; rel=\"prev\""
        );
    }

    #[test]
    fn parameters_read_elsewhere_stay_out_of_the_links() {
        let q =
            ListQuery::parse(Some("done=trace&status=new"), &CASE_F1_FILTERS, &["done"]).unwrap();
        assert_eq!(q.text("done"), Some("trace"));
        assert_eq!(
            q.href("/c/1", &Cursor::After((0u64, 2u32))),
            "/c/1?status=new&after=0-2"
        );
    }

    #[test]
    fn console_dates_cover_whole_days_in_the_zone() {
        let q =
            ListQuery::parse(Some("from=2021-07-01&to=2021-07-01"), &CASE_FILTERS, &[]).unwrap();
        let f = q.case_filter(Times::Dates(420)).unwrap();
        // 2021-07-01 00:00 at UTC+7 is 2021-06-30 17:00 UTC.
        assert_eq!(f.opened_from, Some(1_625_072_400));
        assert_eq!(f.opened_to, Some(1_625_072_400 + 86_400));
    }
}
