//! The live view's state, and what each key does to it: which view is
//! shown and how it was reached (the breadcrumb), the cursor, the sort, the
//! filter being edited, pause. Pure: keys in, [`Command`]s for the
//! aggregation out, so every key can be tested without a terminal.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::summary::link::Command;
use crate::summary::table::{Cell, Row, Snapshot, Table, View, NODE};

use super::editor::{Edit, Editor};
use super::sort::Sort;

/// Rows PageUp and PageDown move by.
const PAGE: usize = 20;

/// One step of the breadcrumb: a view, and how it was narrowed.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub view: View,
    /// The clause of the row drilled into to get here (`None` at the top).
    pub narrow: Option<String>,
    /// What the breadcrumb calls that row.
    pub label: Option<String>,
    /// The cursor, and the row it is on (its `narrow`), so it stays on that
    /// row while rows move about between refreshes.
    selected: usize,
    selected_key: Option<String>,
    /// `None` until the user picks one: the view's default.
    sort: Option<Sort>,
}

impl Level {
    fn new(view: View, narrow: Option<String>, label: Option<String>) -> Level {
        Level {
            view,
            narrow,
            label,
            selected: 0,
            selected_key: None,
            sort: None,
        }
    }
}

/// What the keys go to.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Table,
    /// The view picker, on `View::ALL[index]`.
    Picker(usize),
    Filter(Editor),
}

#[derive(Clone, Debug)]
pub struct App {
    /// Never empty; the last is what is shown.
    levels: Vec<Level>,
    /// The user's own filter (`-c`, or typed after `/`).
    filter: Option<String>,
    pub mode: Mode,
    pub paused: bool,
    pub quit: bool,
}

impl App {
    #[must_use]
    pub fn new(view: View, filter: Option<String>) -> App {
        App {
            levels: vec![Level::new(view, None, None)],
            filter,
            mode: Mode::Table,
            paused: false,
            quit: false,
        }
    }

    /// What the aggregation is asked for first.
    #[must_use]
    pub fn start(&self) -> Command {
        self.show()
    }

    #[must_use]
    pub fn view(&self) -> View {
        self.level().view
    }

    /// The user's filter, as typed.
    #[must_use]
    pub fn filter(&self) -> Option<&str> {
        self.filter.as_deref()
    }

    /// `containers > web > procs > nginx > files`.
    #[must_use]
    pub fn breadcrumb(&self) -> String {
        let mut steps = Vec::new();
        for level in &self.levels {
            steps.extend(level.label.as_deref());
            steps.push(level.view.name());
        }
        steps.join(" > ")
    }

    /// The filter the aggregation applies: the user's, and every clause
    /// drilled through.
    #[must_use]
    pub fn combined_filter(&self) -> Option<String> {
        let clauses: Vec<&str> = self
            .levels
            .iter()
            .filter_map(|l| l.narrow.as_deref())
            .collect();
        let narrowing = clauses.join(" and ");
        match (&self.filter, clauses.is_empty()) {
            (None, true) => None,
            (Some(f), true) => Some(f.clone()),
            (None, false) => Some(narrowing),
            // The user's filter may hold an `or`, which binds looser.
            (Some(f), false) => Some(format!("({f}) and {narrowing}")),
        }
    }

    /// The snapshot's table, when it is of the view shown (the aggregation
    /// answers a new view a moment after it is asked).
    #[must_use]
    pub fn table<'a>(&self, snapshot: Option<&'a Snapshot>) -> Option<&'a Table> {
        snapshot.map(|s| &s.table).filter(|t| t.view == self.view())
    }

    #[must_use]
    pub fn sort(&self, table: &Table) -> Sort {
        self.level()
            .sort
            .filter(|s| s.column < table.columns.len())
            .unwrap_or_else(|| Sort::default_for(&table.columns))
    }

    /// The table's rows in the order shown.
    #[must_use]
    pub fn rows<'a>(&self, table: &'a Table) -> Vec<&'a Row> {
        self.sort(table).apply(&table.rows)
    }

    /// Where the cursor is among `rows` (as [`App::rows`] ordered them).
    #[must_use]
    pub fn selected(&self, rows: &[&Row]) -> usize {
        let level = self.level();
        level
            .selected_key
            .as_ref()
            .and_then(|key| rows.iter().position(|r| r.narrow.as_ref() == Some(key)))
            .unwrap_or(level.selected.min(rows.len().saturating_sub(1)))
    }

    /// What `key` does; the commands it sends the aggregation.
    pub fn on_key(&mut self, key: KeyEvent, snapshot: Option<&Snapshot>) -> Vec<Command> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Vec::new();
        }
        match &mut self.mode {
            Mode::Filter(editor) => match editor.on_key(key) {
                Edit::Editing => Vec::new(),
                Edit::Cancelled => {
                    self.mode = Mode::Table;
                    Vec::new()
                }
                Edit::Accepted(filter) => {
                    self.mode = Mode::Table;
                    self.filter = filter;
                    vec![self.show()]
                }
            },
            Mode::Picker(at) => {
                let at = *at;
                self.on_picker_key(key, at)
            }
            Mode::Table => self.on_table_key(key, self.table(snapshot)),
        }
    }

    fn on_picker_key(&mut self, key: KeyEvent, at: usize) -> Vec<Command> {
        let n = View::ALL.len();
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.mode = Mode::Picker((at + n - 1) % n),
            KeyCode::Down | KeyCode::Char('j') => self.mode = Mode::Picker((at + 1) % n),
            KeyCode::Enter => {
                self.mode = Mode::Table;
                let level = self.levels.last_mut().expect("never empty");
                if level.view != View::ALL[at] {
                    // The narrowing stays: csysdig keeps the context when
                    // the view changes.
                    *level = Level::new(View::ALL[at], level.narrow.take(), level.label.take());
                    return vec![self.show()];
                }
            }
            KeyCode::Esc | KeyCode::F(2) | KeyCode::Char('v' | 'q') => self.mode = Mode::Table,
            _ => {}
        }
        Vec::new()
    }

    fn on_table_key(&mut self, key: KeyEvent, table: Option<&Table>) -> Vec<Command> {
        match key.code {
            KeyCode::Char('q') | KeyCode::F(10) => self.quit = true,
            KeyCode::Char('v') | KeyCode::F(2) => {
                let at = View::ALL.iter().position(|v| *v == self.view());
                self.mode = Mode::Picker(at.unwrap_or(0));
            }
            KeyCode::Char('/') | KeyCode::F(4) => {
                self.mode = Mode::Filter(Editor::with(self.filter.as_deref().unwrap_or("")));
            }
            KeyCode::Char('p') => {
                self.paused = !self.paused;
                return vec![Command::Pause(self.paused)];
            }
            KeyCode::Backspace if self.levels.len() > 1 => {
                self.levels.pop();
                return vec![self.show()];
            }
            KeyCode::Enter => return table.map(|t| self.drill(t)).unwrap_or_default(),
            KeyCode::Char('<') => self.resort(table, |s, t| s.moved(-1, &t.columns)),
            KeyCode::Char('>') | KeyCode::F(9) => {
                self.resort(table, |s, t| s.moved(1, &t.columns));
            }
            KeyCode::Char('s') | KeyCode::F(6) => self.resort(table, |s, _| Sort {
                descending: !s.descending,
                ..s
            }),
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_cursor(table, |at, _| at.saturating_sub(1))
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_cursor(table, |at, _| at + 1),
            KeyCode::PageUp => self.move_cursor(table, |at, _| at.saturating_sub(PAGE)),
            KeyCode::PageDown => self.move_cursor(table, |at, _| at + PAGE),
            KeyCode::Home | KeyCode::Char('g') => self.move_cursor(table, |_, _| 0),
            KeyCode::End | KeyCode::Char('G') => self.move_cursor(table, |_, n| n),
            _ => {}
        }
        Vec::new()
    }

    /// Enter: the next view, narrowed to the row under the cursor.
    fn drill(&mut self, table: &Table) -> Vec<Command> {
        if self.view() == View::Events {
            return Vec::new();
        }
        let rows = self.rows(table);
        let Some(row) = rows.get(self.selected(&rows)) else {
            return Vec::new();
        };
        let Some(narrow) = row.narrow.clone() else {
            return Vec::new();
        };
        let label = label(table, row).unwrap_or_else(|| narrow.clone());
        let next = self.view().drill_down();
        self.levels
            .push(Level::new(next, Some(narrow), Some(label)));
        vec![self.show()]
    }

    fn resort(&mut self, table: Option<&Table>, change: impl Fn(Sort, &Table) -> Sort) {
        if let Some(table) = table {
            let sort = change(self.sort(table), table);
            self.level_mut().sort = Some(sort);
        }
    }

    /// `to(cursor, last row)` is where the cursor goes.
    fn move_cursor(&mut self, table: Option<&Table>, to: impl Fn(usize, usize) -> usize) {
        let Some(table) = table else { return };
        let rows = self.rows(table);
        if rows.is_empty() {
            return;
        }
        let last = rows.len() - 1;
        let at = to(self.selected(&rows), last).min(last);
        let key = rows[at].narrow.clone();
        let level = self.level_mut();
        level.selected = at;
        level.selected_key = key;
    }

    fn show(&self) -> Command {
        Command::Show {
            view: self.view(),
            filter: self.combined_filter(),
        }
    }

    fn level(&self) -> &Level {
        self.levels.last().expect("never empty")
    }

    fn level_mut(&mut self) -> &mut Level {
        self.levels.last_mut().expect("never empty")
    }
}

/// Columns that name a row better than its key does (`web`, not the
/// container's id).
const NAMING: [&str; 2] = ["NAME", "POD"];

/// How the breadcrumb names a row: its name, else its first text (the
/// key the view is by: a file, a connection, a syscall) but the node it
/// is on, unless nodes are what the view is of.
fn label(table: &Table, row: &Row) -> Option<String> {
    let text = |i: usize| match row.cells.get(i) {
        Some(Cell::Text(t)) if !t.is_empty() => Some(t.clone()),
        _ => None,
    };
    let by_node = |i: &usize| {
        table.view != View::Nodes && table.columns.get(*i).is_some_and(|c| c.title == NODE)
    };
    let named = table.columns.iter().position(|c| NAMING.contains(&c.title));
    named
        .and_then(text)
        .or_else(|| (0..row.cells.len()).filter(|i| !by_node(i)).find_map(text))
}
