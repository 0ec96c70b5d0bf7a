//! Tables as people and programs read them: cells as short text, rows
//! ranked by a column, an aligned text table, JSON lines.

use std::cmp::Ordering;
use std::fmt::Write;

use super::table::{Cell, ColumnKind, Row, Table};

/// A cell as a table shows it: bytes as 1.2K/3.4M, durations as
/// ns/µs/ms/s, rates with one decimal.
#[must_use]
pub fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => s.clone(),
        Cell::Count(n) => n.to_string(),
        Cell::Bytes(n) => bytes(*n),
        Cell::Rate(r) => format!("{r:.1}"),
        Cell::Nanos(n) => nanos(*n),
        Cell::Empty => "-".to_owned(),
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1}{}", UNITS[unit])
}

fn nanos(n: u64) -> String {
    let v = n as f64;
    match n {
        0..1_000 => format!("{n}ns"),
        1_000..1_000_000 => format!("{:.1}µs", v / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}ms", v / 1e6),
        _ => format!("{:.2}s", v / 1e9),
    }
}

/// Orders two cells of one column: numbers and text by value; an empty
/// cell below any value.
#[must_use]
pub fn compare(a: &Cell, b: &Cell) -> Ordering {
    let num = |c: &Cell| match c {
        Cell::Count(n) | Cell::Bytes(n) | Cell::Nanos(n) => Some(*n as f64),
        Cell::Rate(r) => Some(*r),
        Cell::Text(_) | Cell::Empty => None,
    };
    match (a, b) {
        (Cell::Empty, Cell::Empty) => Ordering::Equal,
        (Cell::Empty, _) => Ordering::Less,
        (_, Cell::Empty) => Ordering::Greater,
        (Cell::Text(x), Cell::Text(y)) => x.cmp(y),
        _ => num(a).partial_cmp(&num(b)).unwrap_or(Ordering::Equal),
    }
}

/// The `n` rows ranked highest by `column` (text columns: first in
/// order), ties in the order of the other cells.
#[must_use]
pub fn top_rows(table: &Table, column: usize, n: usize) -> Vec<&Row> {
    let text = table
        .columns
        .get(column)
        .is_some_and(|c| c.kind == ColumnKind::Text);
    let mut rows: Vec<&Row> = table.rows.iter().collect();
    rows.sort_by(|a, b| {
        let by = compare(&a.cells[column], &b.cells[column]);
        let by = if text { by } else { by.reverse() };
        by.then_with(|| {
            a.cells
                .iter()
                .zip(&b.cells)
                .map(|(x, y)| compare(x, y))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    });
    rows.truncate(n);
    rows
}

/// An aligned text table: a header, then the rows; text left-aligned,
/// numbers right-aligned.
pub fn write_text(out: &mut String, table: &Table, rows: &[&Row]) {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.cells.iter().map(cell_text).collect())
        .collect();
    let widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let last = table.columns.len().saturating_sub(1);
    let mut line = |texts: &mut dyn Iterator<Item = &str>| {
        for (i, (text, col)) in texts.zip(&table.columns).enumerate() {
            let w = widths[i];
            if i > 0 {
                out.push_str("  ");
            }
            match col.kind {
                ColumnKind::Text if i == last => out.push_str(text),
                ColumnKind::Text => {
                    let _ = write!(out, "{text:<w$}");
                }
                _ => {
                    let _ = write!(out, "{text:>w$}");
                }
            }
        }
        out.push('\n');
    };
    line(&mut table.columns.iter().map(|c| c.title));
    for r in &cells {
        line(&mut r.iter().map(String::as_str));
    }
}

/// One JSON object per row: the columns' titles in lower case as keys,
/// numbers as numbers (bytes and durations unscaled), and the row's
/// drill-down clause as `filter`.
pub fn write_json(out: &mut String, table: &Table, rows: &[&Row]) {
    for row in rows {
        let mut obj = serde_json::Map::new();
        obj.insert("view".into(), table.view.name().into());
        for (col, cell) in table.columns.iter().zip(&row.cells) {
            let value = match cell {
                Cell::Text(s) => s.as_str().into(),
                Cell::Count(n) | Cell::Bytes(n) | Cell::Nanos(n) => (*n).into(),
                Cell::Rate(r) => serde_json::Number::from_f64((r * 10.0).round() / 10.0)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                Cell::Empty => serde_json::Value::Null,
            };
            obj.insert(col.title.to_lowercase(), value);
        }
        if let Some(narrow) = &row.narrow {
            obj.insert("filter".into(), narrow.as_str().into());
        }
        out.push_str(&serde_json::Value::Object(obj).to_string());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::table::View;

    #[test]
    fn cells_read_short() {
        assert_eq!(cell_text(&Cell::Bytes(512)), "512");
        assert_eq!(cell_text(&Cell::Bytes(1536)), "1.5K");
        assert_eq!(cell_text(&Cell::Bytes(5 << 20)), "5.0M");
        assert_eq!(cell_text(&Cell::Nanos(800)), "800ns");
        assert_eq!(cell_text(&Cell::Nanos(12_300)), "12.3µs");
        assert_eq!(cell_text(&Cell::Nanos(4_000_000)), "4.0ms");
        assert_eq!(cell_text(&Cell::Rate(2.25)), "2.2");
    }

    #[test]
    fn ranks_and_aligns() {
        let row = |name: &str, n| Row {
            cells: vec![
                Cell::Text(name.into()),
                Cell::Empty,
                Cell::Bytes(n),
                Cell::Bytes(n),
                Cell::Bytes(0),
                Cell::Count(1),
                Cell::Count(0),
            ],
            narrow: Some(format!("fd.name={name}")),
        };
        let table = Table {
            view: View::Files,
            columns: View::Files.columns(),
            rows: vec![row("/a", 10), row("/b", 3000), row("/c", 20)],
        };
        let top = top_rows(&table, View::Files.main_column(), 2);
        let mut out = String::new();
        write_text(&mut out, &table, &top);
        assert_eq!(
            out,
            "FILE  CONTAINER  BYTES  READ  WRITTEN  OPENS  ERRORS\n\
             /b    -           2.9K  2.9K        0      1       0\n\
             /c    -             20    20        0      1       0\n"
        );
        let mut json = String::new();
        write_json(&mut json, &table, &top[..1]);
        let obj: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(obj["file"], "/b");
        assert_eq!(obj["bytes"], 3000);
        assert_eq!(obj["container"], serde_json::Value::Null);
        assert_eq!(obj["filter"], "fd.name=/b");
        assert_eq!(obj["view"], "files");
    }
}
