//! The live view drawn into ratatui's `TestBackend` from hand-made
//! snapshots, driven by scripted keys: what is on screen, and what the
//! aggregation is asked for.

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;

use crate::summary::link::Command;
use crate::summary::table::{Cell, Column, ColumnKind, Row, Snapshot, Table, Totals, View};

use super::app::{App, Mode};
use super::draw::draw;

const WIDTH: u16 = 100;
const HEIGHT: u16 = 12;

fn column(title: &'static str, kind: ColumnKind) -> Column {
    Column { title, kind }
}

fn text(t: &str) -> Cell {
    Cell::Text(t.to_owned())
}

fn containers() -> Snapshot {
    let row = |id: &str, name: &str, rate: f64, bytes: u64, lat: u64| Row {
        cells: vec![
            text(id),
            text(name),
            Cell::Rate(rate),
            Cell::Bytes(bytes),
            Cell::Nanos(lat),
        ],
        narrow: Some(format!("container.id={id}")),
    };
    Snapshot {
        table: Table {
            view: View::Containers,
            columns: vec![
                column("ID", ColumnKind::Text),
                column("NAME", ColumnKind::Text),
                column("SYSCALLS", ColumnKind::Rate),
                column("BYTES", ColumnKind::Bytes),
                column("LATENCY", ColumnKind::Nanos),
            ],
            rows: vec![
                row("aaaaaaaaaaaa", "db", 12.0, 3_565_158, 4_560_000),
                row("3f2a9c1b7d4e", "web", 1234.0, 1229, 12_300),
                row("cccccccccccc", "cache", 0.5, 512, 850),
            ],
        },
        events: Vec::new(),
        totals: Totals {
            event_rate: 1246.5,
            drops: 0,
            events: 123_456,
        },
    }
}

fn procs() -> Snapshot {
    Snapshot {
        table: Table {
            view: View::Processes,
            columns: vec![
                column("PID", ColumnKind::Count),
                column("NAME", ColumnKind::Text),
                column("SYSCALLS", ColumnKind::Rate),
            ],
            rows: vec![Row {
                cells: vec![Cell::Count(42), text("nginx"), Cell::Rate(99.0)],
                narrow: Some("proc.pid=42".into()),
            }],
        },
        events: Vec::new(),
        totals: Totals::default(),
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::from(code)
}

/// Presses each key in turn; every command sent.
fn press(app: &mut App, snapshot: &Snapshot, keys: &[KeyCode]) -> Vec<Command> {
    keys.iter()
        .flat_map(|k| app.on_key(key(*k), Some(snapshot)))
        .collect()
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(app.on_key(key(KeyCode::Char(c)), None), []);
    }
}

fn render(app: &App, snapshot: Option<&Snapshot>) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).unwrap();
    terminal.draw(|f| draw(f, app, snapshot)).unwrap();
    terminal.backend().buffer().clone()
}

fn lines(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            let line: String = (0..area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect();
            line.trim_end().to_owned()
        })
        .collect()
}

fn screen(app: &App, snapshot: Option<&Snapshot>) -> Vec<String> {
    lines(&render(app, snapshot))
}

/// The line of the screen that holds `needle`.
fn line_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
    screen
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{}", screen.join("\n")))
}

#[test]
fn the_table_busiest_first_with_formatted_numbers() {
    let app = App::new(View::Containers, None);
    let snap = containers();
    let shown = screen(&app, Some(&snap));
    assert_eq!(
        shown[..7],
        [
            " sdtrace  events: 123K (1.2K/s)  drops: 0  filter: (none)",
            " view: containers",
            "ID           NAME  SYSCALLS▼  BYTES  LATENCY",
            "3f2a9c1b7d4e web      1.2K/s   1.2K   12.3µs",
            "aaaaaaaaaaaa db         12/s   3.4M    4.6ms",
            "cccccccccccc cache     0.5/s    512    850ns",
            "",
        ],
        "\n{}",
        shown.join("\n")
    );
    assert!(shown[HEIGHT as usize - 1].starts_with("F2/vViews EnterDrill BkspBack F4,/Filter"));
}

#[test]
fn sort_moves_between_columns_and_reverses() {
    let mut app = App::new(View::Containers, None);
    let snap = containers();
    assert_eq!(press(&mut app, &snap, &[KeyCode::Char('>')]), []);
    let shown = screen(&app, Some(&snap));
    assert!(line_with(&shown, "ID").contains("BYTES▼"));
    assert!(
        shown[3].starts_with("aaaaaaaaaaaa db"),
        "{}",
        shown.join("\n")
    );

    // Back to SYSCALLS, then NAME (text sorts from A), then reversed.
    press(&mut app, &snap, &[KeyCode::Char('<'), KeyCode::Char('<')]);
    let shown = screen(&app, Some(&snap));
    assert!(line_with(&shown, "ID").contains("NAME▲"));
    assert!(shown[3].contains(" cache "), "{}", shown.join("\n"));
    press(&mut app, &snap, &[KeyCode::Char('s')]);
    let shown = screen(&app, Some(&snap));
    assert!(line_with(&shown, "ID").contains("NAME▼"));
    assert!(shown[3].contains(" web "), "{}", shown.join("\n"));
}

#[test]
fn the_cursor_highlights_its_row_and_follows_it_when_rows_move() {
    let mut app = App::new(View::Containers, None);
    let mut snap = containers();
    press(&mut app, &snap, &[KeyCode::Down]);
    let buffer = render(&app, Some(&snap));
    assert!(lines(&buffer)[4].starts_with("aaaaaaaaaaaa db"));
    assert_eq!(buffer[(0, 4)].bg, Color::Cyan, "the selected row");
    assert_ne!(buffer[(0, 3)].bg, Color::Cyan);

    // db becomes the busiest: the cursor stays on db, now first.
    snap.table.rows[0].cells[2] = Cell::Rate(1e6);
    let buffer = render(&app, Some(&snap));
    assert!(lines(&buffer)[3].starts_with("aaaaaaaaaaaa db"));
    assert_eq!(buffer[(0, 3)].bg, Color::Cyan);
}

#[test]
fn enter_drills_down_narrowed_to_the_row_and_backspace_returns() {
    let mut app = App::new(
        View::Containers,
        Some("evt.type=read or evt.type=write".into()),
    );
    assert_eq!(
        app.start(),
        Command::Show {
            view: View::Containers,
            filter: Some("evt.type=read or evt.type=write".into())
        }
    );
    let snap = containers();
    // The second row (db) into its processes.
    let sent = press(&mut app, &snap, &[KeyCode::Down, KeyCode::Enter]);
    assert_eq!(
        sent,
        [Command::Show {
            view: View::Processes,
            filter: Some("(evt.type=read or evt.type=write) and container.id=aaaaaaaaaaaa".into()),
        }]
    );
    // The containers' snapshot is not the processes' table.
    let shown = screen(&app, Some(&snap));
    assert_eq!(shown[1], " view: containers > db > procs");
    assert_eq!(shown[2], " waiting for procs...");

    // And nginx's files.
    let procs = procs();
    let sent = press(&mut app, &procs, &[KeyCode::Enter]);
    assert_eq!(
        sent,
        [Command::Show {
            view: View::Files,
            filter: Some(
                "(evt.type=read or evt.type=write) and container.id=aaaaaaaaaaaa and proc.pid=42"
                    .into()
            ),
        }]
    );
    assert_eq!(
        screen(&app, None)[1],
        " view: containers > db > procs > nginx > files"
    );

    // Back twice: the containers, the cursor still on db.
    let sent = press(&mut app, &procs, &[KeyCode::Backspace]);
    assert_eq!(sent.len(), 1);
    let sent = press(&mut app, &snap, &[KeyCode::Backspace]);
    assert_eq!(
        sent,
        [Command::Show {
            view: View::Containers,
            filter: Some("evt.type=read or evt.type=write".into())
        }]
    );
    let buffer = render(&app, Some(&snap));
    assert_eq!(lines(&buffer)[1], " view: containers");
    assert_eq!(buffer[(0, 4)].bg, Color::Cyan, "db is selected again");
    // At the top, Backspace does nothing.
    assert_eq!(press(&mut app, &snap, &[KeyCode::Backspace]), []);
}

#[test]
fn a_row_without_a_clause_is_not_drilled_into() {
    let mut app = App::new(View::Containers, None);
    let mut snap = containers();
    for row in &mut snap.table.rows {
        row.narrow = None;
    }
    assert_eq!(press(&mut app, &snap, &[KeyCode::Enter]), []);
    assert_eq!(app.view(), View::Containers);
}

#[test]
fn drops_are_red_in_the_header() {
    let app = App::new(View::Containers, None);
    let mut snap = containers();
    let buffer = render(&app, Some(&snap));
    let x = lines(&buffer)[0].find("drops").unwrap() as u16;
    assert_ne!(buffer[(x, 0)].bg, Color::Red, "none dropped");

    snap.totals.drops = 1234;
    let buffer = render(&app, Some(&snap));
    let header = &lines(&buffer)[0];
    assert!(header.contains(" drops: 1234 "), "{header}");
    let x = header.find("drops").unwrap() as u16;
    assert_eq!(buffer[(x, 0)].bg, Color::Red);
}

#[test]
fn a_filter_typo_is_shown_with_its_caret_and_not_sent() {
    let mut app = App::new(View::Containers, None);
    let snap = containers();
    assert_eq!(press(&mut app, &snap, &[KeyCode::Char('/')]), []);
    typed(&mut app, "proc.nme=nginx");
    assert_eq!(app.on_key(key(KeyCode::Enter), Some(&snap)), [], "not sent");
    let shown = screen(&app, Some(&snap));
    let bottom = &shown[HEIGHT as usize - 4..];
    assert_eq!(bottom[0], "Filter: proc.nme=nginx");
    assert!(
        bottom[1].contains("filter error at column 1"),
        "{}",
        bottom[1]
    );
    assert_eq!(bottom[2], "  proc.nme=nginx");
    assert_eq!(bottom[3], "  ^^^^^^^^");
    assert_eq!(
        screen(&app, Some(&snap))[0],
        shown[0],
        "the filter is unchanged"
    );

    // Fixed, it is sent and shown in the header.
    press(
        &mut app,
        &snap,
        &[KeyCode::Home, KeyCode::Right, KeyCode::Right],
    );
    press(
        &mut app,
        &snap,
        &[KeyCode::Right, KeyCode::Right, KeyCode::Right],
    );
    press(&mut app, &snap, &[KeyCode::Right]);
    typed(&mut app, "a");
    let sent = app.on_key(key(KeyCode::Enter), Some(&snap));
    assert_eq!(
        sent,
        [Command::Show {
            view: View::Containers,
            filter: Some("proc.name=nginx".into())
        }]
    );
    assert_eq!(app.mode, Mode::Table);
    assert!(screen(&app, Some(&snap))[0].ends_with("filter: proc.name=nginx"));
}

#[test]
fn escape_leaves_the_filter_as_it_was() {
    let mut app = App::new(View::Containers, Some("proc.name=cat".into()));
    let snap = containers();
    press(
        &mut app,
        &snap,
        &[KeyCode::F(4), KeyCode::Backspace, KeyCode::Esc],
    );
    assert_eq!(app.filter(), Some("proc.name=cat"));
    assert_eq!(app.mode, Mode::Table);
}

#[test]
fn pause_is_sent_and_marked() {
    let mut app = App::new(View::Containers, None);
    let snap = containers();
    assert_eq!(
        press(&mut app, &snap, &[KeyCode::Char('p')]),
        [Command::Pause(true)]
    );
    assert!(screen(&app, Some(&snap))[0].ends_with("PAUSED"));
    assert_eq!(
        press(&mut app, &snap, &[KeyCode::Char('p')]),
        [Command::Pause(false)]
    );
    assert!(!screen(&app, Some(&snap))[0].contains("PAUSED"));
}

#[test]
fn the_picker_switches_view_keeping_the_narrowing() {
    let mut app = App::new(View::Containers, None);
    let snap = containers();
    press(&mut app, &snap, &[KeyCode::Enter]);
    assert_eq!(app.view(), View::Processes);
    assert_eq!(press(&mut app, &snap, &[KeyCode::F(2)]), []);
    assert!(screen(&app, None).iter().any(|l| l.contains("> procs")));
    // procs -> threads -> files
    let sent = press(
        &mut app,
        &snap,
        &[KeyCode::Down, KeyCode::Down, KeyCode::Enter],
    );
    assert_eq!(
        sent,
        [Command::Show {
            view: View::Files,
            filter: Some("container.id=3f2a9c1b7d4e".into())
        }]
    );
    assert_eq!(screen(&app, None)[1], " view: containers > web > files");
}

#[test]
fn the_events_view_shows_the_newest_lines() {
    let app = App::new(View::Events, None);
    let snap = Snapshot {
        table: Table {
            view: View::Events,
            columns: Vec::new(),
            rows: Vec::new(),
        },
        events: (1..=50)
            .map(|n| format!("{n} cat openat /etc/passwd"))
            .collect(),
        totals: Totals::default(),
    };
    let shown = screen(&app, Some(&snap));
    assert_eq!(shown[2], "42 cat openat /etc/passwd");
    assert_eq!(shown[HEIGHT as usize - 2], "50 cat openat /etc/passwd");
}

#[test]
fn quit_by_q_or_ctrl_c() {
    let mut app = App::new(View::Containers, None);
    app.on_key(key(KeyCode::Char('q')), None);
    assert!(app.quit);
    let mut app = App::new(View::Containers, None);
    app.on_key(key(KeyCode::Char('/')), None);
    app.on_key(
        KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
        None,
    );
    assert!(app.quit, "even while editing");
}

#[test]
fn a_long_path_keeps_its_file_name() {
    let app = App::new(View::Files, None);
    let long = format!("/var/lib/{}/access.log", "deep/".repeat(20));
    let snap = Snapshot {
        table: Table {
            view: View::Files,
            columns: vec![
                column("FILE", ColumnKind::Text),
                column("BYTES", ColumnKind::Bytes),
            ],
            rows: vec![Row {
                cells: vec![text(&long), Cell::Bytes(1)],
                narrow: Some(format!("fd.name={long:?}")),
            }],
        },
        events: Vec::new(),
        totals: Totals::default(),
    };
    let shown = screen(&app, Some(&snap));
    assert!(shown[3].starts_with("…ep/deep/"), "{}", shown[3]);
    assert!(shown[3].contains("deep//access.log "), "{}", shown[3]);
}
