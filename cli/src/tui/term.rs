//! Taking over the terminal and giving it back: raw mode and the alternate screen, restored
//! when the [`Screen`] is dropped and by the panic hook, so a crash or a lost courier never
//! leaves the user's terminal unusable.

use std::io::{stdout, Stdout};
use std::sync::Once;

use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The terminal, taken over for the chat screen.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

static HOOK: Once = Once::new();

/// Gives the terminal back: leaves raw mode and the alternate screen, shows the cursor.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl Screen {
    /// Takes the terminal over.
    pub fn enter() -> anyhow::Result<Self> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode().map_err(|e| anyhow::anyhow!("the terminal cannot be used: {e}"))?;
        if let Err(e) = execute!(stdout(), EnterAlternateScreen) {
            restore();
            anyhow::bail!("the terminal cannot be used: {e}");
        }
        match Terminal::new(CrosstermBackend::new(stdout())) {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                restore();
                anyhow::bail!("the terminal cannot be used: {e}")
            }
        }
    }

    /// Draws one frame.
    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame)) -> anyhow::Result<()> {
        self.terminal.draw(f)?;
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}
