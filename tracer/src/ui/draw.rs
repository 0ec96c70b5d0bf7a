//! The screen, from the app's state and the newest snapshot: a header with
//! the totals, the breadcrumb, the view's table (or the raw events), and a
//! footer with the keys, the filter editor or its errors.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph};
use ratatui::widgets::{Cell as TableCell, Row as TableRow, Table, TableState};
use ratatui::Frame;

use crate::summary::table::{ColumnKind, Snapshot, Table as Summary, View};

use super::app::{App, Mode};
use super::editor::Editor;
use super::format;

/// The keys, as csysdig's bottom line lists them.
const KEYS: [(&str, &str); 9] = [
    ("F2/v", "Views"),
    ("Enter", "Drill"),
    ("Bksp", "Back"),
    ("F4,/", "Filter"),
    ("<>,F9", "Sort"),
    ("s,F6", "Reverse"),
    ("p", "Pause"),
    ("arrows", "Move"),
    ("q", "Quit"),
];

/// Widest a text column is made for its content (a long path is cut).
const TEXT_MAX: usize = 60;

const KEY_STYLE: Style = Style::new().fg(Color::Black).bg(Color::Cyan);
const TITLE_STYLE: Style = Style::new().fg(Color::Black).bg(Color::Green);
const ALERT_STYLE: Style = Style::new()
    .fg(Color::White)
    .bg(Color::Red)
    .add_modifier(Modifier::BOLD);

pub fn draw(frame: &mut Frame, app: &App, snapshot: Option<&Snapshot>) {
    let bottom = match &app.mode {
        Mode::Filter(editor) => 1 + editor.error.as_ref().map_or(0, |e| e.lines().count()),
        Mode::Table | Mode::Picker(_) => 1,
    };
    let [header, crumbs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(u16::try_from(bottom).unwrap_or(u16::MAX)),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(app, snapshot), header);
    frame.render_widget(
        Line::from(vec![
            Span::styled(" view: ", Style::new().add_modifier(Modifier::DIM)),
            Span::styled(app.breadcrumb(), Style::new().add_modifier(Modifier::BOLD)),
        ]),
        crumbs,
    );
    match app.table(snapshot) {
        Some(_) if app.view() == View::Events => {
            events(frame, body, snapshot.map_or(&[], |s| &s.events[..]));
        }
        Some(table) => rows(frame, body, app, table),
        None => frame.render_widget(
            Paragraph::new(format!(" waiting for {}...", app.view()))
                .style(Style::new().add_modifier(Modifier::DIM)),
            body,
        ),
    }
    match &app.mode {
        Mode::Filter(editor) => filter_editor(frame, footer, editor),
        Mode::Picker(at) => {
            frame.render_widget(keys(), footer);
            picker(frame, body, *at);
        }
        Mode::Table => frame.render_widget(keys(), footer),
    }
}

fn header_line(app: &App, snapshot: Option<&Snapshot>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        " sdtrace ",
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
    )];
    if let Some(s) = snapshot {
        let totals = &s.totals;
        spans.push(Span::raw(format!(
            " events: {} ({}) ",
            format::count(totals.events),
            format::rate(totals.event_rate)
        )));
        let drops = format!(" drops: {} ", format::count(totals.drops));
        spans.push(if totals.drops > 0 {
            Span::styled(drops, ALERT_STYLE)
        } else {
            Span::raw(drops)
        });
    }
    spans.push(Span::raw(format!(
        " filter: {} ",
        app.filter().unwrap_or("(none)")
    )));
    if app.paused {
        spans.push(Span::styled(
            " PAUSED ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}

fn rows(frame: &mut Frame, area: Rect, app: &App, table: &Summary) {
    let sort = app.sort(table);
    let rows = app.rows(table);
    let texts: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.cells.iter().map(|c| tail(format::cell(c))).collect())
        .collect();
    let widths = table.columns.iter().enumerate().map(|(i, c)| {
        let widest = texts
            .iter()
            .filter_map(|cells| cells.get(i))
            .map(|t| t.chars().count())
            .chain([c.title.chars().count() + 1])
            .max()
            .unwrap_or(1);
        let last = i + 1 == table.columns.len();
        match c.kind {
            ColumnKind::Text if last => Constraint::Fill(1),
            ColumnKind::Text => Constraint::Length(widest.min(TEXT_MAX) as u16),
            _ => Constraint::Length(widest as u16),
        }
    });
    let widths: Vec<Constraint> = widths.collect();
    let numeric = |i: usize| {
        table
            .columns
            .get(i)
            .is_some_and(|c| c.kind != ColumnKind::Text)
    };
    let aligned = |i: usize, text: String| {
        if numeric(i) {
            Line::from(text).right_aligned()
        } else {
            Line::from(text)
        }
    };
    let header = TableRow::new(table.columns.iter().enumerate().map(|(i, c)| {
        if i == sort.column {
            let arrow = if sort.descending { "▼" } else { "▲" };
            TableCell::from(aligned(i, format!("{}{arrow}", c.title)))
                .style(Style::new().bg(Color::Cyan).add_modifier(Modifier::BOLD))
        } else {
            TableCell::from(aligned(i, c.title.to_owned()))
        }
    }))
    .style(TITLE_STYLE);
    let body = texts.into_iter().map(|cells| {
        TableRow::new(
            cells
                .into_iter()
                .enumerate()
                .map(|(i, t)| TableCell::from(aligned(i, t))),
        )
    });
    let widget = Table::new(body, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().fg(Color::Black).bg(Color::Cyan));
    let mut state = TableState::default();
    if !rows.is_empty() {
        state.select(Some(app.selected(&rows)));
    }
    frame.render_stateful_widget(widget, area, &mut state);
    if rows.is_empty() {
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(" (no events yet)").style(Style::new().add_modifier(Modifier::DIM)),
            below,
        );
    }
}

/// A text too long for its column keeps its end, where a path has its
/// file name and a connection its port.
fn tail(text: String) -> String {
    let n = text.chars().count();
    if n <= TEXT_MAX {
        return text;
    }
    let kept: String = text.chars().skip(n - (TEXT_MAX - 1)).collect();
    format!("…{kept}")
}

/// The newest lines that fit, newest at the bottom.
fn events(frame: &mut Frame, area: Rect, lines: &[String]) {
    let fit = usize::from(area.height);
    let shown = &lines[lines.len().saturating_sub(fit)..];
    let text: Vec<Line> = shown.iter().map(|l| Line::from(l.as_str())).collect();
    frame.render_widget(Paragraph::new(text), area);
}

fn keys() -> Line<'static> {
    let mut spans = Vec::new();
    for (key, what) in KEYS {
        spans.push(Span::styled(key, KEY_STYLE));
        spans.push(Span::raw(format!("{what} ")));
    }
    Line::from(spans)
}

fn filter_editor(frame: &mut Frame, area: Rect, editor: &Editor) {
    const PROMPT: &str = "Filter: ";
    let mut lines = vec![Line::from(vec![
        Span::styled(PROMPT, KEY_STYLE),
        Span::raw(editor.text.clone()),
    ])];
    if let Some(error) = &editor.error {
        let red = Style::new().fg(Color::Red);
        lines.extend(error.lines().map(|l| Line::styled(l.to_owned(), red)));
    }
    frame.render_widget(Paragraph::new(lines), area);
    let x = area.x + (PROMPT.len() + editor.cursor) as u16;
    frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
}

fn picker(frame: &mut Frame, body: Rect, at: usize) {
    let width = 24.min(body.width);
    let height = (View::ALL.len() as u16 + 2).min(body.height);
    let area = Rect::new(body.x + 2, body.y + 1, width, height).intersection(body);
    let items = View::ALL.iter().map(|v| ListItem::new(v.name()));
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(" Views "))
        .highlight_style(KEY_STYLE)
        .highlight_symbol("> ");
    frame.render_widget(Clear, area);
    let mut state = ListState::default().with_selected(Some(at));
    frame.render_stateful_widget(list, area, &mut state);
}
