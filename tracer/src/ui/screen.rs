//! The terminal while the live view is up: raw mode and the alternate
//! screen, given back on every way out (a return, a panic, a signal that
//! ends the run); stderr goes to a log file meanwhile, since the terminal
//! is the screen. And the UI thread's loop: keys in, a frame a few times a
//! second from the newest snapshot, never waiting on the capture loop.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::Terminal;

use crate::summary::link::{Command, UiEnd};
use crate::summary::table::Snapshot;
use crate::sys::fd::{redirect_stderr, SavedStderr};

use super::app::App;
use super::draw::draw;

/// How often the screen is drawn (csysdig refreshes about as often).
const FRAME: Duration = Duration::from_millis(250);

/// Whether raw mode is on, so restoring happens once, whoever gets there
/// first (the guard, the panic hook).
static RAW: AtomicBool = AtomicBool::new(false);
/// The real stderr while fd 2 points at the log.
static SAVED_STDERR: Mutex<Option<SavedStderr>> = Mutex::new(None);

/// The terminal is the live view's until this is dropped.
pub struct Screen(());

impl Screen {
    /// Sends stderr to `log` (or nowhere), then takes the terminal.
    pub fn enter(log: Option<&Path>) -> io::Result<Screen> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            // The terminal back first, so the panic's message is readable.
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        stderr_to(log.unwrap_or(Path::new("/dev/null")))?;
        let screen = Screen(());
        enable_raw_mode()?;
        RAW.store(true, Ordering::SeqCst);
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// The terminal and stderr as they were; safe to call more than once.
pub fn restore() {
    if RAW.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
    let saved = SAVED_STDERR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(saved) = saved {
        saved.restore();
    }
}

/// Points fd 2 at `path`, keeping the real stderr for [`restore`]: every
/// diagnostic of the run (the capture loop's, the runtimes' clients')
/// goes there instead of over the screen.
fn stderr_to(path: &Path) -> io::Result<()> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("--log {}: {e}", path.display())))?;
    let saved = redirect_stderr(OwnedFd::from(log))?;
    *SAVED_STDERR.lock().unwrap_or_else(PoisonError::into_inner) = Some(saved);
    Ok(())
}

/// The UI thread: until `q` (or `stop`, when the run ended first). Drops
/// `link` on return, which tells the aggregation the view is gone.
pub fn run(link: UiEnd, mut app: App, stop: &AtomicBool) -> io::Result<()> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    if !link.send(app.start()) {
        return Ok(());
    }
    let mut shown: Option<Snapshot> = None;
    let mut next_frame = Instant::now();
    while !app.quit && !stop.load(Ordering::Relaxed) {
        // Paused: the table on screen stays as it was.
        if !app.paused {
            if let Some(snapshot) = link.take() {
                shown = Some(snapshot);
            }
        }
        if Instant::now() >= next_frame {
            terminal.draw(|frame| draw(frame, &app, shown.as_ref()))?;
            next_frame = Instant::now() + FRAME;
        }
        if !event::poll(next_frame.saturating_duration_since(Instant::now()))? {
            continue;
        }
        match event::read()? {
            Event::Key(key) if key.kind == KeyEventKind::Press => {
                for command in app.on_key(key, shown.as_ref()) {
                    let asks_anew = matches!(command, Command::Show { .. });
                    if !link.send(command) {
                        return Ok(());
                    }
                    if asks_anew {
                        // The rows on screen, and any snapshot already
                        // published, answer the old question: Enter on
                        // one of them would drill into the wrong row.
                        shown = None;
                        let _ = link.take();
                    }
                }
                // What the key changed is seen at once.
                next_frame = Instant::now();
            }
            Event::Resize(..) => next_frame = Instant::now(),
            _ => {}
        }
    }
    Ok(())
}
