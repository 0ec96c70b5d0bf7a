//! Which column the table is ordered by, and the order itself: numbers by
//! value, text by its characters, empty cells last. Ties are broken by the
//! row's identity so rows do not swap places between refreshes.

use std::cmp::Ordering;

use crate::summary::table::{Cell, Column, ColumnKind, Row};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: usize,
    pub descending: bool,
}

impl Sort {
    /// As csysdig opens a view: the first numeric column, largest first
    /// (the busiest rows on top); a table of text only, by its first column.
    #[must_use]
    pub fn default_for(columns: &[Column]) -> Sort {
        columns
            .iter()
            .position(|c| c.kind != ColumnKind::Text)
            .map_or(Sort::on(0, columns), |i| Sort::on(i, columns))
    }

    /// Sorting by `column`: numbers largest first, text from A.
    #[must_use]
    pub fn on(column: usize, columns: &[Column]) -> Sort {
        let descending = columns
            .get(column)
            .is_some_and(|c| c.kind != ColumnKind::Text);
        Sort { column, descending }
    }

    /// The next column to the right (`step` 1) or left (-1), wrapping.
    #[must_use]
    pub fn moved(self, step: isize, columns: &[Column]) -> Sort {
        let n = columns.len().max(1);
        let column = (self.column as isize + step).rem_euclid(n as isize) as usize;
        Sort::on(column, columns)
    }

    /// The rows in this order.
    #[must_use]
    pub fn apply(self, rows: &[Row]) -> Vec<&Row> {
        let mut sorted: Vec<&Row> = rows.iter().collect();
        sorted.sort_by(|a, b| {
            let (x, y) = (a.cells.get(self.column), b.cells.get(self.column));
            let by_column = match (x.filter(|c| !is_empty(c)), y.filter(|c| !is_empty(c))) {
                (Some(x), Some(y)) if self.descending => compare(y, x),
                (Some(x), Some(y)) => compare(x, y),
                // Rows without a value sink, whichever way the column goes.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            by_column.then_with(|| a.narrow.cmp(&b.narrow))
        });
        sorted
    }
}

fn is_empty(cell: &Cell) -> bool {
    matches!(cell, Cell::Empty)
}

fn compare(a: &Cell, b: &Cell) -> Ordering {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => text(a).cmp(text(b)),
    }
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Count(n) | Cell::Bytes(n) | Cell::Nanos(n) => Some(*n as f64),
        Cell::Rate(r) => Some(*r),
        Cell::Text(_) | Cell::Empty => None,
    }
}

fn text(cell: &Cell) -> &str {
    match cell {
        Cell::Text(t) => t,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<Column> {
        vec![
            Column {
                title: "NAME",
                kind: ColumnKind::Text,
            },
            Column {
                title: "BYTES",
                kind: ColumnKind::Bytes,
            },
        ]
    }

    fn row(name: &str, bytes: Option<u64>) -> Row {
        Row {
            cells: vec![
                Cell::Text(name.into()),
                bytes.map_or(Cell::Empty, Cell::Bytes),
            ],
            narrow: Some(format!("proc.name={name}")),
        }
    }

    fn names(rows: &[&Row]) -> Vec<String> {
        rows.iter()
            .map(|r| match &r.cells[0] {
                Cell::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn numbers_largest_first_and_empty_last_either_way() {
        let rows = [row("a", Some(5)), row("b", None), row("c", Some(50))];
        let sort = Sort::default_for(&columns());
        assert_eq!(
            sort,
            Sort {
                column: 1,
                descending: true
            }
        );
        assert_eq!(names(&sort.apply(&rows)), ["c", "a", "b"]);
        let up = Sort {
            descending: false,
            ..sort
        };
        assert_eq!(names(&up.apply(&rows)), ["a", "c", "b"]);
    }

    #[test]
    fn text_from_a_and_moving_wraps() {
        let rows = [row("b", Some(1)), row("a", Some(1))];
        let sort = Sort::default_for(&columns()).moved(1, &columns());
        assert_eq!(
            sort,
            Sort {
                column: 0,
                descending: false
            }
        );
        assert_eq!(names(&sort.apply(&rows)), ["a", "b"]);
    }

    #[test]
    fn ties_keep_a_stable_order() {
        let rows = [row("b", Some(1)), row("a", Some(1))];
        let sort = Sort::default_for(&columns());
        assert_eq!(names(&sort.apply(&rows)), ["a", "b"]);
    }
}
