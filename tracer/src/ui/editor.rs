//! The one-line filter editor: the text being typed, where the cursor is,
//! and why the last Enter was refused (the filter's errors with their
//! carets, shown under the line instead of being sent).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::filter::Filter;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Editor {
    pub text: String,
    /// In characters, not bytes.
    pub cursor: usize,
    /// The refused filter's errors, as `Filter::parse` prints them.
    pub error: Option<String>,
}

/// What a key did to the editor.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    Editing,
    Cancelled,
    /// A filter that parses and checks, or `None` for "everything".
    Accepted(Option<String>),
}

impl Editor {
    #[must_use]
    pub fn with(text: &str) -> Editor {
        Editor {
            text: text.to_owned(),
            cursor: text.chars().count(),
            error: None,
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Edit {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return Edit::Cancelled,
            KeyCode::Enter => return self.accept(),
            KeyCode::Char('u') if ctrl => {
                self.text.clear();
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.len(),
            KeyCode::Char(c) if !ctrl => {
                let at = self.byte(self.cursor);
                self.text.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.text.remove(self.byte(self.cursor));
            }
            KeyCode::Delete if self.cursor < self.len() => {
                self.text.remove(self.byte(self.cursor));
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.len()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.len(),
            _ => return Edit::Editing,
        }
        // The error was about the text as it was.
        self.error = None;
        Edit::Editing
    }

    /// Checked here, so a typo is shown where it was typed and the view
    /// keeps showing what it showed.
    fn accept(&mut self) -> Edit {
        let text = self.text.trim();
        if text.is_empty() {
            return Edit::Accepted(None);
        }
        match Filter::parse(text) {
            Ok(_) => Edit::Accepted(Some(text.to_owned())),
            Err(errors) => {
                self.error = Some(errors.to_string());
                Edit::Editing
            }
        }
    }

    fn len(&self) -> usize {
        self.text.chars().count()
    }

    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(editor: &mut Editor, text: &str) {
        for c in text.chars() {
            assert_eq!(
                editor.on_key(KeyEvent::from(KeyCode::Char(c))),
                Edit::Editing
            );
        }
    }

    #[test]
    fn typing_and_moving() {
        let mut e = Editor::default();
        typed(&mut e, "proc.name=ct");
        e.on_key(KeyCode::Left.into());
        typed(&mut e, "a");
        assert_eq!(e.text, "proc.name=cat");
        e.on_key(KeyCode::Home.into());
        e.on_key(KeyCode::Delete.into());
        assert_eq!(e.text, "roc.name=cat");
        e.on_key(KeyCode::End.into());
        e.on_key(KeyCode::Backspace.into());
        assert_eq!(e.text, "roc.name=ca");
    }

    #[test]
    fn a_typo_is_refused_with_its_caret_until_edited() {
        let mut e = Editor::with("proc.nme=cat");
        assert_eq!(e.on_key(KeyCode::Enter.into()), Edit::Editing);
        let error = e.error.clone().expect("refused");
        assert!(error.contains("proc.nme"), "{error}");
        assert!(
            error.lines().last().unwrap().trim() == "^^^^^^^^",
            "{error}"
        );
        e.on_key(KeyCode::Left.into());
        assert_eq!(e.error, None);
    }

    #[test]
    fn enter_accepts_a_good_filter_or_nothing() {
        let mut e = Editor::with(" proc.name=cat ");
        assert_eq!(
            e.on_key(KeyCode::Enter.into()),
            Edit::Accepted(Some("proc.name=cat".into()))
        );
        assert_eq!(
            Editor::default().on_key(KeyCode::Enter.into()),
            Edit::Accepted(None)
        );
        assert_eq!(
            Editor::default().on_key(KeyCode::Esc.into()),
            Edit::Cancelled
        );
    }
}
