//! The F1 table's CSV export: one schema, written in one place, for
//!
//! - the reference server's export of a unit's F1 rows (`GET /api/v1/units/<unit>/f1?format=csv`
//!   and the console's "sealed CSV" download): [`F1_COLUMNS`] then `sealed_contact`, the
//!   HPKE-sealed contact details in hex, which only the unit can open;
//! - the opened export, written on the unit's side by `bluezone unit open` and by the console's
//!   in-browser export: [`F1_COLUMNS`] then `phone_number` and `name`.
//!
//! RFC 4180 CSV with CRLF line ends, a header line first, in one of two [`CsvFormat`]s: for
//! programs ([`CsvFormat::MACHINE`], the API's), times in UTC as `YYYY-MM-DDTHH:MM:SSZ` under
//! the columns of [`F1_COLUMNS`]; for spreadsheets ([`CsvFormat::spreadsheet`], the console's
//! downloads), a UTF-8 byte-order mark first (without it Excel reads UTF-8 as a legacy code page
//! and breaks Vietnamese names) and times in a local zone as `YYYY-MM-DD HH:MM:SS` (a form
//! spreadsheets read as a date and time), the zone named in the time columns' headers:
//! `contact_time_utc+07:00`.
//! Text that came from an F1's phone (the phone number and the name) is untrusted: a value a
//! spreadsheet would run as a formula gets a leading apostrophe ([`spreadsheet_safe`]).

#![forbid(unsafe_code)]

use std::fmt;

/// The columns every F1 export starts with, in order, as [`CsvFormat::MACHINE`] names them (the
/// three ending in `_utc` are times; [`CsvFormat::columns`] names them in other zones).
pub const F1_COLUMNS: [&str; 13] = [
    "case_id",
    "no",
    "f1_id",
    "district",
    "contact_time_utc",
    "last_contact_utc",
    "duration_seconds",
    "min_attenuation_db",
    "weighted_minutes",
    "confirmation",
    "follow_up",
    "follow_up_at_utc",
    "follow_up_by",
];

/// The last column of the server's export: the sealed contact details, in hex.
pub const SEALED_COLUMN: &str = "sealed_contact";

/// The last two columns of an opened export.
pub const OPENED_COLUMNS: [&str; 2] = ["phone_number", "name"];

/// The UTF-8 byte-order mark that starts a [`CsvFormat::spreadsheet`] file.
pub const BOM: char = '\u{feff}';

/// How an export writes its times, and whether it starts with a byte-order mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvFormat {
    /// The times' offset from UTC, in minutes (east positive).
    utc_offset_minutes: i32,
    /// Whether the file starts with [`BOM`] and times are `YYYY-MM-DD HH:MM:SS` (for
    /// spreadsheets) rather than `YYYY-MM-DDTHH:MM:SSZ` (for programs, UTC only).
    spreadsheet: bool,
}

impl CsvFormat {
    /// For programs (the API's `?format=csv`): UTC, `YYYY-MM-DDTHH:MM:SSZ`, no byte-order mark.
    pub const MACHINE: CsvFormat = CsvFormat {
        utc_offset_minutes: 0,
        spreadsheet: false,
    };

    /// Most minutes a zone is from UTC (UTC-12:00 to UTC+14:00 are the zones in use).
    pub const MAX_OFFSET_MINUTES: i32 = 14 * 60;

    /// For spreadsheets, times in the zone `utc_offset_minutes` from UTC: a byte-order mark
    /// first, times as `YYYY-MM-DD HH:MM:SS`. An offset beyond ±14 hours is held to it.
    pub fn spreadsheet(utc_offset_minutes: i32) -> CsvFormat {
        CsvFormat {
            utc_offset_minutes: utc_offset_minutes
                .clamp(-Self::MAX_OFFSET_MINUTES, Self::MAX_OFFSET_MINUTES),
            spreadsheet: true,
        }
    }

    /// The zone as the time columns' names end: `utc`, or `utc+07:00`.
    pub fn zone(&self) -> String {
        let m = self.utc_offset_minutes;
        if m == 0 {
            return "utc".to_owned();
        }
        let sign = if m < 0 { '-' } else { '+' };
        let m = m.unsigned_abs();
        format!("utc{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// The zone of a time column's name (`contact_time_utc+07:00` gives 420), if it names one.
    fn offset_of_column(column: &str) -> Option<i32> {
        let zone = column.strip_prefix("contact_time_utc")?;
        if zone.is_empty() {
            return Some(0);
        }
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = zone[1..].split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
        let minutes = sign * (h * 60 + m);
        (m < 60 && minutes != 0 && minutes.abs() <= Self::MAX_OFFSET_MINUTES).then_some(minutes)
    }

    /// The [`F1_COLUMNS`] in this format: the time columns name its zone.
    pub fn columns(&self) -> Vec<String> {
        let zone = self.zone();
        F1_COLUMNS
            .iter()
            .map(|c| match c.strip_suffix("_utc") {
                Some(name) => format!("{name}_{zone}"),
                None => (*c).to_owned(),
            })
            .collect()
    }

    /// A time, seconds since the unix epoch, as this format writes it.
    pub fn time(&self, seconds: u64) -> String {
        if !self.spreadsheet {
            return utc(seconds);
        }
        let local = seconds.saturating_add_signed(i64::from(self.utc_offset_minutes) * 60);
        // `utc` gives YYYY-MM-DDTHH:MM:SSZ.
        let iso = utc(local);
        format!("{} {}", &iso[..10], &iso[11..19])
    }
}

/// Most rows [`read_sealed`] accepts (a unit's 14 days at the 2021 peak are far fewer).
pub const MAX_ROWS: usize = 1_000_000;

/// One F1 row, as the export writes it (every field is text already formatted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct F1Row {
    /// The F0 case.
    pub case_id: u64,
    /// The row's number in the case's F1 table.
    pub no: u32,
    /// The F1 ID: the report id, 32 hex digits.
    pub f1_id: String,
    /// The district the F1 gave.
    pub district: u32,
    /// First contact, in the export's [`CsvFormat`].
    pub contact_time: String,
    /// Last contact, likewise.
    pub last_contact: String,
    /// Seconds between first and last contact.
    pub duration_seconds: u64,
    /// The closest contact's attenuation, dB.
    pub min_attenuation_db: i16,
    /// Weighted minutes under the risk rule.
    pub weighted_minutes: u64,
    /// `confirmed_both_ways` or `one_sided`.
    pub confirmation: String,
    /// The follow-up status.
    pub follow_up: String,
    /// When the follow-up was last set, likewise.
    pub follow_up_at: String,
    /// Who set it.
    pub follow_up_by: String,
}

impl F1Row {
    fn fields(&self) -> [String; 13] {
        [
            self.case_id.to_string(),
            self.no.to_string(),
            self.f1_id.clone(),
            self.district.to_string(),
            self.contact_time.clone(),
            self.last_contact.clone(),
            self.duration_seconds.to_string(),
            self.min_attenuation_db.to_string(),
            self.weighted_minutes.to_string(),
            self.confirmation.clone(),
            self.follow_up.clone(),
            self.follow_up_at.clone(),
            self.follow_up_by.clone(),
        ]
    }

    fn from_fields(row: u64, record: &csv::StringRecord) -> Result<F1Row, ExportError> {
        let text = |i: usize| record.get(i).unwrap_or_default().to_owned();
        fn number<T: std::str::FromStr>(
            row: u64,
            column: &'static str,
            text: &str,
        ) -> Result<T, ExportError> {
            text.parse().map_err(|_| ExportError::Field {
                row,
                column,
                why: format!("{text:?} is not a number"),
            })
        }
        Ok(F1Row {
            case_id: number(row, F1_COLUMNS[0], &text(0))?,
            no: number(row, F1_COLUMNS[1], &text(1))?,
            f1_id: text(2),
            district: number(row, F1_COLUMNS[3], &text(3))?,
            contact_time: text(4),
            last_contact: text(5),
            duration_seconds: number(row, F1_COLUMNS[6], &text(6))?,
            min_attenuation_db: number(row, F1_COLUMNS[7], &text(7))?,
            weighted_minutes: number(row, F1_COLUMNS[8], &text(8))?,
            confirmation: text(9),
            follow_up: text(10),
            follow_up_at: text(11),
            follow_up_by: text(12),
        })
    }
}

/// A row of the server's export: the row and its sealed contact details (hex).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SealedRow {
    /// The row.
    pub row: F1Row,
    /// HPKE-sealed contact details, hex.
    pub sealed_contact: String,
}

/// Contact details opened by the unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenedContact {
    /// The F1's phone number.
    pub phone_number: String,
    /// The F1's name, if given.
    pub name: String,
}

/// A CSV file that is not an F1 export.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The header line is not the export's.
    Header {
        /// The header found.
        found: String,
    },
    /// A row has the wrong number of fields or is not CSV.
    Row {
        /// The row (1 is the first after the header).
        row: u64,
        /// What is wrong.
        why: String,
    },
    /// A field does not parse.
    Field {
        /// The row (1 is the first after the header).
        row: u64,
        /// The column.
        column: &'static str,
        /// What is wrong.
        why: String,
    },
    /// More than [`MAX_ROWS`] rows.
    TooManyRows,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Header { found } => write!(
                f,
                "not an F1 export: the header must be `{},{SEALED_COLUMN}` (the time columns \
                 may name another zone: `contact_time_utc+07:00`), not `{found}`",
                F1_COLUMNS.join(",")
            ),
            ExportError::Row { row, why } => write!(f, "row {row}: {why}"),
            ExportError::Field { row, column, why } => {
                write!(f, "row {row}, column {column}: {why}")
            }
            ExportError::TooManyRows => write!(f, "more than {MAX_ROWS} rows"),
        }
    }
}

impl std::error::Error for ExportError {}

/// `text`, made safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab or carriage
/// return (which a spreadsheet would read as the start of a formula) gets an apostrophe before
/// it. Quoting is the CSV writer's business.
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> String {
    // Writing to memory cannot fail, and every field is UTF-8.
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn write_record<I, F>(w: &mut csv::Writer<Vec<u8>>, fields: I)
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
}

/// The header line: the columns of `format`, then `last`.
fn write_header(w: &mut csv::Writer<Vec<u8>>, format: CsvFormat, last: &[&str]) {
    let columns = format.columns();
    write_record(
        w,
        columns
            .iter()
            .map(String::as_str)
            .chain(last.iter().copied()),
    );
}

/// The start of a file in `format`: the byte-order mark of a spreadsheet's.
fn start(format: CsvFormat) -> String {
    if format.spreadsheet {
        BOM.to_string()
    } else {
        String::new()
    }
}

/// The server's export of `rows` (their times written in `format`): the header, then one line
/// per row.
pub fn write_sealed(format: CsvFormat, rows: &[SealedRow]) -> String {
    let mut w = writer();
    write_header(&mut w, format, &[SEALED_COLUMN]);
    for r in rows {
        write_record(&mut w, r.row.fields().iter().chain([&r.sealed_contact]));
    }
    start(format) + &finish(w)
}

/// Read the server's export back, in either format: the header must be exactly the export's,
/// its time columns naming one zone. Returns the format found (a byte-order mark first makes it
/// a spreadsheet's) and the rows, their times as the file writes them.
pub fn read_sealed(text: &str) -> Result<(CsvFormat, Vec<SealedRow>), ExportError> {
    let (spreadsheet, text) = match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| ExportError::Row {
            row: 0,
            why: e.to_string(),
        })?
        .clone();
    let format = header
        .get(4)
        .and_then(CsvFormat::offset_of_column)
        .map(|utc_offset_minutes| CsvFormat {
            utc_offset_minutes,
            spreadsheet,
        });
    let Some(format) = format.filter(|f| {
        let columns = f.columns();
        header
            .iter()
            .eq(columns.iter().map(String::as_str).chain([SEALED_COLUMN]))
    }) else {
        return Err(ExportError::Header {
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ExportError::Row {
            row: e.position().map_or(0, |p| p.record()),
            why: e.to_string(),
        })?;
        if rows.len() == MAX_ROWS {
            return Err(ExportError::TooManyRows);
        }
        let row = record.position().map_or(0, |p| p.record());
        rows.push(SealedRow {
            row: F1Row::from_fields(row, &record)?,
            sealed_contact: record.get(F1_COLUMNS.len()).unwrap_or_default().to_owned(),
        });
    }
    Ok((format, rows))
}

/// The header line of an opened export in `format`, without its line end (nor byte-order mark).
pub fn opened_header(format: CsvFormat) -> String {
    let mut columns = format.columns();
    columns.extend(OPENED_COLUMNS.map(str::to_owned));
    columns.join(",")
}

/// The CSV fields of `row`, without a line end: an opened export's line is this, a comma, and
/// the opened phone number and name (each [`spreadsheet_safe`] and quoted as RFC 4180 says).
/// The console puts this text in its page so that its in-browser export writes the same
/// columns as [`write_opened`].
pub fn row_fields(row: &F1Row) -> String {
    let mut w = writer();
    write_record(&mut w, row.fields());
    finish(w).trim_end_matches("\r\n").to_owned()
}

/// An opened export in `format` (the rows' times already written in it): each row with its
/// opened contact details, or empty fields where they did not open.
pub fn write_opened<'a>(
    format: CsvFormat,
    rows: impl IntoIterator<Item = (&'a F1Row, Option<&'a OpenedContact>)>,
) -> String {
    let mut w = writer();
    write_header(&mut w, format, &OPENED_COLUMNS);
    for (row, contact) in rows {
        let (phone, name) = match contact {
            Some(c) => (spreadsheet_safe(&c.phone_number), spreadsheet_safe(&c.name)),
            None => (String::new(), String::new()),
        };
        write_record(&mut w, row.fields().into_iter().chain([phone, name]));
    }
    start(format) + &finish(w)
}

/// A civil UTC time, `YYYY-MM-DDTHH:MM:SSZ`, from seconds since the unix epoch.
pub fn utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    // Days to civil date (proleptic Gregorian), by eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn row(n: u32) -> F1Row {
        F1Row {
            case_id: 7,
            no: n,
            f1_id: "00112233445566778899aabbccddeeff".into(),
            district: 12,
            contact_time: utc(1_700_000_000),
            last_contact: utc(1_700_000_900),
            duration_seconds: 900,
            min_attenuation_db: 55,
            weighted_minutes: 15,
            confirmation: "one_sided".into(),
            follow_up: "new".into(),
            follow_up_at: utc(1_700_003_600),
            follow_up_by: "hanoi.worker-1".into(),
        }
    }

    #[test]
    fn the_header_and_a_line_are_as_documented() {
        let text = write_sealed(
            CsvFormat::MACHINE,
            &[SealedRow {
                row: row(1),
                sealed_contact: "abcd".into(),
            }],
        );
        assert_eq!(
            text,
            "case_id,no,f1_id,district,contact_time_utc,last_contact_utc,duration_seconds,\
             min_attenuation_db,weighted_minutes,confirmation,follow_up,follow_up_at_utc,\
             follow_up_by,sealed_contact\r\n\
             7,1,00112233445566778899aabbccddeeff,12,2023-11-14T22:13:20Z,2023-11-14T22:28:20Z,\
             900,55,15,one_sided,new,2023-11-14T23:13:20Z,hanoi.worker-1,abcd\r\n"
        );
    }

    #[test]
    fn spreadsheets_get_a_bom_and_local_times_named_in_the_header() {
        let ict = CsvFormat::spreadsheet(420);
        let local = F1Row {
            contact_time: ict.time(1_700_000_000),
            last_contact: ict.time(1_700_000_900),
            follow_up_at: ict.time(1_700_003_600),
            ..row(1)
        };
        let text = write_sealed(
            ict,
            &[SealedRow {
                row: local,
                sealed_contact: "abcd".into(),
            }],
        );
        assert_eq!(
            text,
            "\u{feff}case_id,no,f1_id,district,contact_time_utc+07:00,last_contact_utc+07:00,\
             duration_seconds,min_attenuation_db,weighted_minutes,confirmation,follow_up,\
             follow_up_at_utc+07:00,follow_up_by,sealed_contact\r\n\
             7,1,00112233445566778899aabbccddeeff,12,2023-11-15 05:13:20,2023-11-15 05:28:20,\
             900,55,15,one_sided,new,2023-11-15 06:13:20,hanoi.worker-1,abcd\r\n"
        );
        let (format, rows) = read_sealed(&text).unwrap();
        assert_eq!(format, ict);
        assert_eq!(rows[0].row.contact_time, "2023-11-15 05:13:20");
        assert_eq!(
            opened_header(ict),
            "case_id,no,f1_id,district,contact_time_utc+07:00,last_contact_utc+07:00,\
             duration_seconds,min_attenuation_db,weighted_minutes,confirmation,follow_up,\
             follow_up_at_utc+07:00,follow_up_by,phone_number,name"
        );
        assert!(write_opened(ict, []).starts_with('\u{feff}'));
        assert!(!write_opened(CsvFormat::MACHINE, []).starts_with('\u{feff}'));
        // West of Greenwich, and a half-hour zone.
        assert_eq!(CsvFormat::spreadsheet(-150).zone(), "utc-02:30");
        assert_eq!(CsvFormat::spreadsheet(330).time(0), "1970-01-01 05:30:00");
        assert_eq!(CsvFormat::spreadsheet(-60).time(0), "1970-01-01 00:00:00");
        assert_eq!(CsvFormat::spreadsheet(0).zone(), "utc");
        for (column, offset) in [
            ("contact_time_utc", Some(0)),
            ("contact_time_utc+07:00", Some(420)),
            ("contact_time_utc-02:30", Some(-150)),
            ("contact_time_utc+00:00", None),
            ("contact_time_utc+7", None),
            ("contact_time_utc+07:60", None),
            ("contact_time_utc+15:00", None),
            ("contact_time_ict", None),
        ] {
            assert_eq!(CsvFormat::offset_of_column(column), offset, "{column}");
        }
    }

    #[test]
    fn civil_times_match_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_625_097_599), "2021-06-30T23:59:59Z");
        assert_eq!(utc(1_627_776_000 + 3_723), "2021-08-01T01:02:03Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(utc(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn formulas_are_defused_and_fields_quoted() {
        let contact = OpenedContact {
            phone_number: "84912345678".into(),
            name: "=HYPERLINK(\"x\"), Lan".into(),
        };
        let text = write_opened(
            CsvFormat::MACHINE,
            [(&row(1), Some(&contact)), (&row(2), None)],
        );
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], opened_header(CsvFormat::MACHINE));
        assert_eq!(
            lines[1],
            format!(
                "{},84912345678,\"'=HYPERLINK(\"\"x\"\"), Lan\"",
                row_fields(&row(1))
            )
        );
        assert_eq!(lines[2], format!("{},,", row_fields(&row(2))));
        for bad in ["+84", "-1", "@sum", "\tx", "\rx"] {
            assert!(spreadsheet_safe(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(spreadsheet_safe("Nguyễn Thị Lan"), "Nguyễn Thị Lan");
    }

    #[test]
    fn other_files_are_refused_with_their_reason() {
        assert!(matches!(
            read_sealed("a,b\r\n1,2\r\n"),
            Err(ExportError::Header { .. })
        ));
        let good = write_sealed(
            CsvFormat::MACHINE,
            &[SealedRow {
                row: row(1),
                sealed_contact: "ab".into(),
            }],
        );
        let short = good.replace(",ab\r\n", "\r\n");
        let refused = read_sealed(&short);
        assert!(
            matches!(refused, Err(ExportError::Row { row: 1, .. })),
            "{refused:?}"
        );
        // Time columns naming two zones.
        let mixed = good.replacen("contact_time_utc", "contact_time_utc+07:00", 1);
        assert!(matches!(
            read_sealed(&mixed),
            Err(ExportError::Header { .. })
        ));
        let bad_number = good.replace("\r\n7,1,", "\r\nseven,1,");
        assert!(matches!(
            read_sealed(&bad_number),
            Err(ExportError::Field {
                column: "case_id",
                ..
            })
        ));
    }

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ -~\u{e0}-\u{1ef9},\"\r\n]{0,12}").unwrap()
    }

    proptest! {
        #[test]
        fn sealed_exports_read_back(
            fields in proptest::collection::vec((any::<u64>(), any::<u32>(), any::<i16>(), text(), text()), 0..8)
        ) {
            let rows: Vec<SealedRow> = fields
                .into_iter()
                .map(|(case_id, no, db, by, sealed)| SealedRow {
                    row: F1Row {
                        case_id,
                        no,
                        min_attenuation_db: db,
                        follow_up_by: by,
                        ..row(0)
                    },
                    sealed_contact: sealed,
                })
                .collect();
            for format in [CsvFormat::MACHINE, CsvFormat::spreadsheet(420)] {
                let read = read_sealed(&write_sealed(format, &rows)).unwrap();
                prop_assert_eq!(read, (format, rows.clone()));
            }
        }
    }
}
